"""Snakemake dry-run time of the whole DAG against its number of jobs.

In a scratch copy of workflow/, config/ and envs/ (nothing in the repository is touched),
`snakemake -n all` is timed with the demo config whose saliency grid is widened to 1, 10,
40 and 160 grid points (5 jobs each), and against a baseline in the same run: the dry run of
one small target (the demo MiniImageNet folder, 1 job), which is start-up, config validation
and parsing alone. The report gives seconds and jobs per DAG, the marginal milliseconds per
job (slope between the smallest and the largest DAG) and the full DAG's time over the baseline.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from visionflow.io import write_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "dag_dry_run.json"
POINTS = (1, 10, 40, 160)


def dry_run(workdir: Path, target: str) -> tuple[float, int]:
    """Seconds of `snakemake -n target` and the jobs it plans."""
    started = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", target, "--cores", "1"],
        cwd=workdir, capture_output=True, text=True, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    total = re.search(r"^total\s+(\d+)", result.stdout, re.MULTILINE)
    return seconds, int(total.group(1)) if total else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-dag-"))
    try:
        for name in ("workflow", "config", "envs"):
            shutil.copytree(REPO / name, workdir / name)
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        baseline = [dry_run(workdir, "data/raw/miniimagenet")[0] for _ in range(args.repeats)]
        dags = {}
        for points in POINTS:
            lrs = [1e-3 * (1 + i) for i in range(points)]
            config["saliency"]["grid"] = [["train/lr", lrs]]
            (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
            runs = [dry_run(workdir, "all") for _ in range(args.repeats)]
            dags[points] = {"jobs": runs[0][1], "s": statistics.median(s for s, _ in runs)}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    small, large = dags[POINTS[0]], dags[POINTS[-1]]
    per_job = (large["s"] - small["s"]) / (large["jobs"] - small["jobs"])
    report = {
        "baseline_s": statistics.median(baseline),
        "dags": dags,
        "ms_per_job": round(1000 * per_job, 2),
        "demo_dag_over_baseline": round(small["s"] / statistics.median(baseline), 2),
    }
    write_json(args.out, report)
    print(f"baseline (1-job target): {report['baseline_s']:.2f} s")
    for points, dag in dags.items():
        print(f"all, {points:>3} saliency grid points: {dag['jobs']:>4} jobs, {dag['s']:.2f} s")
    print(f"{report['ms_per_job']:.1f} ms per extra job; demo DAG / baseline ="
          f" {report['demo_dag_over_baseline']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
