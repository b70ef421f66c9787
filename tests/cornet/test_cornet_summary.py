"""The CORnet study's table: best and final validation numbers and the test scores per run."""

import json
import math

import pandas as pd
import pytest
import yaml

from visionflow.experiments.cornet.evaluation import summarize


def run_dir(root, outer_times, val_top1, val_top5, test=None):
    """A trained run's files: config.yaml, metrics.csv (epoch 0 val only), eval/test.json."""
    folder = root / f"outer{outer_times}"
    (folder / "eval").mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"outer_times": outer_times}))
    rows = []
    for epoch, (top1, top5) in enumerate(zip(val_top1, val_top5, strict=True)):
        if epoch:
            rows.append({"epoch": epoch, "split": "train", "loss": 1.0, "top1": 0.0, "top5": 0.0})
        rows.append({"epoch": epoch, "split": "val", "loss": 2.0, "top1": top1, "top5": top5})
    pd.DataFrame(rows).assign(lr=0.1, duration=1.0).to_csv(folder / "metrics.csv", index=False)
    if test:
        (folder / "eval" / "test.json").write_text(json.dumps(test))
    return folder


def test_summary_by_hand(tmp_path):
    first = run_dir(tmp_path, 1, [0.01, 0.30, 0.50, 0.45], [0.05, 0.60, 0.80, 0.82],
                    {"top1": 0.44, "top5": 0.81, "loss": 1.9})  # fmt: skip
    second = run_dir(tmp_path, 2, [0.01, 0.40, 0.40, 0.55], [0.05, 0.70, 0.75, 0.85])
    summary = summarize([first, second]).set_index("run")
    assert list(summary.index) == ["outer_times=1", "outer_times=2"]
    row = summary.loc["outer_times=1"]
    assert (row["best_epoch"], row["best_val_top1"], row["best_val_top5"]) == (2, 0.50, 0.80)
    assert (row["final_epoch"], row["final_val_top1"], row["final_val_top5"]) == (3, 0.45, 0.82)
    assert (row["test_top1"], row["test_top5"], row["test_loss"]) == (0.44, 0.81, 1.9)
    row = summary.loc["outer_times=2"]
    assert (row["best_epoch"], row["best_val_top1"], row["best_val_top5"]) == (3, 0.55, 0.85)
    assert all(math.isnan(row[c]) for c in ("test_top1", "test_top5", "test_loss"))


def test_ties_pick_the_earliest_epoch(tmp_path):
    tied = run_dir(tmp_path, 2, [0.01, 0.40, 0.40], [0.05, 0.70, 0.75])
    row = summarize([tied]).iloc[0]
    assert (row["best_epoch"], row["best_val_top5"]) == (1, 0.70)


def test_a_run_without_val_rows_is_named(tmp_path):
    empty = run_dir(tmp_path, 3, [], [])
    with pytest.raises(ValueError, match="outer_times=3"):
        summarize([empty])
