"""CORnet figures: train and validation top-1 per run, each run's best epoch marked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from visionflow.experiments.cornet.evaluation import best_val
from visionflow.figures import axes_figure, draw_train_val, run_color


def plot_top1(
    runs: Mapping[str, pd.DataFrame], path: Path, title: str = "CORnet-100: top-1 accuracy"
) -> Figure:
    """Train (solid; the epoch's mean) and validation (dashed) top-1 in % per run, the best
    validation epoch (the one best.ckpt holds) marked with a dot and its value."""
    with axes_figure(path, epochs=True) as ax:
        draw_train_val(ax, runs, "top1", scale=100)
        for i, (run, frame) in enumerate(runs.items()):
            best = best_val(frame, run)
            point = (int(best["epoch"]), 100 * float(best["top1"]))
            ax.scatter(*point, color=run_color(i), edgecolor="black", zorder=3)
            ax.annotate(f"best val {point[1]:.1f}% @ epoch {point[0]}", point, fontsize=8,
                        textcoords="offset points", xytext=(4, 6))  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel("top-1 (%)")
        ax.set_title(title)
    return ax.figure
