"""All figures of the project, drawn with one shared style and saved atomically."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from cycler import cycler  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
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


@contextlib.contextmanager
def _figure(path: Path) -> Iterator[Axes]:
    """Yield styled axes; on success lay out and save the figure atomically to `path`."""
    path = Path(path)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        try:
            yield ax
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            fig.tight_layout()
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=path.suffix.lstrip(".").lower() or "png")
        finally:
            plt.close(fig)


def _split(frame: pd.DataFrame, run: str, split: str, required: bool) -> pd.DataFrame:
    """Rows of one split sorted by epoch (last row wins for a repeated epoch)."""
    missing = {"epoch", "split", "loss", "top1", "top5"} - set(frame.columns)
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
            val = _split(frame, run, "val", required=True)
            ax.plot(val["epoch"], 100 * val["top1"], marker="o", label=run)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation top-1 (%)")
        ax.set_title(title)
        ax.legend()


def plot_loss(runs: Mapping[str, pd.DataFrame], path: Path, title: str = "Loss") -> None:
    """Plot train (solid) and validation (dashed) loss against epoch, one colour per run."""
    _check_runs(runs)
    with _figure(path) as ax:
        handles = []
        for i, (run, frame) in enumerate(runs.items()):
            color = COLORS[i % len(COLORS)]
            val = _split(frame, run, "val", required=True)
            train = _split(frame, run, "train", required=False)
            ax.plot(train["epoch"], train["loss"], color=color, linestyle="-")
            ax.plot(val["epoch"], val["loss"], color=color, linestyle="--")
            handles.append(Line2D([], [], color=color, linewidth=6, label=run))
        handles += [
            Line2D([], [], color="0.3", linestyle="-", label="train"),
            Line2D([], [], color="0.3", linestyle="--", label="validation"),
        ]
        ax.set_xlabel("epoch")
        ax.set_ylabel("cross-entropy loss")
        ax.set_title(title)
        ax.legend(handles=handles)


def summarize_runs(runs: Mapping[str, pd.DataFrame], tests: Mapping[str, dict]) -> pd.DataFrame:
    """One row per run: best and final validation top-1/top-5 (fractions) and test scores.

    The best epoch is the earliest with maximal validation top-1; test columns are NaN
    for runs missing from `tests`.
    """
    rows = []
    for run, frame in runs.items():
        val = _split(frame, run, "val", required=True).reset_index(drop=True)
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
