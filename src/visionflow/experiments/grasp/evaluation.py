"""Evaluation of NeuroVis checkpoints: accuracy, prediction panels, CLS confusion, the table."""

from __future__ import annotations

import itertools
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
from visionflow.io import BadInputError, safe_torch_load
from visionflow.metrics.grasp import class_from_maps, class_predictions, grasp_correct
from visionflow.models.grasp import AlexnetMap, load_map_state

ORIGINAL_DROPOUT = 0.3  # AlexnetMap_v3's; dropout does nothing in eval mode


def run_label(settings: dict[str, Any]) -> str:
    """How figures and tables name a task's run."""
    return settings["task"].upper()


def load(ckpt: Path, task: str | None = None) -> MapModule:
    """A MapModule in eval mode from a visionflow checkpoint, or from an original NeuroVis
    weights file (a bare `AlexnetMap_v3` state dict, which does not say its `task`)."""
    payload = safe_torch_load(ckpt)
    if not isinstance(payload, dict):
        raise BadInputError(ckpt, f"expected a state dict, found {type(payload).__name__}")
    if "hyper_parameters" in payload:
        hparams = dict(payload["hyper_parameters"])
        state = {k.removeprefix("model."): v for k, v in payload["state_dict"].items()}
        if task not in (None, hparams["task"]):
            raise BadInputError(ckpt, f"a {hparams['task']} checkpoint, not {task}")
    elif task is None:
        raise BadInputError(ckpt, "an original NeuroVis state dict: give its task (cls or grasp)")
    else:
        hparams, state = {"task": task, "dropout": ORIGINAL_DROPOUT}, payload
    model = AlexnetMap(dropout=hparams["dropout"])
    load_map_state(model, state, ckpt)
    return MapModule(model, hparams).eval()


def evaluate(
    ckpt: Path,
    data_dir: Path,
    split: str,
    batch_size: int,
    workers: int,
    task: str | None = None,
) -> dict[str, Any]:
    """Loss and task accuracy of a checkpoint on every view and rotation of a split."""
    module = load(ckpt, task)
    [dataset] = task_datasets(data_dir, module.hparams.task, (split,))
    metrics = evaluate_module(module, eval_loader(dataset, batch_size, workers))
    return metrics | {
        "task": module.hparams.task,
        "split": split,
        "samples": len(dataset),
        "checkpoint": str(ckpt),
    }


@torch.no_grad()
def predict(module: MapModule, dataset: JacquardTaskDataset, indices: Sequence[int]) -> Tensor:
    """The predicted maps of samples `indices` of `dataset`, as float (B, 6, H, W)."""
    batch = torch.stack([dataset[i][0] for i in indices])
    return module(batch).float()


def spread_over_classes(labels: np.ndarray, count: int) -> list[int]:
    """Up to `count` positions of `labels`: each class's first in turn, then each's second..."""
    groups = [np.flatnonzero(labels == label) for label in np.unique(labels)]
    turns = itertools.zip_longest(*groups)
    return [int(position) for turn in turns for position in turn if position is not None][:count]


def prediction_panels(module: MapModule, data_dir: Path, count: int) -> list[dict[str, Any]]:
    """Figure panels for `count` test views (unrotated) spread over the classes: RGB, the
    predicted map ("predicted", (6, H, W)), the target map, the rectangles, the title."""
    [dataset] = task_datasets(data_dir, module.hparams.task, ("test",))
    indices = [TURNS * view for view in spread_over_classes(dataset.source.labels, count)]
    panels = []
    for index, pred in zip(indices, predict(module, dataset, indices), strict=True):
        sample = dataset.source[index // TURNS]
        name = dataset.source.classes[sample["label"]]
        if module.hparams.task == "grasp":
            correct = grasp_correct(pred, sample["grasps"])
            rectangles = [rectangle_corners(*decode_best_grasp(pred))]
        else:
            guess = class_from_maps(pred)
            correct, rectangles = guess == sample["label"], []
            name = f"{name} as {dataset.source.classes[guess]}"
        panels.append(
            {
                "rgb": sample["rgb"],
                "truth": [rectangle_corners(*g) for g in sample["grasps"]],
                "rectangles": rectangles,
                "predicted": pred.numpy(),
                "target": dataset[index][1].numpy(),
                "title": f"{name} {'correct' if correct else 'wrong'}",
            }
        )
    return panels


def summarize(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """The seed's table: train and test accuracy per task with epochs, lr and loss; the
    source is "trained" or the original weights file the task was scored from."""
    rows = []
    for run_dir in map(Path, run_dirs):
        scores = {
            split: json.loads((run_dir / "eval" / f"{split}.json").read_text())
            for split in ("train", "test")
        }
        scored = Path(scores["test"]["checkpoint"])
        trained = scored.name == "final.ckpt" and scored.parent.parent == run_dir
        settings = yaml.safe_load((run_dir / "config.yaml").read_text()) if trained else {}
        rows.append(
            {
                "task": scores["test"]["task"].upper(),
                "train_accuracy": scores["train"]["accuracy"],
                "test_accuracy": scores["test"]["accuracy"],
                "epochs": settings.get("epochs"),
                "lr": settings.get("lr"),
                "loss": "double-log",
                "source": "trained" if trained else str(scored),
            }
        )
    return pd.DataFrame(rows)


def confusion(
    module: MapModule, data_dir: Path, split: str = "test"
) -> tuple[np.ndarray, list[str]]:
    """CLS confusion counts (rows true, columns predicted) over every view and rotation."""
    [dataset] = task_datasets(data_dir, module.hparams.task, (split,))
    names = [dataset.source.classes[k] for k in sorted(dataset.source.classes)]
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for start in range(0, len(dataset), 32):
        indices = range(start, min(start + 32, len(dataset)))
        guesses = class_predictions(predict(module, dataset, indices))
        for index, guess in zip(indices, guesses.tolist(), strict=True):
            matrix[dataset.source.labels[index // TURNS], guess] += 1
    return matrix, names
