"""All figures of the project, drawn with one shared style and saved atomically."""

from __future__ import annotations

import contextlib
import math
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
from matplotlib.patches import Polygon  # noqa: E402
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

TOP_K = ("top1", "top5")
ANNOTATED_CLASSES = 20  # confusion cells get their count written up to this many classes
LABELLED_CLASSES = 50  # per-class figures name every class up to this many
SUMMARY_COLUMNS = [
    "run",
    "best_epoch",
    "best_val_top1",
    "best_val_top5",
    "final_epoch",
    "final_val_top1",
    "final_val_top5",
    "test_top1",
    "test_top5",
    "test_loss",
]


def _save(fig: Figure, path: Path) -> None:
    """Lay out `fig` and write it atomically in the format named by the suffix of `path`."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")


@contextlib.contextmanager
def _figure(path: Path) -> Iterator[Axes]:
    """Yield styled axes; on success lay out and save the figure atomically to `path`."""
    path = Path(path)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        try:
            yield ax
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            _save(fig, path)
        finally:
            plt.close(fig)


@contextlib.contextmanager
def _image_grid(path: Path, rows: int, cols: int, cell: float = 2.6) -> Iterator[np.ndarray]:
    """Yield a (rows, cols) array of styled axes without grids; save atomically on success."""
    path = Path(path)
    with plt.rc_context(STYLE | {"axes.grid": False}):
        fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, cell * rows), squeeze=False)
        try:
            yield axes
            _save(fig, path)
        finally:
            plt.close(fig)


def _split(
    frame: pd.DataFrame, run: str, split: str, required: bool, columns: Sequence[str]
) -> pd.DataFrame:
    """Rows of one split sorted by epoch (last row wins for a repeated epoch)."""
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
) -> None:
    """Plot validation top-1 (%) against epoch, one marked line per run labelled by its key."""
    _check_runs(runs)
    with _figure(path) as ax:
        for run, frame in runs.items():
            val = _split(frame, run, "val", required=True, columns=TOP_K)
            ax.plot(val["epoch"], 100 * val["top1"], marker="o", label=run)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation top-1 (%)")
        ax.set_title(title)
        ax.legend()


def _train_val_curves(
    runs: Mapping[str, pd.DataFrame],
    path: Path,
    column: str,
    ylabel: str,
    title: str,
    val_label: str,
) -> None:
    """Plot train (solid) and validation (dashed) `column` against epoch, one colour per run."""
    _check_runs(runs)
    with _figure(path) as ax:
        handles = []
        for i, (run, frame) in enumerate(runs.items()):
            color = COLORS[i % len(COLORS)]
            val = _split(frame, run, "val", required=True, columns=[column])
            train = _split(frame, run, "train", required=False, columns=[column])
            ax.plot(train["epoch"], train[column], color=color, linestyle="-")
            ax.plot(val["epoch"], val[column], color=color, linestyle="--")
            handles.append(Line2D([], [], color=color, linewidth=6, label=run))
        handles += [
            Line2D([], [], color="0.3", linestyle="-", label="train"),
            Line2D([], [], color="0.3", linestyle="--", label=val_label),
        ]
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(handles=handles)


def plot_loss(
    runs: Mapping[str, pd.DataFrame],
    path: Path,
    title: str = "Loss",
    ylabel: str = "cross-entropy loss",
    val_label: str = "validation",
) -> None:
    """Plot train (solid) and validation (dashed) loss, one colour per run."""
    _train_val_curves(runs, path, "loss", ylabel, title, val_label)


def plot_accuracy(
    runs: Mapping[str, pd.DataFrame],
    path: Path,
    title: str = "Accuracy",
    val_label: str = "validation",
) -> None:
    """Plot train (solid) and validation (dashed) task accuracy, one colour per run."""
    _train_val_curves(runs, path, "accuracy", "accuracy", title, val_label)


def summarize_runs(runs: Mapping[str, pd.DataFrame], tests: Mapping[str, dict]) -> pd.DataFrame:
    """One row per run: best and final validation top-1/top-5 (fractions) and test scores.

    The best epoch is the earliest with maximal validation top-1; test columns are NaN
    for runs missing from `tests`.
    """
    rows = []
    for run, frame in runs.items():
        val = _split(frame, run, "val", required=True, columns=TOP_K).reset_index(drop=True)
        if val["top1"].isna().all():
            raise ValueError(f"run {run!r} has no validation top-1 values")
        best = val.loc[val["top1"].idxmax()]
        final = val.iloc[-1]
        test = tests.get(run, {})
        rows.append(
            {
                "run": run,
                "best_epoch": int(best["epoch"]),
                "best_val_top1": float(best["top1"]),
                "best_val_top5": float(best["top5"]),
                "final_epoch": int(final["epoch"]),
                "final_val_top1": float(final["top1"]),
                "final_val_top5": float(final["top5"]),
                "test_top1": float(test.get("top1", math.nan)),
                "test_top5": float(test.get("top5", math.nan)),
                "test_loss": float(test.get("loss", math.nan)),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


TRUTH_COLOR, PREDICTED_COLOR = COLORS[2], COLORS[3]


def _draw_rectangles(ax: Axes, corners: Sequence[np.ndarray], color: str, width: float) -> None:
    for rectangle in corners:
        ax.add_patch(Polygon(rectangle, closed=True, fill=False, edgecolor=color, linewidth=width))


def _image_axes(ax: Axes, image: np.ndarray, title: str, **imshow: Any) -> None:
    ax.imshow(image, **imshow)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_grasp_rectangles(
    rgb: np.ndarray, path: Path, corners: Sequence[np.ndarray], title: str = ""
) -> None:
    """Draw grasp rectangles, given as (4, 2) corner arrays in pixels, over an RGB image."""
    with _image_grid(path, 1, 1, cell=5.0) as axes:
        ax = axes[0, 0]
        _image_axes(ax, rgb, title)
        _draw_rectangles(ax, corners, TRUTH_COLOR, 1.2)


def plot_prediction_grid(panels: Sequence[Mapping], path: Path, per_row: int = 2) -> None:
    """Per sample: RGB with ground-truth (green) and predicted (red) rectangles, then confidence.

    Each panel maps "rgb", "truth" and "predicted" (lists of (4, 2) corners), "confidence"
    (an H x W map in [0, 1]) and "title".
    """
    if not panels:
        raise ValueError("no prediction panels to plot")
    rows = math.ceil(len(panels) / per_row)
    with _image_grid(path, rows, 2 * per_row) as axes:
        for ax in axes.flat:
            ax.axis("off")
        for i, panel in enumerate(panels):
            image_ax, confidence_ax = axes[i // per_row, 2 * (i % per_row) : 2 * (i % per_row) + 2]
            image_ax.axis("on")
            _image_axes(image_ax, panel["rgb"], panel["title"])
            _draw_rectangles(image_ax, panel["truth"], TRUTH_COLOR, 0.8)
            _draw_rectangles(image_ax, panel["predicted"], PREDICTED_COLOR, 2.0)
            confidence_ax.axis("on")
            _image_axes(
                confidence_ax, panel["confidence"], "confidence", cmap="magma", vmin=0, vmax=1
            )


def plot_confusion_matrix(
    matrix: np.ndarray, names: Sequence[str], path: Path, title: str = "confusion"
) -> None:
    """Confusion counts (rows true, columns predicted) as a row-normalised heatmap.

    Counts are written in the cells up to ANNOTATED_CLASSES classes, names on the axes up to
    LABELLED_CLASSES.
    """
    matrix = np.asarray(matrix)
    if matrix.shape != (len(names), len(names)):
        raise ValueError(f"confusion matrix {matrix.shape} does not match {len(names)} classes")
    totals = matrix.sum(axis=1, keepdims=True)
    fractions = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    with _image_grid(path, 1, 1, cell=5.5 if len(names) <= ANNOTATED_CLASSES else 8) as axes:
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


def _listed_classes(order: np.ndarray) -> tuple[np.ndarray, str]:
    """Indices (from `order`) to draw per class, and a note when only the extremes fit."""
    if len(order) <= LABELLED_CLASSES:
        return order, ""
    half = LABELLED_CLASSES // 2
    return np.concatenate([order[:half], order[-half:]]), f", {half} lowest and {half} highest"


def plot_class_accuracy(
    names: Sequence[str], accuracy: np.ndarray, counts: np.ndarray, path: Path, title: str
) -> None:
    """Horizontal bars of per-class top-1 accuracy, worst at the bottom; classes absent from the set
    (`counts` 0) are left out."""
    accuracy, counts = np.asarray(accuracy, dtype=float), np.asarray(counts)
    present = np.flatnonzero(counts > 0)
    order = present[np.argsort(accuracy[present], kind="stable")]
    shown, note = _listed_classes(order)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.22 * len(shown)))
        try:
            ax.barh(range(len(shown)), accuracy[shown], color=COLORS[0])
            ax.set_yticks(range(len(shown)), [f"{names[i]} (n={counts[i]})" for i in shown])
            ax.set_xlim(0, 1)
            ax.set_xlabel("top-1 accuracy")
            ax.set_title(f"{title}{note}")
            _save(fig, Path(path))
        finally:
            plt.close(fig)


def plot_class_report(names: Sequence[str], scores: np.ndarray, path: Path, title: str) -> None:
    """Heatmap of per-class precision, recall and F1 (a (C, 3) array), annotated."""
    scores = np.asarray(scores, dtype=float)
    shown, note = _listed_classes(np.argsort(scores[:, 2], kind="stable"))
    with plt.rc_context(STYLE | {"axes.grid": False}):
        fig, ax = plt.subplots(figsize=(4.8, 1.2 + 0.24 * len(shown)))
        try:
            ax.imshow(scores[shown], cmap="viridis", vmin=0, vmax=1, aspect="auto")
            for (row, col), value in np.ndenumerate(scores[shown]):
                color = "black" if value > 0.6 else "white"
                ax.text(col, row, f"{value:.2f}", ha="center", va="center", color=color, fontsize=8)
            ax.set_xticks(range(3), ["precision", "recall", "F1"])
            ax.set_yticks(range(len(shown)), [names[i] for i in shown])
            ax.set_title(f"{title}{note}")
            _save(fig, Path(path))
        finally:
            plt.close(fig)


def plot_shuffled(summary: pd.DataFrame, path: Path) -> None:
    """Test top-1 with frames in order beside shuffled, one bar pair per run of `summary`."""
    if summary.empty:
        raise ValueError("no runs to plot")
    labels = [f"{r.run}\n{r.split}, H={r.shuffle_entropy:.2f}" for r in summary.itertuples()]
    x = np.arange(len(summary))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(2.0 + 1.6 * len(summary), 4.0))
        try:
            ax.bar(x - 0.2, 100 * summary["test_top1"], 0.4, label="frames in order")
            ax.bar(x + 0.2, 100 * summary["shuffled_top1"], 0.4, label="frames shuffled")
            ax.set_xticks(x, labels)
            ax.set_xlim(-0.7, len(summary) - 0.3)
            ax.set_ylim(0, 105)
            ax.set_ylabel("test top-1 (%)")
            ax.set_title("SLR: test top-1, frames in order vs shuffled")
            ax.legend(loc="lower right")
            _save(fig, Path(path))
        finally:
            plt.close(fig)


def plot_tau_matrix(table: pd.DataFrame, path: Path, title: str, xlabel: str, ylabel: str) -> None:
    """Kendall tau between layers (rows x columns of `table`) as an annotated viridis heatmap."""
    values = table.to_numpy(dtype=float)
    with _image_grid(path, 1, 1, cell=2.0 + 0.8 * max(values.shape)) as axes:
        ax = axes[0, 0]
        image = ax.imshow(values, cmap="viridis", vmin=min(0.0, np.nanmin(values)), vmax=1)
        for (row, col), value in np.ndenumerate(values):
            color = "black" if value > 0.6 else "white"
            ax.text(col, row, f"{value:.2f}", ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(values.shape[1]), table.columns, rotation=30, ha="right")
        ax.set_yticks(range(values.shape[0]), table.index)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.figure.colorbar(image, ax=ax, label="Kendall tau", fraction=0.046, pad=0.04)


def plot_similarity_matrices(
    matrices: Mapping[str, np.ndarray], labels: np.ndarray, classes: Sequence[str], path: Path
) -> None:
    """One image-by-image similarity heatmap per layer, class blocks named at their centres."""
    labels = np.asarray(labels)
    present = np.unique(labels)
    centres = [np.flatnonzero(labels == c).mean() for c in present]
    edges = np.flatnonzero(np.diff(labels)) + 0.5
    with _image_grid(path, 1, len(matrices), cell=3.6) as axes:
        for ax, (layer, matrix) in zip(axes[0], matrices.items(), strict=True):
            image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1)
            for edge in edges:
                ax.axhline(edge, color="white", linewidth=0.5)
                ax.axvline(edge, color="white", linewidth=0.5)
            names = [classes[c] for c in present]
            ax.set_xticks(centres, names, rotation=45, ha="right", fontsize=7)
            ax.set_yticks(centres, names, fontsize=7)
            ax.set_title(f"layer {layer}")
        axes[0, -1].figure.colorbar(image, ax=axes[0, -1], label="similarity", shrink=0.8)


def plot_shapley_values(summary: pd.DataFrame, top_k: int, path: Path, title: str) -> None:
    """Mean Shapley value per filter with its confidence bound; the top k highlighted."""
    ranked = summary.sort_values("value", ascending=False)
    top = set(ranked["filter"].head(top_k))
    colors = [COLORS[1] if f in top else COLORS[0] for f in summary["filter"]]
    with _figure(path) as ax:
        ax.figure.set_size_inches(max(6.4, 0.12 * len(summary)), 4)
        ax.bar(summary["filter"], summary["value"], yerr=summary["bound"], color=colors,
               ecolor="lightgrey", width=0.8)  # fmt: skip
        ax.set_xlabel("filter")
        ax.set_ylabel("Shapley value (accuracy drop)")
        ax.set_title(f"{title}; top {top_k} highlighted")


def plot_shapley_bounds(bounds: pd.DataFrame, path: Path, title: str) -> None:
    """Confidence bound of each filter (columns) against the iterations so far (index)."""
    with _figure(path) as ax:
        for column in bounds.columns:
            ax.plot(bounds.index, bounds[column], label=f"filter {column}")
        ax.set_yscale("log")
        ax.set_xlabel("iterations (all shards and rounds)")
        ax.set_ylabel("confidence bound")
        ax.set_title(title)
        ax.legend(fontsize=8)


def _display_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) normalised input -> (H, W, 3) in [0, 1], per-image min-max of the RGB part."""
    rgb = np.moveaxis(np.asarray(image)[:3], 0, -1)
    return (rgb - rgb.min()) / max(float(rgb.max() - rgb.min()), 1e-12)


