import json

import matplotlib.image as mpimg
import numpy as np
import pytest
from helpers import texts

from visionflow.data.jacquard.grasp_maps import rectangle_corners
from visionflow.experiments.grasp.evaluation import spread_over_classes
from visionflow.experiments.grasp.figures import (
    CLASS_COLORS,
    TRUTH_COLOR,
    class_map_overlay,
    plot_class_maps,
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
    predicted = np.zeros((6, 32, 32))
    predicted[5] = np.linspace(0, 1, 32 * 32).reshape(32, 32)
    box = [rectangle_corners(16, 16, 0, 10, 4)]
    return {"rgb": rgb, "truth": box, "rectangles": box, "predicted": predicted, "title": title}


def test_prediction_grid_lays_out_two_axes_per_sample(tmp_path):
    fig = plot_prediction_grid([panel(f"sample {i}") for i in range(3)], tmp_path / "grid.png")
    height, width = mpimg.imread(tmp_path / "grid.png").shape[:2]
    assert width / height == pytest.approx(2.0, rel=0.05)  # 2 rows of 4 cells
    shown = [ax for ax in fig.axes if ax.axison and ax.get_label() != "<colorbar>"]
    assert [ax.get_title() for ax in shown] == ["sample 0", "confidence", "sample 1",
                                                "confidence", "sample 2", "confidence"]  # fmt: skip
    assert len(shown[0].patches) == 2  # the truth and the predicted rectangle
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 3 and bars[0].get_ylim() == (0, 1)  # one per confidence map
    assert {"ground-truth grasps", "predicted grasp"} <= set(texts(fig))
    with pytest.raises(ValueError, match="no prediction panels"):
        plot_prediction_grid([], tmp_path / "empty.png")


def test_cls_class_map_colours_the_argmax_class(tmp_path):
    rgb = np.full((4, 4, 3), 40, dtype=np.uint8)
    class_map = np.full((6, 4, 4), -1.0)
    class_map[5] = 0.0
    class_map[3, :2] = 1.0  # plants (yellow) on the top half at full confidence
    class_map[5, :2] = 1.0
    class_map[0, 3, 3], class_map[5, 3, 3] = 1.0, 0.5  # a Chair (red) pixel at half weight
    tinted = class_map_overlay(rgb, class_map)
    yellow = np.clip(40 + 255 * CLASS_COLORS[3], 0, 255).astype(np.uint8)
    assert (tinted[:2] == yellow).all()
    red_half = (40 + 255 * 0.5 * CLASS_COLORS[0]).astype(np.uint8)
    np.testing.assert_array_equal(tinted[3, 3], red_half)
    assert (tinted[2, :3] == 40).all()  # confidence 0: the image unchanged
    panels = [dict(panel("Chair as plants wrong"), rgb=rgb, predicted=class_map, target=class_map)]
    fig = plot_class_maps(panels, tmp_path / "cls.png", ["Chair", "Lamp", "figurines",
                                                          "plants", "pen+pencil"])  # fmt: skip
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["predicted: Chair as plants wrong", "target", "image"]
    assert np.array_equal(fig.axes[0].images[0].get_array(), tinted)
    assert {"Chair", "plants", "pen+pencil"} <= set(texts(fig))


def test_shown_views_take_each_class_in_turn():
    labels = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    assert spread_over_classes(labels, 6) == [0, 3, 5, 6, 1, 4]
    assert spread_over_classes(labels, 20) == [0, 3, 5, 6, 1, 4, 7, 2]


def test_grasp_summary_csv_has_no_float32_noise(tmp_path):
    from visionflow.cli import main

    run = tmp_path / "cls"
    (run / "eval").mkdir(parents=True)
    (run / "config.yaml").write_text("epochs: 2\nlr: 0.0005\n")
    for split, accuracy in (("train", 0.7900000214576721), ("test", 0.6000000238418579)):
        score = {
            "task": "cls",
            "accuracy": accuracy,
            "checkpoint": str(run / "ckpt" / "final.ckpt"),
        }
        (run / "eval" / f"{split}.json").write_text(json.dumps(score))
    out = tmp_path / "summary.csv"
    args = ["grasp", "summarize", "--runs", str(run), "--out", str(out), "--markdown"]
    assert main([*args, str(tmp_path / "summary.md")]) == 0
    assert out.read_text().splitlines()[1] == "CLS,0.79,0.6,2,0.0005,double-log,trained"
