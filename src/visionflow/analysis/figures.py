"""Figures of the analyses: RSMs and their Kendall tau, Shapley values and bounds, guided
backprop, activation maximisation, CLIP contact sheets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from visionflow.figures import COLORS, axes_figure, image_axes, image_grid
from visionflow.io import write_text


def plot_tau_matrix(
    table: pd.DataFrame, path: Path, title: str, xlabel: str, ylabel: str
) -> Figure:
    """Kendall tau between layers (rows x columns of `table`) as an annotated viridis heatmap."""
    values = table.to_numpy(dtype=float)
    with image_grid(path, 1, 1, cell=2.0 + 0.8 * max(values.shape)) as axes:
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
    return axes[0, 0].figure


def plot_similarity_matrices(
    matrices: Mapping[str, np.ndarray],
    labels: np.ndarray,
    classes: Sequence[str],
    path: Path,
    title: str,
) -> Figure:
    """One image-by-image similarity heatmap per layer, class blocks named at their centres,
    under `title` (the run)."""
    labels = np.asarray(labels)
    present = np.unique(labels)
    centres = [np.flatnonzero(labels == c).mean() for c in present]
    edges = np.flatnonzero(np.diff(labels)) + 0.5
    with image_grid(path, 1, len(matrices), cell=3.6) as axes:
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
        axes[0, 0].figure.suptitle(title)
    return axes[0, 0].figure


def plot_shapley_values(summary: pd.DataFrame, top_k: int, path: Path, title: str) -> Figure:
    """Mean Shapley value per filter with its confidence bound; the top k highlighted."""
    ranked = summary.sort_values("value", ascending=False)
    top = set(ranked["filter"].head(top_k))
    colors = [COLORS[1] if f in top else COLORS[0] for f in summary["filter"]]
    with axes_figure(path, epochs=True) as ax:
        ax.figure.set_size_inches(max(6.4, 0.12 * len(summary)), 4)
        ax.bar(
            summary["filter"],
            summary["value"],
            yerr=summary["bound"],
            color=colors,
            ecolor="lightgrey",
            width=0.8,
        )
        ax.set_xlabel("filter")
        ax.set_ylabel("Shapley value (accuracy drop)")
        ax.set_title(f"{title}; top {top_k} highlighted")
    return ax.figure


def plot_shapley_bounds(bounds: pd.DataFrame, path: Path, title: str) -> Figure:
    """Confidence bound of each filter (columns) against the iterations so far (index)."""
    with axes_figure(path, epochs=True) as ax:
        for column in bounds.columns:
            ax.plot(bounds.index, bounds[column], label=f"filter {column}")
        ax.set_yscale("log")
        ax.set_xlabel("iterations (all shards and rounds)")
        ax.set_ylabel("confidence bound")
        ax.set_title(title)
        ax.legend(fontsize=8)
    return ax.figure


def _display_rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) normalised input -> (H, W, 3) in [0, 1], per-image min-max of the RGB part."""
    rgb = np.moveaxis(np.asarray(image)[:3], 0, -1)
    return (rgb - rgb.min()) / max(float(rgb.max() - rgb.min()), 1e-12)


def plot_guided_backprop(
    inputs: np.ndarray, maps: Mapping[str, np.ndarray], path: Path, title: str
) -> Figure:
    """Rows: images; columns: the image, then each guided-backprop map (by its label) over it."""
    with image_grid(path, len(inputs), len(maps) + 1, cell=2.2) as axes:
        for row, image in enumerate(inputs):
            rgb = _display_rgb(image)
            image_axes(axes[row, 0], rgb, "input" if row == 0 else "")
            for col, (label, saliency) in enumerate(maps.items(), start=1):
                axes[row, col].imshow(0.5 * rgb.mean(axis=-1), cmap="gray", vmin=0, vmax=1)
                axes[row, col].imshow(saliency[row], cmap="inferno", alpha=0.7, vmin=0, vmax=1)
                axes[row, col].set_axis_off()
                if row == 0:
                    axes[row, col].set_title(label, fontsize=8)
        axes[0, 0].figure.suptitle(title)
    return axes[0, 0].figure


def plot_activation_maximisation(
    images: np.ndarray, filters: Sequence[int], path: Path, title: str
) -> Figure:
    """The optimised input of every filter (RGB part), in a square-ish grid."""
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    with image_grid(path, rows, cols, cell=1.8) as axes:
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, image, filter_index in zip(axes.flat, images, filters, strict=False):
            image_axes(ax, _display_rgb(image), f"filter {filter_index}")
        axes[0, 0].figure.suptitle(title)
    return axes[0, 0].figure


def plot_contact_sheet(
    images: Sequence[np.ndarray],
    captions: Sequence[str],
    flagged: Sequence[bool],
    path: Path,
    title: str,
) -> Figure:
    """Thumbnails in a grid, captions under them; flagged ones captioned in red."""
    cols = min(8, max(1, len(images)))
    rows = max(1, int(np.ceil(len(images) / cols)))
    with image_grid(path, rows, cols, cell=1.6) as axes:
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, image, caption, flag in zip(axes.flat, images, captions, flagged, strict=False):
            ax.imshow(image)
            ax.set_title(caption, fontsize=6, color="red" if flag else "black")
        axes[0, 0].figure.suptitle(title)
    return axes[0, 0].figure


def plot_contact_sheets(
    table: pd.DataFrame, images: list, classes: Sequence[str], folder: Path, size: int
) -> None:
    """Per predicted class a PNG of its least confident `size` images; index.html links them."""
    links = []
    for number, name in enumerate(classes):
        rows = table[table["predicted"] == name].sort_values("confidence").head(size)
        png = f"{number:02d}.png"
        plot_contact_sheet(
            [images[i] for i in rows.index],
            [f"{Path(i).name[:14]} ({c})" for i, c in zip(rows["id"], rows["class"], strict=True)],
            list(rows["class"] != name),
            folder / png,
            f"predicted {name}: {len(rows)} least confident (red: labelled otherwise)",
        )
        outliers = int((table.loc[table["predicted"] == name, "class"] != name).sum())
        links.append(
            f'<li><a href="{png}">{escape(name)}</a>: '
            f"{int((table['predicted'] == name).sum())} images, {outliers} labelled"
            f" otherwise</li>"
        )
    write_text(
        folder / "index.html",
        "<!doctype html><title>CLIP contact sheets</title><h1>CLIP contact sheets</h1>"
        f"<ul>{''.join(links)}</ul>\n",
    )