def plot_guided_backprop(
    inputs: np.ndarray, maps: Mapping[int, np.ndarray], path: Path, title: str
) -> None:
    """Rows: images; columns: the image, then each filter's guided-backprop map over it."""
    with _image_grid(path, len(inputs), len(maps) + 1, cell=2.2) as axes:
        for row, image in enumerate(inputs):
            rgb = _display_rgb(image)
            _image_axes(axes[row, 0], rgb, "input" if row == 0 else "")
            for col, (filter_index, saliency) in enumerate(maps.items(), start=1):
                axes[row, col].imshow(0.5 * rgb.mean(axis=-1), cmap="gray", vmin=0, vmax=1)
                axes[row, col].imshow(saliency[row], cmap="inferno", alpha=0.7, vmin=0, vmax=1)
                axes[row, col].set_axis_off()
                if row == 0:
                    axes[row, col].set_title(f"filter {filter_index}")
        axes[0, 0].figure.suptitle(title)


def plot_activation_maximisation(
    images: np.ndarray, filters: Sequence[int], path: Path, title: str
) -> None:
    """The optimised input of every filter (RGB part), in a square-ish grid."""
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    with _image_grid(path, rows, cols, cell=1.8) as axes:
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, image, filter_index in zip(axes.flat, images, filters, strict=False):
            _image_axes(ax, _display_rgb(image), f"filter {filter_index}")
        axes[0, 0].figure.suptitle(title)


