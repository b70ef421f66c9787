"""CORnet's top-1 figure: train and validation per run, the best validation epoch marked."""

import pandas as pd
from helpers import texts

from visionflow.experiments.cornet.figures import plot_top1


def history(val_top1, train_top1):
    rows = [{"epoch": 0, "split": "val", "loss": 2.0, "top1": val_top1[0], "top5": 0.5}]
    for epoch, (val, train) in enumerate(zip(val_top1[1:], train_top1, strict=True), 1):
        rows.append({"epoch": epoch, "split": "train", "loss": 1.0, "top1": train, "top5": 0.9})
        rows.append({"epoch": epoch, "split": "val", "loss": 1.5, "top1": val, "top5": 0.8})
    return pd.DataFrame(rows)


def test_top1_draws_train_and_val_and_marks_the_best_val_epoch(tmp_path):
    runs = {
        "outer_times=1": history([0.1, 0.3, 0.5, 0.5, 0.4], [0.2, 0.4, 0.6, 0.7]),
        "outer_times=2": history([0.9, 0.2, 0.35, 0.3], [0.1, 0.3, 0.5]),
    }
    fig = plot_top1(runs, tmp_path / "top1.png")
    [ax] = fig.axes
    curves = [(list(line.get_xdata()), list(line.get_ydata()), line.get_linestyle())
              for line in ax.get_lines()]  # fmt: skip
    assert curves[0] == ([1, 2, 3, 4], [20.0, 40.0, 60.0, 70.0], "-")
    assert curves[1][0] == [0, 1, 2, 3, 4] and curves[1][2] == "--"
    assert curves[1][1] == [10.0, 30.0, 50.0, 50.0, 40.0]
    # earliest maximum after training; the untrained epoch 0 is never "best"
    marks = [list(map(tuple, c.get_offsets())) for c in ax.collections]
    assert marks == [[(2.0, 50.0)], [(2.0, 35.0)]]
    found = texts(fig)
    assert "best val 50.0% @ epoch 2" in found and "best val 35.0% @ epoch 2" in found
    assert {"train", "validation", "outer_times=1", "top-1 (%)", "epoch"} <= set(found)
    assert (tmp_path / "top1.png").stat().st_size > 0
