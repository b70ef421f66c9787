"""Detection figures: the feature-space split, P/R/F1 heatmaps and per-class curves,
variants compared, HPO history."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from visionflow.figures import COLORS, axes_figure, image_grid


def plot_tsne_split(split: pd.DataFrame, path: Path, title: str) -> Figure:
    """t-SNE map of the frames: colour = cluster, marker = set (train o, val x), ids at centres."""
    markers = {"train": "o", "val": "x"}
    clusters = sorted(split["cluster"].unique())
    colors = {c: COLORS[i % len(COLORS)] for i, c in enumerate(clusters)}
    with axes_figure(path, size=(7.6, 5.2)) as ax:
        for cluster, color in colors.items():
            members = split[split["cluster"] == cluster]
            for name, marker in markers.items():
                part = members[members["split"] == name]
                ax.scatter(part["tsne_x"], part["tsne_y"], s=14, marker=marker, color=color)
            centre = (members["tsne_x"].mean(), members["tsne_y"].mean())
            box = {"boxstyle": "round", "fc": "white", "ec": color, "alpha": 0.7}
            ax.annotate(
                str(cluster),
                centre,
                xytext=(0, 9),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=9,
                bbox=box,
            )
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
    return ax.figure


def plot_prf_heatmaps(grid: pd.DataFrame, path: Path, title: str) -> Figure:
    """Precision, recall and F1 over score x IoU thresholds as three annotated heatmaps.

    The cell of best F1 (first of any ties) is outlined in every panel. Cells where a metric
    is undefined stay blank: precision without detections, recall without ground truth
    (the grid stores 0 there).
    """
    if grid.empty:
        raise ValueError("no thresholds to plot")
    best = grid.loc[grid["f1"].idxmax()]
    undefined = {
        "precision": grid["tp"] + grid["fp"] == 0,
        "recall": grid["tp"] + grid["fn"] == 0,
        "f1": pd.Series(False, index=grid.index),
    }
    tables = {
        metric: grid.assign(value=grid[metric].mask(blank)).pivot(
            index="score_threshold", columns="iou_threshold", values="value"
        )
        for metric, blank in undefined.items()
    }
    rows, cols = tables["f1"].shape
    best_row = tables["f1"].index.get_loc(best["score_threshold"])
    best_col = tables["f1"].columns.get_loc(best["iou_threshold"])
    fontsize = 8 if cols <= 6 else 6
    with image_grid(path, 1, 3, cell=max(3.4, 0.42 * max(rows, cols) + 1.2)) as axes:
        for ax, (metric, table) in zip(axes[0], tables.items(), strict=True):
            values = table.to_numpy(dtype=float)
            ax.imshow(values, cmap="viridis", vmin=0, vmax=1, origin="lower", aspect="auto")
            for (row, col), value in np.ndenumerate(values):
                if np.isnan(value):
                    continue
                color = "black" if value > 0.6 else "white"
                ax.text(
                    col,
                    row,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    color=color,
                    fontsize=fontsize,
                )
            ax.add_patch(
                Rectangle(
                    (best_col - 0.5, best_row - 0.5),
                    1,
                    1,
                    fill=False,
                    edgecolor=COLORS[3],
                    linewidth=2.5,
                )
            )
            ax.set_xticks(range(cols), [f"{v:g}" for v in table.columns], rotation=45)
            ax.set_yticks(range(rows), [f"{v:g}" for v in table.index])
            ax.set_xlabel("IoU threshold")
            ax.set_ylabel("score threshold")
            ax.set_title(metric)
        axes[0, 0].figure.suptitle(
            f"{title}\nbest F1 {best['f1']:.3f} at score {best['score_threshold']:g}, "
            f"IoU {best['iou_threshold']:g} (outlined)"
            + ("; blank: undefined" if any(blank.any() for blank in undefined.values()) else "")
        )
    return axes[0, 0].figure


def plot_prf_curves(per_class: pd.DataFrame, path: Path, title: str) -> Figure:
    """Per class (rows) precision, recall and F1 (columns) over the IoU thresholds, one line
    per score threshold: the original's per-class curves (metrics.py:DetectionMetrics)."""
    if per_class.empty:
        raise ValueError("no classes to plot")
    labels = list(dict.fromkeys(per_class["label"]))
    scores = sorted(per_class["score_threshold"].unique())
    metrics = ("precision", "recall", "f1")
    with image_grid(path, len(labels), 3, cell=2.8, grid=True) as axes:
        for row, label in enumerate(labels):
            mine = per_class[per_class["label"] == label]
            for col, metric in enumerate(metrics):
                ax = axes[row, col]
                for index, score in enumerate(scores):
                    line = mine[np.isclose(mine["score_threshold"], score)]
                    line = line.sort_values("iou_threshold")
                    turn, slot = divmod(index, len(COLORS))  # dashed once colours repeat
                    style = {"color": COLORS[slot], "linestyle": ("-", "--", ":")[turn % 3]}
                    ax.plot(line["iou_threshold"], line[metric], marker="o",
                            label=f"score {score:g}", **style)  # fmt: skip
                ax.set_ylim(-0.02, 1.02)
                ax.set_title(f"{label}: {metric}", fontsize=9)
                ax.set_xlabel("IoU threshold")
        axes[0, -1].legend(fontsize=7, loc="upper right")
        axes[0, 0].figure.suptitle(title)
    return axes[0, 0].figure


def plot_detection_comparison(
    grids: Mapping[str, pd.DataFrame], maps: Mapping[str, dict], path: Path
) -> Figure:
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
    with axes_figure(path, size=(max(5.0, 2.6 + 1.8 * len(grids)), 4.2)) as ax:
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
    return ax.figure


def plot_hpo_history(trials: pd.DataFrame, path: Path, title: str) -> Figure:
    """Each trial's objective in order, the best so far, and pruned trials at their last value."""
    with axes_figure(path, epochs=True) as ax:
        done = trials[trials["state"] == "COMPLETE"].sort_values("trial")
        pruned = trials[trials["state"] == "PRUNED"]
        ax.scatter(done["trial"], done["value"], color=COLORS[0], label="completed trial")
        ax.step(
            done["trial"],
            done["value"].cummin(),
            where="post",
            color=COLORS[1],
            label="best so far",
        )
        if len(pruned):
            ax.scatter(
                pruned["trial"],
                [done["value"].max()] * len(pruned),
                marker="x",
                color=COLORS[3],
                label="pruned (drawn at the worst completed)",
            )
        ax.set_xlabel("trial")
        ax.set_ylabel("lowest validation loss")
        ax.set_title(title)
        ax.legend()
    return ax.figure