def plot_contact_sheet(
    images: Sequence[np.ndarray], captions: Sequence[str], flagged: Sequence[bool], path: Path,
    title: str,
) -> None:  # fmt: skip
    """Thumbnails in a grid, captions under them; flagged ones captioned in red."""
    cols = min(8, max(1, len(images)))
    rows = max(1, int(np.ceil(len(images) / cols)))
    with _image_grid(path, rows, cols, cell=1.6) as axes:
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, image, caption, flag in zip(axes.flat, images, captions, flagged, strict=False):
            ax.imshow(image)
            ax.set_title(caption, fontsize=6, color="red" if flag else "black")
        axes[0, 0].figure.suptitle(title)


def plot_tsne_split(split: pd.DataFrame, path: Path, title: str) -> None:
    """t-SNE map of the frames: colour = cluster, marker = set (train o, val x), ids at centres."""
    from matplotlib.patches import Patch

    markers = {"train": "o", "val": "x"}
    clusters = sorted(split["cluster"].unique())
    colors = {c: COLORS[i % len(COLORS)] for i, c in enumerate(clusters)}
    with _figure(path) as ax:
        ax.figure.set_size_inches(7.6, 5.2)
        for cluster, color in colors.items():
            members = split[split["cluster"] == cluster]
            for name, marker in markers.items():
                part = members[members["split"] == name]
                ax.scatter(part["tsne_x"], part["tsne_y"], s=14, marker=marker, color=color)
            centre = (members["tsne_x"].mean(), members["tsne_y"].mean())
            box = {"boxstyle": "round", "fc": "white", "ec": color, "alpha": 0.7}
            ax.annotate(str(cluster), centre, xytext=(0, 9), textcoords="offset points",
                        ha="center", va="bottom", fontsize=9, bbox=box)  # fmt: skip
        shapes = [
            Line2D([], [], marker=m, color="black", linestyle="", label=n)
            for n, m in markers.items()
        ]
        patches = [Patch(color=color, label=str(c)) for c, color in colors.items()]
        right = {"fontsize": 8, "bbox_to_anchor": (1.01, 1.0)}
        ax.add_artist(ax.legend(handles=shapes, title="set", loc="upper left", **right))
        right["bbox_to_anchor"] = (1.01, 0.0)
        ncol = 1 + len(clusters) // 12
        ax.legend(handles=patches, title="cluster", loc="lower left", ncol=ncol, **right)
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.set_title(title)


