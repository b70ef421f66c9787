"""DVC cache types on one 1 GiB output: disk, seconds, and whether the file keeps its mtime.

In a scratch folder (on the filesystem of --dir), one DVC project per cache type holds a
stage with a single persist output of random bytes. Timed: `dvc commit` (recording it),
`dvc repro --force` (re-running the stage with the output in place), `dvc checkout` of the
deleted output, and the `dvc status` after a touch (what follows `visionflow dvc sync`: DVC
re-hashes). Disk is the project folder with its cache, hard links counted once. Seconds are
also given as ratios over DVC's default `reflink,copy` measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from visionflow.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "dvc_cache.json"
DVC = [sys.executable, "-m", "dvc"]
DEFAULT = "reflink,copy"
CACHE_TYPES = ("copy", DEFAULT, "hardlink", "symlink")
STAGE = "stages:\n  make:\n    cmd: 'true'\n    outs:\n    - big.bin: {persist: true}\n"
TIMED = ("commit", "repro", "checkout", "status_after_touch")


def seconds(cwd: Path, *command: str) -> float:
    """Wall seconds of one command in `cwd` (which must succeed)."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def disk_mib(path: Path) -> float:
    """MiB under `path`, each hard-linked file counted once (what `du` reports)."""
    out = subprocess.run(["du", "-sk", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0]) / 1024


def measure(root: Path, source: Path, cache_type: str) -> dict:
    """Seconds of each timed step, disk after commit, and whether commit and repro kept the
    output's mtime, for one cache type."""
    repo = root / cache_type.replace(",", "_")
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    seconds(repo, *DVC, "init", "-q")
    if cache_type != DEFAULT:
        seconds(repo, *DVC, "config", "cache.type", cache_type)
    (repo / "dvc.yaml").write_text(STAGE)
    out = repo / "big.bin"
    shutil.copyfile(source, out)
    mtime = out.stat().st_mtime_ns
    result = {"commit": seconds(repo, *DVC, "commit", "--force", "--quiet")}
    result["mtime_kept_by_commit"] = out.lstat().st_mtime_ns == mtime
    result["disk_mib"] = disk_mib(repo)
    result["repro"] = seconds(repo, *DVC, "repro", "--force", "--quiet")
    result["mtime_kept_by_repro"] = out.lstat().st_mtime_ns == mtime
    out.unlink()
    result["checkout"] = seconds(repo, *DVC, "checkout", "--quiet")
    os.utime(out, follow_symlinks=False)
    result["status_after_touch"] = seconds(repo, *DVC, "status", "--quiet")
    shutil.rmtree(repo)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="scratch parent (default: TMPDIR)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-dvc-", dir=args.dir))
    try:
        source = root / "source.bin"
        with source.open("wb") as handle:
            for _ in range(64):
                handle.write(os.urandom(16 << 20))
        results = {cache_type: measure(root, source, cache_type) for cache_type in CACHE_TYPES}
    finally:
        shutil.rmtree(root)
    for result in results.values():
        result["over_default"] = {step: result[step] / results[DEFAULT][step] for step in TIMED}
    write_json(args.out, results)
    print(f"{'cache type':14} {'disk MiB':>9} {'mtime kept commit/repro':>24} " + " ".join(TIMED))
    for cache_type, result in results.items():
        timed = " ".join(f"{result[s]:.2f}s ({result['over_default'][s]:.2f}x)" for s in TIMED)
        kept = "/".join("yes" if result[f"mtime_kept_by_{s}"] else "no" for s in TIMED[:2])
        print(f"{cache_type:14} {result['disk_mib']:9.0f} {kept:>24} {timed}")


if __name__ == "__main__":
    main()
