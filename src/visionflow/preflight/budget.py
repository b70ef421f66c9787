"""What the `all` target will cost: its jobs and GPU jobs from Snakemake's own dry run, and
the training samples each study reads, counted from its raw root."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionflow.io import BadInputError

PREPARED = "data/prepared"  # where the workflow writes every store
JOB = re.compile(r"^(?:local)?rule (\w+):$")
ERROR = re.compile(r"Error|Exception|does not exist")


def _stand_in(config: dict[str, Any], key: list[Any], folder: Path) -> None:
    """Point config `key` at an empty stand-in under `folder`: a data root (holding the WLASL
    split files the runs read) or a file."""
    *parents, name = key
    section = config
    for part in parents:
        section = section[part]
    path = folder / ".".join(map(str, key))
    if name != "root":
        path.touch()
    else:
        path.mkdir()
        pattern = config["wlasl"]["split_file"]
        for run in config["slr"]["runs"] if parents == ["wlasl"] and pattern else []:
            split_file = path / pattern.replace("{n}", run["split"].removeprefix("asl"))
            split_file.parent.mkdir(parents=True, exist_ok=True)
            split_file.touch()
    section[name] = str(path)


def _failure(output: str) -> str:
    """Snakemake's error in one line: its first error line, and the first file it names."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    why = next((line for line in lines if ERROR.search(line)), lines[-1] if lines else "")
    if "affected files:" in lines[:-1]:
        why += f" {lines[lines.index('affected files:') + 1]}"
    return why


def dry_run(config: Mapping[str, Any], missing: list[list[Any]]) -> tuple[int, int] | str:
    """(jobs, GPU jobs) of `snakemake -n all` on the config (GPU jobs: jobs whose rule
    declares the `gpu` resource), or Snakemake's error in one line without the scratch file's
    name (the start-up check names the key). The `missing` roots and files are empty
    stand-ins: the DAG follows the config, not the data."""
    with tempfile.TemporaryDirectory() as scratch:
        stood_in = copy.deepcopy(dict(config))
        for key in missing:
            _stand_in(stood_in, key, Path(scratch))
        resolved = Path(scratch) / "config.json"
        resolved.write_text(json.dumps(stood_in))
        command = [sys.executable, "-m", "snakemake", "-n", "all", "--nolock",
                   "--configfile", str(resolved)]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return _failure(result.stdout + result.stderr).removeprefix(f"{resolved}: ")
    jobs = gpu = 0
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", result.stdout):
        if JOB.match(block.split("\n", 1)[0]):
            jobs += 1
            gpu += bool(re.search(r"^\s+resources: .*\bgpu=[1-9]", block, re.MULTILINE))
    return jobs, gpu


def training_samples(config: Mapping[str, Any], study: str, split: str = "") -> int | None:
    """Training samples of a study (for SLR, of `split`) counted cheaply from its raw root, or
    None when the root is absent (a store in data/prepared may come from another root): files
    of MiniImageNet's train/ class folders; Jacquard's train views less `grasp.val_fraction`;
    the WLASL index's or split file's training instances."""
    from visionflow.data.conversion import Problem

    skipped: list[Problem] = []
    try:
        if study == "cornet":
            train = Path(config["miniimagenet"]["root"]) / "train"
            return sum(len(os.listdir(folder)) for folder in train.iterdir() if folder.is_dir())
        if study == "grasp":
            from visionflow.data.jacquard.raw import scan

            jacquard = config["jacquard"]
            rows = scan(Path(jacquard["root"]), jacquard["classes"], "skip", skipped, ["train"])
            return round(len(rows) * (1 - config["grasp"]["val_fraction"]))
        from visionflow.preflight.samples import wlasl_items

        runs = [run for run in config["slr"]["runs"] if run["split"] == split]
        items = wlasl_items({**config, "slr": {"runs": runs}, "on_bad_sample": "skip"}, skipped)
        return int((items["split"] == "train").sum())
    except (OSError, BadInputError):  # the data check reports why the root cannot be read
        return None