def plot_prf_heatmaps(grid: pd.DataFrame, path: Path, title: str) -> None:
    """Precision, recall and F1 over score x IoU thresholds as three annotated heatmaps.

    The cell of best F1 (first of any ties) is outlined in every panel.
    """
    from matplotlib.patches import Rectangle

    if grid.empty:
        raise ValueError("no thresholds to plot")
    best = grid.loc[grid["f1"].idxmax()]
    tables = {
        metric: grid.pivot(index="score_threshold", columns="iou_threshold", values=metric)
        for metric in ("precision", "recall", "f1")
    }
    rows, cols = tables["f1"].shape
    best_row = tables["f1"].index.get_loc(best["score_threshold"])
    best_col = tables["f1"].columns.get_loc(best["iou_threshold"])
    fontsize = 8 if cols <= 6 else 6
    with _image_grid(path, 1, 3, cell=max(3.4, 0.42 * max(rows, cols) + 1.2)) as axes:
        for ax, (metric, table) in zip(axes[0], tables.items(), strict=True):
            values = table.to_numpy(dtype=float)
            ax.imshow(values, cmap="viridis", vmin=0, vmax=1, origin="lower", aspect="auto")
            for (row, col), value in np.ndenumerate(values):
                color = "black" if value > 0.6 else "white"
                ax.text(col, row, f"{value:.2f}", ha="center", va="center", color=color,
                        fontsize=fontsize)  # fmt: skip
            ax.add_patch(Rectangle((best_col - 0.5, best_row - 0.5), 1, 1, fill=False,
                                   edgecolor=COLORS[3], linewidth=2.5))  # fmt: skip
            ax.set_xticks(range(cols), [f"{v:g}" for v in table.columns], rotation=45)
            ax.set_yticks(range(rows), [f"{v:g}" for v in table.index])
            ax.set_xlabel("IoU threshold")
            ax.set_ylabel("score threshold")
            ax.set_title(metric)
        axes[0, 0].figure.suptitle(
            f"{title}\nbest F1 {best['f1']:.3f} at score {best['score_threshold']:g}, "
            f"IoU {best['iou_threshold']:g} (outlined)"
        )


