"""Evaluation of detectors: predictions on the validation frames, P/R/F1 and COCO mAP, the table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from visionflow.engine.datamodule import eval_loader
from visionflow.engine.recipe import run_history
from visionflow.experiments.detection.frames import DetectionFrames, collate, prepared, split_frames
from visionflow.experiments.detection.training import MODEL_KEYS, build_model
from visionflow.io import BadInputError, safe_torch_load
from visionflow.metrics.detection import coco_map, prf_grid, prf_per_class
from visionflow.progress import progress_bar


def load(ckpt: str | Path) -> nn.Module:
    """The trained detector of a visionflow checkpoint, in eval mode."""
    state = safe_torch_load(ckpt)
    hparams = state.get("hyper_parameters", {})
    if not set(MODEL_KEYS) <= set(hparams):
        raise BadInputError(ckpt, "not a visionflow detection checkpoint (no model settings)")
    model = build_model(hparams)
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    model.load_state_dict(weights)
    return model.eval()


@torch.no_grad()
def predict(
    ckpt: str | Path, data_dir: Path, root: Path, batch_size: int, workers: int = 0
) -> pd.DataFrame:
    """Detections of a checkpoint on the validation frames of a prepared CVAT store (frames
    under the raw `root`): task, frame, label, score and box per detection."""
    model = load(ckpt)
    table, split_table, labels = prepared(data_dir)
    frames = split_frames(table, split_table, "val")
    dataset = DetectionFrames(frames, root, labels)
    rows = []
    loader = eval_loader(dataset, batch_size, workers, collate)
    done = 0
    for images, _ in progress_bar(loader, desc="detect", unit="batch"):
        for output in model(images):
            frame = dataset.frames[done]
            done += 1
            for box, label, score in zip(
                output["boxes"].tolist(),
                output["labels"].tolist(),
                output["scores"].tolist(),
                strict=True,
            ):
                rows.append(
                    {
                        "task": frame["task"],
                        "frame": frame["frame"],
                        "label": labels[label - 1],
                        "score": score,
                        "xmin": box[0],
                        "ymin": box[1],
                        "xmax": box[2],
                        "ymax": box[3],
                    }
                )
    columns = ["task", "frame", "label", "score", "xmin", "ymin", "xmax", "ymax"]
    return pd.DataFrame(rows, columns=columns)


def evaluate(
    predictions: pd.DataFrame,
    data_dir: Path,
    score_thresholds: Sequence[float],
    iou_thresholds: Sequence[float],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """P/R/F1 of predictions over score x IoU thresholds, pooled and per class, and COCO
    mAP, on the validation frames of a prepared CVAT store."""
    table, split_table, labels = prepared(data_dir)
    truth = split_frames(table, split_table, "val")
    grid = prf_grid(predictions, truth, score_thresholds, iou_thresholds)
    per_class = prf_per_class(predictions, truth, labels, score_thresholds, iou_thresholds)
    return grid, per_class, coco_map(predictions, truth, labels)


def run_label(settings: dict[str, Any]) -> str:
    """How figures and tables name a variant's run."""
    return settings["variant"]


def scores(run_dirs: Sequence[Path]) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Each variant run's P/R/F1 grid and COCO numbers, by run folder name."""
    grids = {run.name: pd.read_csv(run / "eval" / "prf.csv") for run in map(Path, run_dirs)}
    maps = {
        run.name: json.loads((run / "eval" / "coco.json").read_text())
        for run in map(Path, run_dirs)
    }
    return grids, maps


def summarize(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """One row per variant: epochs, best val loss and epoch, best F1 at IoU 0.5, COCO mAP."""
    runs = run_history(run_dirs, run_label)
    grids, maps = scores(run_dirs)
    rows = []
    for variant, history in runs.items():
        val = history[(history["split"] == "val") & (history["epoch"] > 0)]
        best = val.loc[val["loss"].idxmin()]
        grid = grids[variant]
        at_half = grid[np.isclose(grid["iou_threshold"], 0.5)]
        top = at_half.loc[at_half["f1"].idxmax()] if len(at_half) else None
        rows.append(
            {
                "variant": variant,
                "epochs": int(val["epoch"].max()),
                "best_val_loss": float(best["loss"]),
                "best_epoch": int(best["epoch"]),
                "f1_iou50": None if top is None else float(top["f1"]),
                "score_threshold": None if top is None else float(top["score_threshold"]),
                "map": maps[variant].get("map"),
                "map_50": maps[variant].get("map_50"),
            }
        )
    return pd.DataFrame(rows)
