import matplotlib.image as mpimg
import numpy as np
import pytest

from visionflow.data.jacquard.grasp_maps import rectangle_corners
from visionflow.experiments.grasp.figures import (
    TRUTH_COLOR,
    plot_grasp_rectangles,
    plot_prediction_grid,
)


def colour_pixels(path, hex_colour):
    """How many pixels of the saved image are within a small distance of `hex_colour`."""
    image = mpimg.imread(path)[..., :3]
    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(image - target).max(axis=-1) < 0.08).sum())


def test_rectangles_are_drawn_over_the_image(tmp_path):
    rgb = np.full((64, 64, 3), 128, dtype=np.uint8)
    plot_grasp_rectangles(rgb, tmp_path / "none.png", [])
    boxes = [rectangle_corners(20, 20, 30, 20, 8), rectangle_corners(44, 40, -60, 16, 6)]
    plot_grasp_rectangles(rgb, tmp_path / "two.png", boxes)
    assert colour_pixels(tmp_path / "none.png", TRUTH_COLOR) == 0
    assert colour_pixels(tmp_path / "two.png", TRUTH_COLOR) > 100


def panel(title):
    rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    confidence = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    box = [rectangle_corners(16, 16, 0, 10, 4)]
    return {"rgb": rgb, "truth": box, "predicted": box, "confidence": confidence, "title": title}


def test_prediction_grid_lays_out_two_axes_per_sample(tmp_path):
    fig = plot_prediction_grid([panel(f"sample {i}") for i in range(3)], tmp_path / "grid.png")
    height, width = mpimg.imread(tmp_path / "grid.png").shape[:2]
    assert width / height == pytest.approx(2.0, rel=0.05)  # 2 rows of 4 cells
    shown = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title() for ax in shown] == ["sample 0", "confidence", "sample 1",
                                                "confidence", "sample 2", "confidence"]  # fmt: skip
    assert len(shown[0].patches) == 2  # the truth and the predicted rectangle
    with pytest.raises(ValueError, match="no prediction panels"):
        plot_prediction_grid([], tmp_path / "empty.png")