def plot_detection_comparison(
    grids: Mapping[str, pd.DataFrame], maps: Mapping[str, dict], path: Path
) -> None:
    """Per detector variant, best F1 at IoU 0.5 (over score thresholds), COCO mAP and mAP50."""
    if not grids or set(grids) != set(maps):
        raise ValueError(f"need the same variants in grids {list(grids)} and maps {list(maps)}")
    best_f1 = []
    for variant, grid in grids.items():
        at_half = grid[np.isclose(grid["iou_threshold"], 0.5)]
        if at_half.empty:
            raise ValueError(f"variant {variant!r}: the grid has no IoU threshold 0.5")
        best_f1.append(float(at_half["f1"].max()))
    series = {
        "best F1 @ IoU 0.5": best_f1,
        "COCO mAP": [maps[v]["map"] for v in grids],
        "mAP50": [maps[v]["map_50"] for v in grids],
    }
    x = np.arange(len(grids))
    width = 0.8 / len(series)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(max(5.0, 2.6 + 1.8 * len(grids)), 4.2))
        try:
            for offset, (name, values) in enumerate(series.items()):
                heights = np.array([np.nan if v is None else v for v in values], dtype=float)
                positions = x + (offset - 1) * width
                bars = ax.bar(positions, heights, width, label=name)
                ax.bar_label(bars, [f"{v:.2f}" for v in heights], fontsize=8, padding=2)
                for position in positions[np.isnan(heights)]:  # undefined, e.g. no boxes
                    ax.text(position, 0.01, "n/a", ha="center", va="bottom", fontsize=8)
            ax.set_xticks(x, list(grids))
            ax.set_xlim(-0.6, len(grids) - 0.4)
            ax.set_ylim(0, 1.12)
            ax.set_ylabel("score")
            ax.set_title("Detection variants: best F1 and COCO mAP")
            ax.legend(loc="upper right", fontsize=8, ncols=3)
            _save(fig, Path(path))
        finally:
            plt.close(fig)


