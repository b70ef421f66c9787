"""The shared figure style and the figures several experiments draw (curves, confusion).

Every drawing function saves its figure atomically to the path it is given and returns the
Figure, so tests can check what was drawn. Experiments keep their own figures in their
`figures` modules, built on the helpers here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cycler import cycler  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from visionflow.io import atomic_path  # noqa: E402

# Okabe-Ito palette: distinguishable with common colour-vision deficiencies.
COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.figsize": (6.4, 4.2),
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.35,
    "grid.linestyle": ":",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=COLORS),
    "lines.linewidth": 1.8,
    "lines.markersize": 5,
}

LOG_SPAN = 100  # curves whose positive values span more than this ratio get a log y axis
ANNOTATED_CLASSES = 20  # confusion cells get their count written up to this many classes
LABELLED_CLASSES = 50  # per-class figures name every class up to this many


def save(fig: Figure, path: str | Path) -> None:
    """Lay out `fig` and write it atomically in the format named by the suffix of `path`."""
    path = Path(path)
    if fig._suptitle:  # its default y (0.98) of a tall figure drops into the space kept for it
        fig._suptitle.set_y(1 - 0.1 / fig.get_figheight())
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")


@contextlib.contextmanager
def axes_figure(
    path: str | Path,
    size: tuple[float, float] | None = None,
    epochs: bool = False,
    grid: bool = True,
) -> Iterator[Axes]:
    """Yield styled axes (a `size` figure, in inches, or the style's); on success lay out and
    save the figure to `path`. With `epochs`, x ticks are whole numbers; `grid` off for images."""
    with plt.rc_context(STYLE | {"axes.grid": grid}):
        fig, ax = plt.subplots(figsize=size)
        try:
            yield ax
            if epochs:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            save(fig, path)
        finally:
            plt.close(fig)


@contextlib.contextmanager
def image_grid(
    path: str | Path,
    rows: int,
    cols: int,
    cell: float = 2.6,
    size: tuple[float, float] | None = None,
    grid: bool = False,
) -> Iterator[np.ndarray]:
    """Yield a (rows, cols) array of styled axes (square `cell` inches each, or a `size`
    figure), without grid lines unless `grid`; save atomically on success."""
    size = size or (cell * cols, cell * rows)
    with plt.rc_context(STYLE | {"axes.grid": grid}):
        fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
        try:
            yield axes
            save(fig, path)
        finally:
            plt.close(fig)


def image_axes(ax: Axes, image: np.ndarray, title: str, **imshow: Any) -> None:
    """Show `image` on `ax` with a small title and no ticks."""
    ax.imshow(image, **imshow)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def split_rows(
    frame: pd.DataFrame, run: str, split: str, required: bool, columns: Sequence[str]
) -> pd.DataFrame:
    """Rows of one split of a metrics.csv sorted by epoch (last row wins for a repeated epoch)."""
    missing = {"epoch", "split", *columns} - set(frame.columns)
    if missing:
        raise ValueError(f"run {run!r}: metrics lack columns {sorted(missing)}")
    rows = frame[frame["split"] == split].drop_duplicates("epoch", keep="last")
    if required and rows.empty:
        raise ValueError(f"run {run!r} has no {split!r} rows in its metrics")
    return rows.sort_values("epoch")


def _check_runs(runs: Mapping[str, pd.DataFrame]) -> None:
    if not runs:
        raise ValueError("no runs to plot")


def plot_top1(
    runs: Mapping[str, pd.DataFrame], path: Path, title: str = "Validation top-1 accuracy"
) -> Figure:
    """Plot validation top-1 (%) against epoch, one marked line per run labelled by its key."""
    _check_runs(runs)
    with axes_figure(path, epochs=True) as ax:
        for run, frame in runs.items():
            val = split_rows(frame, run, "val", required=True, columns=["top1"])
            ax.plot(val["epoch"], 100 * val["top1"], marker="o", label=run)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation top-1 (%)")
        ax.set_title(title)
        ax.legend()
    return ax.figure


def run_color(index: int) -> str:
    """The colour of the `index`-th run of a figure."""
    return COLORS[index % len(COLORS)]


VALIDATION = {"val": "validation"}
SPLIT_STYLES = ["--", ":", "-."]


def draw_train_val(
    ax: Axes,
    runs: Mapping[str, pd.DataFrame],
    column: str,
    splits: Mapping[str, str] = VALIDATION,
    scale: float = 1.0,
) -> None:
    """Draw train (solid) and each of `splits` (split -> legend label; dashed, dotted, ...)
    `column` x `scale` against epoch, one colour per run, with a legend of runs and line
    styles. A run needs rows of the first of `splits`."""
    _check_runs(runs)
    handles = []
    for i, (run, frame) in enumerate(runs.items()):
        train = split_rows(frame, run, "train", required=False, columns=[column])
        ax.plot(train["epoch"], scale * train[column], color=run_color(i), linestyle="-")
        for k, split in enumerate(splits):
            rows = split_rows(frame, run, split, required=k == 0, columns=[column])
            ax.plot(rows["epoch"], scale * rows[column], color=run_color(i),
                    linestyle=SPLIT_STYLES[k])  # fmt: skip
        handles.append(Line2D([], [], color=run_color(i), linewidth=6, label=run))
    handles.append(Line2D([], [], color="0.3", linestyle="-", label="train"))
    handles += [
        Line2D([], [], color="0.3", linestyle=SPLIT_STYLES[k], label=label)
        for k, label in enumerate(splits.values())
    ]
    ax.legend(handles=handles)


def _train_val_curves(
    runs: Mapping[str, pd.DataFrame],
    path: Path,
    column: str,
    ylabel: str,
    title: str,
    splits: Mapping[str, str],
) -> Figure:
    """Plot train (solid) and each of `splits` (split -> legend label; dashed, dotted, ...)
    `column` against epoch, one colour per run; on a log y axis when the values are positive
    and span more than LOG_SPAN (an untrained epoch 0 would otherwise flatten every later
    epoch). A run needs rows of the first of `splits`."""
    with axes_figure(path, epochs=True) as ax:
        draw_train_val(ax, runs, column, splits)
        values = np.concatenate([line.get_ydata() for line in ax.get_lines()]).astype(float)
        values = values[np.isfinite(values)]
        if values.size and values.min() > 0 and values.max() > LOG_SPAN * values.min():
            ax.set_yscale("log")
            ylabel += " (log scale)"
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    return ax.figure


def plot_loss(
    runs: Mapping[str, pd.DataFrame],
    path: Path,
    title: str = "Loss",
    ylabel: str = "cross-entropy loss",
    splits: Mapping[str, str] = VALIDATION,
) -> Figure:
    """Plot train (solid) and validation (dashed; or `splits`) loss, one colour per run."""
    return _train_val_curves(runs, path, "loss", ylabel, title, splits)


def plot_accuracy(
    runs: Mapping[str, pd.DataFrame],
    path: Path,
    title: str = "Accuracy",
    splits: Mapping[str, str] = VALIDATION,
) -> Figure:
    """Plot train (solid) and validation (dashed; or `splits`) task accuracy, one colour per run."""
    return _train_val_curves(runs, path, "accuracy", "accuracy", title, splits)


def plot_confusion_matrix(
    matrix: np.ndarray, names: Sequence[str], path: Path, title: str = "confusion"
) -> Figure:
    """Confusion counts (rows true, columns predicted) as a row-normalised heatmap.

    Counts are written in the cells up to ANNOTATED_CLASSES classes, names on the axes up to
    LABELLED_CLASSES.
    """
    matrix = np.asarray(matrix)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"confusion matrix {matrix.shape} does not match {len(names)} classes")
    totals = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    with image_grid(path, 1, 1, cell=5.5 if len(names) <= ANNOTATED_CLASSES else 8) as axes:
        ax = axes[0, 0]
        image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
        if len(names) <= ANNOTATED_CLASSES:
            for (row, col), count in np.ndenumerate(matrix):
                color = "white" if fractions[row, col] > 0.5 else "black"
                ax.text(col, row, str(count), ha="center", va="center", color=color, fontsize=9)
        else:
            ax.figure.colorbar(image, ax=ax, label="fraction of the true class")
        if len(names) <= LABELLED_CLASSES:
            ticks = range(len(names))
            ax.set_xticks(ticks, names, rotation=30 if len(names) < 15 else 90, ha="right")
            ax.set_yticks(ticks, names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title(f"{title} ({int(matrix.sum())} samples)")
    return ax.figure
