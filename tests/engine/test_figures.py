"""The shared figures: what they draw, how they save, what they refuse."""

import matplotlib.image as mpimg
import pandas as pd
import pytest
from helpers import texts

from visionflow.figures import plot_confusion_matrix, plot_loss, plot_top1

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
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert 400 < width < 3000 and 300 < height < 3000
    assert image.std() > 0  # not a blank canvas


def test_top1_draws_one_line_per_run_in_percent(tmp_path, runs):
    out = tmp_path / "fig" / "top1.png"
    fig = plot_top1(runs, out, title="CORnet: top-1")
    assert_png(out)
    assert [p.name for p in out.parent.iterdir()] == ["top1.png"]  # no temp files left
    [ax] = fig.axes
    assert ax.get_title() == "CORnet: top-1" and ax.get_ylabel() == "validation top-1 (%)"
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == list(runs)
    assert list(lines[1].get_ydata()) == pytest.approx([1, 40, 40, 55])
    assert list(lines[0].get_xdata()) == [0, 1, 2, 3]


def test_loss_draws_train_and_val_per_run_with_a_legend(tmp_path, runs):
    fig = plot_loss(runs, tmp_path / "loss.png", title="Loss", splits={"val": "test split"})
    [ax] = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 2 * len(runs)
    assert [line.get_linestyle() for line in lines] == ["-", "--"] * len(runs)
    assert list(lines[0].get_ydata()) == [2.0, 1.5, 1.2]  # train loss of the first run
    assert {"outer_times=1", "outer_times=2", "train", "test split"} <= set(texts(fig))


def test_further_splits_are_drawn_in_their_own_line_styles(tmp_path, runs):
    runs = {name: pd.concat([frame, frame.query("split == 'val'").assign(split="test", loss=0.5)])
            for name, frame in runs.items()}  # fmt: skip
    splits = {"test": "test split", "val": "held-out part"}
    fig = plot_loss(runs, tmp_path / "loss.png", splits=splits)
    [ax] = fig.axes
    lines = ax.get_lines()
    assert [line.get_linestyle() for line in lines] == ["-", "--", ":"] * len(runs)
    assert set(lines[1].get_ydata()) == {0.5}  # the first run's test loss
    assert {"train", "test split", "held-out part"} <= set(texts(fig))


def test_loss_spanning_decades_gets_a_log_axis_so_later_epochs_stay_readable(tmp_path, runs):
    assert plot_loss(runs, tmp_path / "loss.png").axes[0].get_yscale() == "linear"
    runs["outer_times=4"] = metrics(val_top1=[0.0, 0.3], val_top5=[0.0, 0.6], train_loss=[2.0],
                                    val_loss=[1.2e6, 1.9])  # fmt: skip
    [ax] = plot_loss(runs, tmp_path / "loss.png", ylabel="cross-entropy loss").axes
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "cross-entropy loss (log scale)"


def test_plot_overwrites_an_existing_file(tmp_path, runs):
    out = tmp_path / "top1.png"
    out.write_bytes(b"old")
    plot_top1(runs, out, title="custom")
    assert_png(out)


@pytest.mark.parametrize("plot", [plot_top1, plot_loss])
def test_a_run_without_val_rows_is_named_and_nothing_is_written(tmp_path, runs, plot):
    runs["broken"] = runs["outer_times=1"].query("split == 'train'")
    with pytest.raises(ValueError, match="'broken'"):
        plot(runs, tmp_path / "figure.png")
    assert list(tmp_path.iterdir()) == []


def test_confusion_matrix_writes_counts_and_names(tmp_path):
    fig = plot_confusion_matrix([[3, 1], [0, 4]], ["Chair", "Lamp"], tmp_path / "c.png", "CLS")
    [ax] = fig.axes
    assert ax.get_title() == "CLS (8 samples)"
    assert [t.get_text() for t in ax.texts] == ["3", "1", "0", "4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Chair", "Lamp"]
    with pytest.raises(ValueError, match="does not match 3 classes"):
        plot_confusion_matrix([[1]], ["a", "b", "c"], tmp_path / "x.png")
