"""Evaluation of CORnet-S100 checkpoints and the table of a study's runs."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from visionflow.data.miniimagenet import PackedImages
from visionflow.engine.classifier import ImageClassifier
from visionflow.engine.datamodule import eval_loader
from visionflow.engine.recipe import run_history
from visionflow.engine.sampling import SeededImageDataset
from visionflow.engine.trainer import evaluate as evaluate_module
from visionflow.experiments.cornet.training import build_model, eval_transform
from visionflow.figures import split_rows
from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.cornet import CORnetS100, load_cornet_weights

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


def run_label(settings: dict[str, Any]) -> str:
    """How figures and tables name a run."""
    return f"outer_times={settings['outer_times']}"


def load(
    ckpt: Path, num_classes: int | None = None, **overrides: Any
) -> tuple[CORnetS100, dict[str, Any]]:
    """A trained S100 in eval mode and its settings.

    visionflow checkpoints carry their settings; for an original CORnet file give
    `outer_times` and `width` in `overrides`. `num_classes`, the classes of the data it is
    used on, must match the checkpoint's.
    """
    hparams = dict(safe_torch_load(ckpt).get("hyper_parameters", {}))
    hparams |= {k: v for k, v in overrides.items() if v is not None}
    if num_classes is not None:
        trained_for = hparams.setdefault("num_classes", num_classes)
        if trained_for != num_classes:
            raise BadInputError(ckpt, f"trained for {trained_for} classes, data has {num_classes}")
    hparams.setdefault("width", 1.0)
    if "outer_times" not in hparams:
        raise BadInputError(ckpt, "no model settings stored; pass --outer-times (and --width)")
    model = build_model(hparams)
    load_cornet_weights(model, ckpt)
    return model.eval(), hparams


def evaluate(
    ckpt: Path, data_dir: Path, split: str, batch_size: int, workers: int, **overrides: Any
) -> dict[str, Any]:
    """top1/top5/loss of a checkpoint on a prepared split (the original `run.py test`)."""
    images = PackedImages(data_dir, split)
    model, hparams = load(ckpt, images.num_classes, **overrides)
    dataset = SeededImageDataset(
        images,
        eval_transform(hparams.get("resize_size", 256), hparams.get("crop_size", 224)),
        seed=0,
    )
    metrics = evaluate_module(ImageClassifier(model, {}), eval_loader(dataset, batch_size, workers))
    return metrics | {"samples": len(images), "checkpoint": str(ckpt), "split": split}


def summarize(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """One row per run: best and final validation top-1/top-5 (fractions) and test scores.

    The best epoch is the earliest with maximal validation top-1; test columns are NaN
    for runs without eval/test.json.
    """
    rows = []
    for run_dir in map(Path, run_dirs):
        [(run, frame)] = run_history([run_dir], run_label).items()
        test_path = run_dir / "eval" / "test.json"
        test = json.loads(test_path.read_text()) if test_path.exists() else {}
        val = split_rows(frame, run, "val", True, ["top1", "top5"]).reset_index(drop=True)
        if val["top1"].isna().all():
            raise ValueError(f"run {run!r} has no validation top-1 values")
        best = val.loc[val["top1"].idxmax()]
        final = val.iloc[-1]
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
