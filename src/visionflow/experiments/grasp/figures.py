"""NeuroVis figures: grasp rectangles over a view, predictions beside their confidence, and
the CLS class maps in the original's colours."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon

from visionflow.figures import COLORS, image_axes, image_grid

TRUTH_COLOR, PREDICTED_COLOR = COLORS[2], COLORS[3]
# The original's class colours (evaluation.py: red, green, blue, yellow, magenta; 0.95 on the
# class's own channels, 0.2 on the others), as RGB in [0, 1].
CLASS_COLORS = np.array([[0.95, 0.2, 0.2], [0.2, 0.95, 0.2], [0.2, 0.2, 0.95],
                         [0.95, 0.95, 0.2], [0.95, 0.2, 0.95]])  # fmt: skip


def _draw_rectangles(ax: Axes, corners: Sequence[np.ndarray], color: str, width: float) -> None:
    for rectangle in corners:
        ax.add_patch(Polygon(rectangle, closed=True, fill=False, edgecolor=color, linewidth=width))


def plot_grasp_rectangles(
    rgb: np.ndarray, path: Path, corners: Sequence[np.ndarray], title: str = ""
) -> Figure:
    """Draw grasp rectangles, given as (4, 2) corner arrays in pixels, over an RGB image."""
    with image_grid(path, 1, 1, cell=5.0) as axes:
        ax = axes[0, 0]
        image_axes(ax, rgb, title)
        _draw_rectangles(ax, corners, TRUTH_COLOR, 1.2)
    return ax.figure


def plot_prediction_grid(panels: Sequence[Mapping], path: Path, per_row: int = 2) -> Figure:
    """Per sample: RGB with true (green) and predicted (red) rectangles, confidence with its bar.

    Each panel maps "rgb", "truth" and "rectangles" (lists of (4, 2) corners), "predicted"
    (the (6, H, W) map; its channel 5 is the confidence) and "title".
    """
    if not panels:
        raise ValueError("no prediction panels to plot")
    rows = math.ceil(len(panels) / per_row)
    with image_grid(path, rows, 2 * per_row) as axes:
        for ax in axes.flat:
            ax.axis("off")
        for i, panel in enumerate(panels):
            image_ax, confidence_ax = axes[i // per_row, 2 * (i % per_row) : 2 * (i % per_row) + 2]
            image_ax.axis("on")
            image_axes(image_ax, panel["rgb"], panel["title"])
            _draw_rectangles(image_ax, panel["truth"], TRUTH_COLOR, 0.8)
            _draw_rectangles(image_ax, panel["rectangles"], PREDICTED_COLOR, 2.0)
            confidence_ax.axis("on")
            image_axes(
                confidence_ax, panel["predicted"][5], "confidence", cmap="magma", vmin=0, vmax=1
            )
            confidence_ax.figure.colorbar(confidence_ax.images[0], ax=confidence_ax, shrink=0.8)
        styles = {
            "ground-truth grasps": (TRUTH_COLOR, 0.8),
            "predicted grasp": (PREDICTED_COLOR, 2.0),
        }
        handles = [Line2D([], [], color=c, linewidth=w, label=k) for k, (c, w) in styles.items()]
        axes[0, 0].legend(
            handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=7
        )
    return axes[0, 0].figure


def class_map_overlay(rgb: np.ndarray, class_map: np.ndarray) -> np.ndarray:
    """The original's CLS view of a (6, H, W) map: each pixel tinted in the colour of its
    strongest class, (channel + 1) / 2 x confidence, by its share of the map's strongest."""
    values = (np.asarray(class_map[:5]) + 1) / 2 * np.asarray(class_map[5])
    strongest = values.argmax(axis=0)
    weight = values.max(axis=0) / max(float(values.max()), 1e-12)
    tint = CLASS_COLORS[strongest] * 255 * weight[..., None]
    return np.clip(np.asarray(rgb, np.float64) + tint, 0, 255).astype(np.uint8)


def plot_class_maps(panels: Sequence[Mapping], path: Path, classes: Sequence[str]) -> Figure:
    """Per sample a row: predicted class map, target class map (as `class_map_overlay`), the
    image; a legend names each class's colour. Panels as for `plot_prediction_grid`."""
    if not panels:
        raise ValueError("no prediction panels to plot")
    with image_grid(path, len(panels), 3) as axes:
        for row, panel in zip(axes, panels, strict=True):
            image_axes(row[0], class_map_overlay(panel["rgb"], panel["predicted"]),
                       f"predicted: {panel['title']}")  # fmt: skip
            image_axes(row[1], class_map_overlay(panel["rgb"], panel["target"]), "target")
            image_axes(row[2], panel["rgb"], "image")
        handles = [Patch(color=CLASS_COLORS[k], label=name) for k, name in enumerate(classes)]
        axes[0, -1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return axes[0, 0].figure
