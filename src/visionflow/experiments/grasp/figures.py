"""NeuroVis figures: grasp rectangles over a view, and predictions beside their confidence."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from visionflow.figures import COLORS, image_axes, image_grid

TRUTH_COLOR, PREDICTED_COLOR = COLORS[2], COLORS[3]


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
    """Per sample: RGB with ground-truth (green) and predicted (red) rectangles, then confidence.

    Each panel maps "rgb", "truth" and "predicted" (lists of (4, 2) corners), "confidence"
    (an H x W map in [0, 1]) and "title".
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
            _draw_rectangles(image_ax, panel["predicted"], PREDICTED_COLOR, 2.0)
            confidence_ax.axis("on")
            image_axes(
                confidence_ax, panel["confidence"], "confidence", cmap="magma", vmin=0, vmax=1
            )
    return axes[0, 0].figure
