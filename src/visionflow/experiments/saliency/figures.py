"""Saliency figures: metrics per task, maps of new images, grid points side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionflow.figures import COLORS, image_axes, image_grid

SALIENCY_METRICS = {
    "bce": "BCE (lower is better)",
    "nss": "NSS (higher is better)",
    "cc": "CC (higher is better)",
    "sim": "SIM (higher is better)",
    "kl": "KL (lower is better)",
}


def plot_saliency_metrics(table: pd.DataFrame, path: Path, title: str) -> Figure:
    """One bar panel per saliency metric (BCE, NSS, CC, SIM, KL), tasks of `table` on the x axis.

    `table` has one row per task with columns task, bce, nss, cc, sim, kl; NaN is marked n/a.
    """
    missing = {"task", *SALIENCY_METRICS} - set(table.columns)
    if missing:
        raise ValueError(f"saliency metrics table lacks columns {sorted(missing)}")
    if table.empty:
        raise ValueError("no tasks to plot")
    tasks = table["task"].astype(str)
    if tasks.duplicated().any():
        raise ValueError(f"tasks appear more than once: {sorted(set(tasks[tasks.duplicated()]))}")
    x = np.arange(len(tasks))
    colors = [COLORS[i % len(COLORS)] for i in range(len(tasks))]
    cell = max(3.0, 1.0 + 0.35 * len(tasks))
    with image_grid(path, 1, len(SALIENCY_METRICS), cell=cell) as axes:
        for ax, (metric, label) in zip(axes[0], SALIENCY_METRICS.items(), strict=True):
            values = table[metric].to_numpy(dtype=float)
            bars = ax.bar(x, np.nan_to_num(values), 0.8, color=colors)
            texts = ["n/a" if np.isnan(v) else f"{v:.2f}" for v in values]
            ax.bar_label(bars, texts, fontsize=7, padding=2, rotation=90 if len(tasks) > 4 else 0)
            ax.margins(y=0.25)
            ax.axhline(0, color="0.3", linewidth=0.8)
            ax.grid(True, axis="y", alpha=0.35, linestyle=":")
            ax.set_xticks(x, list(tasks), rotation=45, ha="right", fontsize=8)
            ax.set_title(label, fontsize=11)
        axes[0, 0].figure.suptitle(title)
    return axes[0, 0].figure


def plot_saliency_grid(
    names: Sequence[str], images: np.ndarray, maps: Mapping[str, np.ndarray], path: Path
) -> Figure:
    """One row per image: the image, then its saliency map for every task."""
    with image_grid(path, len(names), 1 + len(maps)) as axes:
        axes = np.asarray(axes).reshape(len(names), 1 + len(maps))
        for row, name in enumerate(names):
            image_axes(axes[row, 0], images[row], name)
            for col, (task, task_maps) in enumerate(maps.items(), start=1):
                image_axes(
                    axes[row, col],
                    task_maps[row],
                    task if row == 0 else "",
                    cmap="gray",
                    vmin=0,
                    vmax=255,
                )
    return axes[0, 0].figure


def point_labels(grid: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each grid point as gpN over the settings whose values differ between the points."""
    keys = dict.fromkeys(key for point in grid for key in point)
    differ = [key for key in keys if len({repr(point.get(key)) for point in grid}) > 1]
    settings = [", ".join(f"{k}={point[k]}" for k in differ if k in point) for point in grid]
    return [f"gp{n}: {text}" if text else f"gp{n}" for n, text in enumerate(settings)]


def plot_saliency_summary(
    table: pd.DataFrame, grid: Sequence[Mapping[str, Any]], path: Path
) -> Figure:
    """Task-averaged test metrics per grid point (`grid`: overrides), named by `point_labels`."""
    metrics = [m for m in SALIENCY_METRICS if m in table.columns]
    labels = point_labels(grid)
    size = (2.6 * len(metrics) + 2, 1.6 + 0.3 * len(labels))
    with image_grid(path, 1, len(metrics), size=size, grid=True) as axes:
        for ax, metric in zip(axes[0], metrics, strict=True):
            ax.barh(range(len(labels)), table[metric], color=COLORS[0])
            ax.set_yticks(range(len(labels)), labels if ax is axes[0, 0] else [], fontsize=8)
            ax.invert_yaxis()  # gp0 on top
            ax.set_title(SALIENCY_METRICS[metric], fontsize=9)
        ax.figure.suptitle("Grid points: test metrics averaged over tasks")
    return ax.figure
