"""Trials per hour of the detection search on the demo data: one worker vs two in parallel.

Both runs use the same demo CVAT export, split and search settings and a fresh study each:

  1 worker    one `visionflow detection search` process with all the cores;
  2 workers   two such processes on the same study journal, the cores shared between them
              (what `detection.hpo.jobs: 2` runs, one Snakemake job per worker).

Each run stops when its study holds `--trials` trials. Pruning makes trials unequal (a pruned
one stops after fewer epochs, and which are pruned depends on the order results arrive), so
the report gives trained epochs per hour as the throughput figure, trials per hour beside it,
and the ratios (2 workers / 1 worker). On a machine with a GPU per worker the ratio is what a
second GPU buys; on CPU cores it measures how well two small trainings share them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from visionflow.data.cvat.splits import every_nth, frames, write_split
from visionflow.data.cvat.table import prepare
from visionflow.demo.cvat import generate
from visionflow.engine.hpo import open_study, trials_table
from visionflow.experiments.detection.training import study_name
from visionflow.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "hpo_parallel.json"
LABELS = ["circle", "square", "triangle"]


def settings(trials: int, epochs: int) -> dict:
    """The demo's search settings, with the given budget."""
    return {
        "variant": "mobilenet_v3_small", "backbone": "mobilenet_v3_small", "weights": None,
        "image_size": 128, "trainable_layers": 5, "batch_size": 4, "val_batch_size": 8,
        "max_plateau_count": None, "workers": 0, "devices": "auto", "nodes": 1,
        "strategy": "auto", "seed": 0,
        "hpo": {"search_epochs": epochs, "num_initial_data_points": 2, "max_num_trials": trials,
                "parameters": {"lr": [3e-3, 3e-2], "weight_decay": [1e-5, 1e-3],
                               "momentum": [0.8, 0.95], "step_size": [8, 15],
                               "gamma": [0.1, 0.5]}},
    }  # fmt: skip


def search(data: Path, hpo_dir: Path, config: dict, workers: int, cores: int) -> float:
    """Seconds until `workers` concurrent search processes have filled the study."""
    threads = max(1, cores // workers)
    base = [sys.executable, "-m", "visionflow.cli", "--threads", str(threads), "detection",
            "search", "--data", str(data / "prepared"), "--root", str(data / "raw"),
            "--hpo-dir", str(hpo_dir), "--settings", json.dumps(config),
            "--jobs", str(workers)]  # fmt: skip
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [*base, "--job", str(w), "--out", str(hpo_dir / f"worker{w}.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for w in range(workers)
    ]
    if any(process.wait() for process in processes):
        raise RuntimeError(f"a search worker failed in {hpo_dir}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per study")
    parser.add_argument("--epochs", type=int, default=2, help="search_epochs per trial")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-hpo-") as scratch:
        data = Path(scratch)
        generate(data / "raw", tasks=3, frames_per_task=40, size=128, seed=0)
        table = prepare(data / "raw", data / "prepared" / "annotations", [], LABELS)
        write_split(data / "prepared" / "split", every_nth(frames(table), 5))
        config = settings(args.trials, args.epochs)
        seconds = {w: search(data, data / f"hpo{w}", config, w, args.cores) for w in (1, 2)}
        trials = {w: trial_states(data / f"hpo{w}") for w in (1, 2)}
        epochs = {w: trained_epochs(data / f"hpo{w}", config) for w in (1, 2)}
    trial_rate = {w: 3600 * len(trials[w]) / seconds[w] for w in (1, 2)}
    epoch_rate = {w: 3600 * epochs[w] / seconds[w] for w in (1, 2)}
    report = {
        "trials": {w: trials[w].value_counts().to_dict() for w in (1, 2)},
        "epochs": epochs, "search_epochs": args.epochs, "cores": args.cores,
        "seconds": {w: round(s, 1) for w, s in seconds.items()},
        "trials_per_hour": {w: round(r, 1) for w, r in trial_rate.items()},
        "epochs_per_hour": {w: round(r, 1) for w, r in epoch_rate.items()},
        "ratio_2_vs_1": {"trials": round(trial_rate[2] / trial_rate[1], 2),
                         "epochs": round(epoch_rate[2] / epoch_rate[1], 2)},
    }  # fmt: skip
    write_json(args.out, report)
    for w in (1, 2):
        print(f"{w} worker(s): {report['trials'][w]} in {seconds[w]:.0f} s, {epochs[w]} epochs:"
              f" {trial_rate[w]:.0f} trials/h, {epoch_rate[w]:.0f} epochs/h")  # fmt: skip
    ratio = report["ratio_2_vs_1"]
    print(f"ratio 2 / 1 workers: {ratio['epochs']:.2f} in epochs/h, {ratio['trials']:.2f} in"
          f" trials/h ({args.cores} cores)")  # fmt: skip


def trial_states(hpo_dir: Path) -> pd.Series:
    """The state of every trial the workers of one study report."""
    reports = [json.loads(p.read_text())["trials"] for p in hpo_dir.glob("worker*.json")]
    return pd.Series([trial["state"] for report in reports for trial in report])


def trained_epochs(hpo_dir: Path, config: dict) -> int:
    """Training epochs run by every trial of one study (the epochs each reported)."""
    name = study_name(config)
    study = open_study(hpo_dir / "study.journal", name, 1, 0)
    return int(trials_table(study)["epochs"].sum())


if __name__ == "__main__":
    main()
