"""SLR figures: per-class precision/recall/F1 bars and heatmap, confusion, shuffled frames;
showing saved figures in windows (the partial test's --display)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionflow.figures import LABELLED_CLASSES, axes_figure, plot_confusion_matrix
from visionflow.io import BadInputError

GRAPHS = ("bargraph", "confmat", "heatmap")  # the original's per-test figures
INTERACTIVE_BACKENDS = ("macosx", "qtagg", "gtk4agg", "gtk3agg", "tkagg", "wxagg")
WINDOWED = ("darwin", "win32")  # platforms that show windows without DISPLAY
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY")


def _listed_classes(order: np.ndarray) -> tuple[np.ndarray, str]:
    """Indices (from `order`) to draw per class, and a note when only the extremes fit."""
    if len(order) <= LABELLED_CLASSES:
        return order, ""
    half = LABELLED_CLASSES // 2
    return np.concatenate([order[:half], order[-half:]]), f", {half} lowest and {half} highest"


def _reported_classes(matrix: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, str]:
    """The classes a per-class figure shows and a title note: those in the set or predicted
    (the classes of sklearn's report) in label order, or the lowest and highest by F1."""
    matrix = np.asarray(matrix)
    present = np.flatnonzero((matrix.sum(axis=0) + matrix.sum(axis=1)) > 0)
    if len(present) <= LABELLED_CLASSES:
        return present, ""
    return _listed_classes(present[np.argsort(scores[present, 2], kind="stable")])


def plot_class_scores(
    names: Sequence[str], scores: np.ndarray, matrix: np.ndarray, path: Path, title: str
) -> Figure:
    """Horizontal bars of per-class precision, recall and F1 (a (C, 3) array), as the
    original's bar graph; `matrix` (confusion counts) gives the samples per class."""
    scores, counts = np.asarray(scores, dtype=float), np.asarray(matrix).sum(axis=1)
    shown, note = _reported_classes(matrix, scores)
    y, width = np.arange(len(shown)), 0.25
    with axes_figure(path, size=(6.4, 1.6 + 0.5 * len(shown))) as ax:
        for offset, column, label in ((-width, 0, "precision"), (0, 1, "recall"), (width, 2, "F1")):
            ax.barh(y + offset, scores[shown, column], height=width, label=label, alpha=0.8)
        ax.set_yticks(y, [f"{names[i]} (n={counts[i]})" for i in shown])
        ax.set_xlim(0, 1.1)
        ax.set_xlabel("score")
        ax.set_ylabel("class")
        ax.set_title(f"{title}{note}")
        ax.legend(loc="lower right")
    return ax.figure


def plot_class_report(
    names: Sequence[str], scores: np.ndarray, matrix: np.ndarray, path: Path, title: str
) -> Figure:
    """Heatmap of per-class precision, recall and F1 (a (C, 3) array), annotated; the classes
    of `matrix` (confusion counts) as the bar graph chooses them."""
    scores = np.asarray(scores, dtype=float)
    shown, note = _reported_classes(matrix, scores)
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
    title, matrix, scores = stem.name, classes["matrix"], classes["scores"]
    paths = []
    for graph in graphs:
        path = stem.with_name(f"{stem.name}-{graph}.png")
        if graph == "confmat":
            plot_confusion_matrix(matrix, names, path, title=f"{title}: confusion")
        else:
            draw = plot_class_scores if graph == "bargraph" else plot_class_report
            draw(names, scores, matrix, path, f"{title}: per-class scores")
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


def check_display() -> None:
    """BadInputError unless figures can be shown in windows here."""
    windowed = sys.platform in WINDOWED or any(map(os.environ.get, DISPLAY_VARIABLES))
    if not windowed:
        raise BadInputError("--display", "no graphical display (DISPLAY is not set); use --save")


def show(paths: Sequence[Path]) -> None:
    """Show each saved figure in a window, one after another, each until it is closed (the
    original's plt.show() per graph)."""
    check_display()
    for backend in INTERACTIVE_BACKENDS:
        try:
            plt.switch_backend(backend)
            break
        except ImportError:
            continue
    else:
        raise BadInputError("--display", "no interactive matplotlib backend (Qt, GTK, Tk, wx)")
    try:
        for path in paths:
            figure = plt.figure(num=Path(path).name)
            figure.add_axes((0, 0, 1, 1)).imshow(plt.imread(path))
            figure.axes[0].set_axis_off()
            plt.show()
            plt.close(figure)
    finally:
        plt.switch_backend("Agg")
