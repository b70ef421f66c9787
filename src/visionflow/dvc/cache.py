"""DVC's cache type must be `copy`, or recording outputs would move their modification times.

With `copy` DVC copies a workspace file into its cache and leaves the file, its inode and
its modification time alone, so `dvc repro` and `dvc commit` after a finished Snakemake run
change nothing Snakemake looks at. DVC's default `reflink,copy` copies the cache object
back over the file where reflinks are unsupported (new mtime: downstream jobs re-run), and
`hardlink`/`symlink` make `dvc repro` replace a stage's persist outputs with fresh copies
before its command runs (Snakemake then skips jobs whose inputs changed).
"""

from __future__ import annotations

from visionflow.dvc.commands import CommandError, run

CACHE_TYPE = "copy"
LEVEL_OPTIONS = {".dvc/config": "", ".dvc/config.local": " --local"}


def require_copy_cache() -> None:
    """CommandError unless `cache.type`, all DVC config levels merged, is exactly `copy`."""
    found = run("dvc", ["config", "--show-origin", "cache.type"]).strip()
    origin, _, value = found.rpartition("\t")
    if value == CACHE_TYPE:
        return
    if not value:
        raise CommandError(
            "DVC's cache.type is not set, and its default (reflink,copy) rewrites recorded"
            f" outputs, so Snakemake re-runs them; run `dvc config cache.type {CACHE_TYPE}`"
        )
    fix = (
        f"run `dvc config{LEVEL_OPTIONS[origin]} cache.type {CACHE_TYPE}`"
        if origin in LEVEL_OPTIONS
        else f"set `type = {CACHE_TYPE}` under [cache] there"
    )
    raise CommandError(
        f"{origin}: DVC's cache.type is {value!r}, not {CACHE_TYPE!r}, so recording outputs"
        " would change their modification times or hand Snakemake stale copies; " + fix
    )