def plot_hpo_history(trials: pd.DataFrame, path: Path, title: str) -> None:
    """Each trial's objective in order, the best so far, and pruned trials at their last value."""
    with _figure(path) as ax:
        done = trials[trials["state"] == "COMPLETE"].sort_values("trial")
        pruned = trials[trials["state"] == "PRUNED"]
        ax.scatter(done["trial"], done["value"], color=COLORS[0], label="completed trial")
        ax.step(done["trial"], done["value"].cummin(), where="post", color=COLORS[1],
                label="best so far")  # fmt: skip
        if len(pruned):
            ax.scatter(pruned["trial"], [done["value"].max()] * len(pruned), marker="x",
                       color=COLORS[3], label="pruned (drawn at the worst completed)")  # fmt: skip
        ax.set_xlabel("trial")
        ax.set_ylabel("lowest validation loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.legend()


SALIENCY_METRICS = {
    "bce": "BCE (lower is better)",
    "nss": "NSS (higher is better)",
    "cc": "CC (higher is better)",
    "sim": "SIM (higher is better)",
    "kl": "KL (lower is better)",
}


def plot_saliency_metrics(table: pd.DataFrame, path: Path, title: str) -> None:
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
    with _image_grid(path, 1, len(SALIENCY_METRICS), cell=cell) as axes:
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


def plot_saliency_grid(
    names: Sequence[str], images: np.ndarray, maps: Mapping[str, np.ndarray], path: Path
) -> None:
    """One row per image: the image, then its saliency map for every task."""
    with _image_grid(path, len(names), 1 + len(maps)) as axes:
        axes = np.asarray(axes).reshape(len(names), 1 + len(maps))
        for row, name in enumerate(names):
            _image_axes(axes[row, 0], images[row], name)
            for col, (task, task_maps) in enumerate(maps.items(), start=1):
                _image_axes(axes[row, col], task_maps[row], task if row == 0 else "",
                            cmap="gray", vmin=0, vmax=255)  # fmt: skip


def plot_saliency_summary(table: pd.DataFrame, path: Path) -> None:
    """Each grid point's task-averaged test metrics, one panel per metric."""
    metrics = [m for m in SALIENCY_METRICS if m in table.columns]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(metrics), figsize=(2.6 * len(metrics), 3.2), squeeze=False)
        try:
            for ax, metric in zip(axes[0], metrics, strict=True):
                ax.bar(table["point"], table[metric], color=COLORS[0])
                ax.set_title(SALIENCY_METRICS[metric], fontsize=9)
                ax.tick_params(axis="x", rotation=45)
            fig.suptitle("Grid points: test metrics averaged over tasks")
            _save(fig, Path(path))
        finally:
            plt.close(fig)
