"""The SLR summary figure: readable with one run or several."""

import pandas as pd
import pytest
from helpers import assert_texts_inside, drawn_texts

from visionflow.experiments.slr.figures import plot_shuffled


def summary(runs: int) -> pd.DataFrame:
    row = {"split": "asl3", "shuffle_entropy": 1.23, "test_top1": 0.5, "shuffled_top1": 0.3}
    return pd.DataFrame([{"run": f"R(2+1)D_18_{i:03d}", **row} for i in range(runs)])


@pytest.mark.parametrize("runs", [1, 4])
def test_shuffled_title_labels_and_legend_fit_and_the_legend_hides_no_bar(tmp_path, runs):
    fig = plot_shuffled(summary(runs), tmp_path / "shuffled.png")
    assert_texts_inside(fig)
    [ax] = fig.axes
    assert ax.get_title().replace("\n", " ") == "SLR: test top-1, frames in order vs shuffled"
    assert len(ax.patches) == 2 * runs
    assert "R(2+1)D_18_000\nasl3, H=1.23" in drawn_texts(fig)
    legend = ax.get_legend().get_window_extent()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "frames in order", "frames shuffled"]  # fmt: skip
    assert not any(legend.overlaps(bar.get_window_extent()) for bar in ax.patches)
    assert legend.x0 >= 0 and legend.x1 <= fig.bbox.width and legend.y0 >= 0
