"""After `dvc pull` or `dvc checkout`: make Snakemake agree that restored outputs are current.

Recording outputs (`dvc repro`, `dvc commit`) needs nothing here once DVC's cache type is
`copy` (cache.py). Restoring them does: DVC writes the files in its own order, with
modification times unrelated to the DAG, and Snakemake's metadata still holds the params
of the last run in this folder, not those of the checked-out commit. Once `dvc status`
confirms every stage matches dvc.lock (same code, params, inputs and outputs as when they
were made), `snakemake --touch` re-stamps the outputs in DAG order and records fresh
metadata for the current config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from visionflow.dvc.cache import require_copy_cache
from visionflow.dvc.commands import CommandError, run
from visionflow.dvc.stages import DEFAULT_CONFIG, DVC_YAML


def stage_outputs(dvc_yaml: dict[str, Any]) -> list[str]:
    """Every output path of every stage."""
    return [next(iter(out)) for stage in dvc_yaml["stages"].values() for out in stage["outs"]]


def params_file(dvc_yaml: dict[str, Any]) -> str:
    """The config file the stages were generated from (their params file)."""
    files = {next(iter(p)) for stage in dvc_yaml["stages"].values() for p in stage["params"]}
    return files.pop() if len(files) == 1 else DEFAULT_CONFIG


def require_clean_status() -> None:
    """Raise unless every stage and .dvc file matches dvc.lock and the workspace."""
    changes = json.loads(run("dvc", ["status", "--json"]) or "{}")
    if changes:
        listing = "\n".join(f"  {name}: {json.dumps(what)}" for name, what in changes.items())
        raise CommandError(
            "dvc status is not clean, so the pulled outputs do not match this checkout;"
            f" nothing was touched:\n{listing}\n"
            "Run `dvc repro` (or snakemake, then `dvc commit`) to bring them up to date."
        )


def restamp(dvc_yaml_path: Path = DVC_YAML) -> int:
    """Touch every stage output in DAG order once DVC vouches for them; the count touched."""
    require_clean_status()
    dvc_yaml = yaml.safe_load(dvc_yaml_path.read_text())
    outputs = stage_outputs(dvc_yaml)
    args = ["--touch", "--forceall", "--cores", "1", "--quiet", "all"]
    run("snakemake", [*args, "--configfile", params_file(dvc_yaml), "--", *outputs])
    return len(outputs)


def sync() -> int:
    """`restamp` the outputs of this checkout, with DVC's cache type checked first."""
    require_copy_cache()
    return restamp()


def pull(remote: str | None = None, jobs: int | None = None) -> int:
    """`dvc pull`, then `restamp`, with DVC's cache type checked first."""
    require_copy_cache()
    args = (
        ["pull"]
        + (["--remote", remote] if remote else [])
        + (["--jobs", str(jobs)] if jobs else [])
    )
    run("dvc", args, capture=False)
    return restamp()
