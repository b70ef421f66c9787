"""Evaluation of NeuroVis checkpoints: accuracy, prediction panels, CLS confusion, the table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from torch import Tensor

from visionflow.data.jacquard.grasp_maps import decode_best_grasp, rectangle_corners
from visionflow.engine.datamodule import eval_loader
from visionflow.engine.trainer import evaluate as evaluate_module
from visionflow.experiments.grasp.data import TURNS, JacquardTaskDataset, task_datasets
from visionflow.experiments.grasp.module import MapModule
from visionflow.io import safe_torch_load
from visionflow.metrics.grasp import class_from_maps, class_predictions, grasp_correct
from visionflow.models.grasp import AlexnetMap


def run_label(settings: dict[str, Any]) -> str:
    """How figures and tables name a task's run."""
    return settings["task"].upper()


def load(ckpt: Path) -> MapModule:
    """A trained MapModule from a visionflow checkpoint, in eval mode."""
    payload = safe_torch_load(ckpt)
    hparams = dict(payload["hyper_parameters"])
    model = AlexnetMap(dropout=hparams["dropout"])
    model.load_state_dict({k.removeprefix("model."): v for k, v in payload["state_dict"].items()})
    return MapModule(model, hparams).eval()


def evaluate(
    ckpt: Path, data_dir: Path, split: str, batch_size: int, workers: int
) -> dict[str, Any]:
    """Loss and task accuracy of a checkpoint on every view and rotation of a split."""
    module = load(ckpt)
    [dataset] = task_datasets(data_dir, module.hparams.task, (split,))
    metrics = evaluate_module(module, eval_loader(dataset, batch_size, workers))
    return metrics | {"task": module.hparams.task, "split": split, "samples": len(dataset)}


@torch.no_grad()
def predict(module: MapModule, dataset: JacquardTaskDataset, indices: Sequence[int]) -> Tensor:
    """The predicted maps of samples `indices` of `dataset`, as float (B, 6, H, W)."""
    batch = torch.stack([dataset[i][0] for i in indices])
    return module(batch).float()


def prediction_panels(ckpt: Path, data_dir: Path, count: int) -> list[dict[str, Any]]:
    """Figure panels for the first `count` test views (unrotated): RGB, rectangles, confidence."""
    module = load(ckpt)
    [dataset] = task_datasets(data_dir, module.hparams.task, ("test",))
    indices = list(range(0, min(count * TURNS, len(dataset)), TURNS))
    panels = []
    for index, pred in zip(indices, predict(module, dataset, indices), strict=True):
        sample = dataset.source[index // TURNS]
        truth = [rectangle_corners(*g) for g in sample["grasps"]]
        name = dataset.source.classes[sample["label"]]
        if module.hparams.task == "grasp":
            correct = grasp_correct(pred, sample["grasps"])
            predicted = [rectangle_corners(*decode_best_grasp(pred))]
        else:
            guess = class_from_maps(pred)
            correct, predicted = guess == sample["label"], []
            name = f"{name} as {dataset.source.classes[guess]}"
        panels.append(
            {
                "rgb": sample["rgb"],
                "truth": truth,
                "predicted": predicted,
                "confidence": pred[5].numpy(),
                "title": f"{name} {'correct' if correct else 'wrong'}",
            }
        )
    return panels


def summarize(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """The seed's table: train and test accuracy per task with epochs, lr and loss."""
    rows = []
    for run_dir in run_dirs:
        settings = yaml.safe_load((run_dir / "config.yaml").read_text())
        scores = {
            split: json.loads((run_dir / "eval" / f"{split}.json").read_text())
            for split in ("train", "test")
        }
        rows.append(
            {
                "task": run_label(settings),
                "train_accuracy": scores["train"]["accuracy"],
                "test_accuracy": scores["test"]["accuracy"],
                "epochs": settings["epochs"],
                "lr": settings["lr"],
                "loss": "double-log",
            }
        )
    return pd.DataFrame(rows)


def confusion(ckpt: Path, data_dir: Path, split: str = "test") -> tuple[np.ndarray, list[str]]:
    """CLS confusion counts (rows true, columns predicted) over every view and rotation."""
    module = load(ckpt)
    [dataset] = task_datasets(data_dir, module.hparams.task, (split,))
    names = [dataset.source.classes[k] for k in sorted(dataset.source.classes)]
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for start in range(0, len(dataset), 32):
        indices = range(start, min(start + 32, len(dataset)))
        guesses = class_predictions(predict(module, dataset, indices))
        for index, guess in zip(indices, guesses.tolist(), strict=True):
            matrix[dataset.source.labels[index // TURNS], guess] += 1
    return matrix, names
