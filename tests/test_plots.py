import math

import matplotlib.image as mpimg
import pandas as pd
import pytest

from visionflow.plots import plot_loss, plot_top1, summarize_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def metrics(val_top1, val_top5, train_loss, val_loss):
    """Synthetic metrics.csv frame: epoch 0 has only a val row, later epochs have both."""
    rows = []
    for epoch, (t1, t5, vl) in enumerate(zip(val_top1, val_top5, val_loss, strict=True)):
        if epoch > 0:
            rows.append(("train", epoch, train_loss[epoch - 1], 0.0, 0.0))
        rows.append(("val", epoch, vl, t1, t5))
    frame = pd.DataFrame(rows, columns=["split", "epoch", "loss", "top1", "top5"])
    frame["lr"] = 0.1
    frame["duration"] = 1.0
    return frame[["epoch", "split", "loss", "top1", "top5", "lr", "duration"]]


@pytest.fixture
def runs():
    return {
        "outer_times=1": metrics(
            val_top1=[0.01, 0.30, 0.50, 0.45],
            val_top5=[0.05, 0.60, 0.80, 0.82],
            train_loss=[2.0, 1.5, 1.2],
            val_loss=[4.6, 2.1, 1.7, 1.8],
        ),
        "outer_times=2": metrics(
            val_top1=[0.01, 0.40, 0.40, 0.55],
            val_top5=[0.05, 0.70, 0.75, 0.85],
            train_loss=[1.9, 1.3, 1.0],
            val_loss=[4.6, 1.9, 1.8, 1.5],
        ),
    }


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert path.stat().st_size > 5_000
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert 400 < width < 3000 and 300 < height < 3000
    assert image.std() > 0  # not a blank canvas


@pytest.mark.parametrize("plot", [plot_top1, plot_loss])
def test_plot_writes_png_and_no_temp_files(tmp_path, runs, plot):
    out = tmp_path / "fig" / "figure.png"
    plot(runs, out)
    assert_png(out)
    assert [p.name for p in out.parent.iterdir()] == ["figure.png"]


def test_plot_overwrites_existing_file(tmp_path, runs):
    out = tmp_path / "top1.png"
    out.write_bytes(b"old")
    plot_top1(runs, out, title="custom")
    assert_png(out)


@pytest.mark.parametrize("plot", [plot_top1, plot_loss])
def test_plot_empty_val_history_names_run(tmp_path, runs, plot):
    runs["broken"] = runs["outer_times=1"].query("split == 'train'")
    out = tmp_path / "figure.png"
    with pytest.raises(ValueError, match="'broken'"):
        plot(runs, out)
    assert list(tmp_path.iterdir()) == []


def test_summarize_runs_hand_computed(runs):
    tests = {"outer_times=1": {"top1": 0.44, "top5": 0.81, "loss": 1.9}}
    summary = summarize_runs(runs, tests).set_index("run")
    assert list(summary.index) == ["outer_times=1", "outer_times=2"]

    first = summary.loc["outer_times=1"]
    assert first["best_epoch"] == 2
    assert first["best_val_top1"] == 0.50
    assert first["best_val_top5"] == 0.80
    assert first["final_epoch"] == 3
    assert first["final_val_top1"] == 0.45
    assert first["final_val_top5"] == 0.82
    assert (first["test_top1"], first["test_top5"], first["test_loss"]) == (0.44, 0.81, 1.9)

    second = summary.loc["outer_times=2"]
    assert second["best_epoch"] == 3
    assert second["best_val_top1"] == 0.55
    assert second["best_val_top5"] == 0.85
    assert second["final_epoch"] == 3
    assert all(math.isnan(second[c]) for c in ("test_top1", "test_top5", "test_loss"))


def test_summarize_runs_ties_pick_earliest_epoch(runs):
    frame = runs["outer_times=2"].query("epoch < 3")  # val top1 0.40 at epochs 1 and 2
    row = summarize_runs({"r": frame}, {}).iloc[0]
    assert (row["best_epoch"], row["best_val_top5"]) == (1, 0.70)


def test_summarize_runs_empty_val_history_names_run(runs):
    runs["empty"] = runs["outer_times=1"].iloc[0:0]
    with pytest.raises(ValueError, match="'empty'"):
        summarize_runs(runs, {})
