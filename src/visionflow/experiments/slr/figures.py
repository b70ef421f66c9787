"""SLR figures: per-class top-1 bars, precision/recall/F1 heatmap, confusion, shuffled frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionflow.figures import COLORS, LABELLED_CLASSES, axes_figure, plot_confusion_matrix

GRAPHS = ("bargraph", "confmat", "heatmap")  # the original's per-test figures


def _listed_classes(order: np.ndarray) -> tuple[np.ndarray, str]:
    """Indices (from `order`) to draw per class, and a note when only the extremes fit."""
    if len(order) <= LABELLED_CLASSES:
        return order, ""
    half = LABELLED_CLASSES // 2
    return np.concatenate([order[:half], order[-half:]]), f", {half} lowest and {half} highest"


def plot_class_accuracy(
    names: Sequence[str], accuracy: np.ndarray, counts: np.ndarray, path: Path, title: str
) -> Figure:
    """Horizontal bars of per-class top-1 accuracy, worst at the bottom; classes absent from the set
    (`counts` 0) are left out."""
    accuracy, counts = np.asarray(accuracy, dtype=float), np.asarray(counts)
    present = np.flatnonzero(counts > 0)
    order = present[np.argsort(accuracy[present], kind="stable")]
    shown, note = _listed_classes(order)
    with axes_figure(path, size=(6.4, 1.2 + 0.22 * len(shown))) as ax:
        ax.barh(range(len(shown)), accuracy[shown], color=COLORS[0])
        ax.set_yticks(range(len(shown)), [f"{names[i]} (n={counts[i]})" for i in shown])
        ax.set_xlim(0, 1)
        ax.set_xlabel("top-1 accuracy")
        ax.set_title(f"{title}{note}")
    return ax.figure


def plot_class_report(names: Sequence[str], scores: np.ndarray, path: Path, title: str) -> Figure:
    """Heatmap of per-class precision, recall and F1 (a (C, 3) array), annotated."""
    scores = np.asarray(scores, dtype=float)
    shown, note = _listed_classes(np.argsort(scores[:, 2], kind="stable"))
    with axes_figure(path, size=(4.8, 1.2 + 0.24 * len(shown)), grid=False) as ax:
        ax.imshow(scores[shown], cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for (row, col), value in np.ndenumerate(scores[shown]):
            color = "black" if value > 0.6 else "white"
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(3), ["precision", "recall", "F1"])
        ax.set_yticks(range(len(shown)), [names[i] for i in shown])
        ax.set_title(f"{title}{note}")
    return ax.figure


def plot_class_figures(
    classes: Mapping[str, np.ndarray], names: Sequence[str], stem: Path, graphs: Sequence[str]
) -> list[Path]:
    """The chosen per-class figures of one test (`classes` from evaluation.per_class), as
    <stem>-<graph>.png; returns their paths."""
    title = stem.name
    paths = []
    for graph in graphs:
        path = stem.with_name(f"{stem.name}-{graph}.png")
        if graph == "bargraph":
            plot_class_accuracy(
                names, classes["accuracy"], classes["counts"], path, f"{title}: per-class top-1"
            )
        elif graph == "confmat":
            plot_confusion_matrix(classes["matrix"], names, path, title=f"{title}: confusion")
        else:
            plot_class_report(names, classes["scores"], path, f"{title}: per-class scores")
        paths.append(path)
    return paths


def plot_shuffled(summary: pd.DataFrame, path: Path) -> Figure:
    """Test top-1 with frames in order beside shuffled, one bar pair per run of `summary`."""
    if summary.empty:
        raise ValueError("no runs to plot")
    labels = [f"{r.run}\n{r.split}, H={r.shuffle_entropy:.2f}" for r in summary.itertuples()]
    x = np.arange(len(summary))
    with axes_figure(path, size=(max(4.4, 2.0 + 1.6 * len(summary)), 4.6)) as ax:
        ax.bar(x - 0.2, 100 * summary["test_top1"], 0.4, label="frames in order")
        ax.bar(x + 0.2, 100 * summary["shuffled_top1"], 0.4, label="frames shuffled")
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.7, len(summary) - 0.3)
        ax.set_ylim(0, 105)
        ax.set_ylabel("test top-1 (%)")
        ax.set_title("SLR: test top-1,\nframes in order vs shuffled")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)  # clear of bars
    return ax.figure
