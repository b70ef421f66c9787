"""bench/RESULTS.md from the JSON every benchmark left in bench/results/, with the machine.

Each row is one figure as a ratio against the baseline measured in the same run, with the
target where one is set. `make bench` runs every benchmark and then this.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import date
from pathlib import Path

import torch

from visionflow.io import write_text

BENCH = Path(__file__).resolve().parent
RESULTS, OUT = BENCH / "results", BENCH / "RESULTS.md"

# name -> (what is compared, ratio from the JSON, target or None, how to read it)
ROWS = {
    "data_loading": ("MiniImageNet batches: packed store vs decoding JPEGs (ImageFolder)",
                     lambda d: d["ratio_store_over_imagefolder"], lambda d: d["target_ratio"],
                     "samples/s"),
    "jacquard_maps": ("Jacquard grasp maps: vectorised vs the per-pixel reference",
                      lambda d: d["ratio"], lambda d: d["target"], "samples/s"),
    "video_decoding": ("Video frames: decord vs PyAV", lambda d: d["ratio_decord_over_pyav"],
                       lambda d: d["target_ratio"], "frames/s"),
    "slr_loader": ("SLR clips: prepared store vs decoding on the fly",
                   lambda d: d["ratio_store_over_on_the_fly"], lambda d: d["target_ratio"],
                   "clips/s"),
    "annotation_table": ("CVAT annotation table (100k boxes): build_table vs a minidom reader",
                         lambda d: d["ratio"], lambda d: None, "boxes/s"),
    "hpo_parallel": ("Detection HPO on the demo: 2 worker jobs vs 1",
                     lambda d: d["ratio_2_vs_1"]["epochs"], lambda d: None, "trained epochs/h"),
    "dag_dry_run": ("`snakemake -n all` (demo DAG) vs a 1-job dry run",
                    lambda d: d["demo_dag_over_baseline"], lambda d: None, "seconds"),
    "demo_wall_time": ("`make demo` target end to end vs its interpreter/import share",
                       lambda d: d["wall_s"] / d["baseline_s"], lambda d: None, "seconds"),
}  # fmt: skip


def machine() -> str:
    """One line on the machine the numbers come from."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {gpu};"
            f" Python {platform.python_version()}, torch {torch.__version__}")  # fmt: skip


def table() -> list[str]:
    """The markdown rows of every benchmark that has results."""
    lines = ["| benchmark | compared | unit | ratio | target | met |", "|---|---|---|---|---|---|"]
    for name, (what, ratio, target, unit) in ROWS.items():
        path = RESULTS / f"{name}.json"
        if not path.is_file():
            lines.append(f"| `{name}` | {what} | {unit} | not run | | |")
            continue
        data = json.loads(path.read_text())
        value, goal = ratio(data), target(data)
        met = "" if goal is None else ("yes" if value >= goal else "**no**")
        goal_text = "" if goal is None else f">= {goal:g}"
        lines.append(f"| `{name}` | {what} | {unit} | {value:.2f} | {goal_text} | {met} |")
    return lines


def main() -> None:
    text = "\n".join([
        "# Benchmark results",
        "",
        f"Written by `bench/report.py` on {date.today()}; machine: {machine()}.",
        "Each ratio divides the measured figure by its baseline from the same run (higher is",
        "better, except for the two time ratios, where it is the cost over the baseline).",
        "",
        *table(),
        "",
    ])  # fmt: skip
    write_text(OUT, text)
    print(text)


if __name__ == "__main__":
    main()
