"""The NeuroVis experiment: one AlexnetMap trained on Jacquard for CLS or for GRASP.

Both tasks use the same network, loss and hyperparameters; only the target map differs.
Every (object view, rotation) pair is a sample, as in the original loader, so an epoch
sees each view turned 0, 90, 180 and 270 degrees with the matching grasp map.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import yaml
from torch import Tensor
from torch.utils.data import Dataset

from visionflow.data.jacquard import PackedJacquard, rotate_grasps
from visionflow.io import safe_torch_load, write_text
from visionflow.metrics.grasp import (
    JAW_SCALE,
    class_accuracy,
    class_from_maps,
    class_predictions,
    decode_best_grasp,
    double_log_loss,
    grasp_accuracy,
    grasp_correct,
    rectangle_corners,
)
from visionflow.models.grasp import AlexnetMap, load_alexnet_features
from visionflow.train import engine
from visionflow.train.classifier import IMAGENET_MEAN, IMAGENET_STD
from visionflow.train.datamodule import ImageDataModule, eval_loader
from visionflow.train.module import MetricModule, with_step_lr

TASKS = ("cls", "grasp")
ROTATIONS = 4
RGB_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
RGB_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def rgbd_input(rgb: np.ndarray, depth: np.ndarray) -> torch.Tensor:
    """(4, S, S) input as the original's `process`: RGB ImageNet-normalised, depth minus its mean.

    The depth relief is clipped to [-1, 1] as in the original.
    """
    colour = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255
    colour = (colour - RGB_MEAN) / RGB_STD
    relief = torch.from_numpy(np.ascontiguousarray(depth)).float()
    relief = (relief - relief.mean()).clamp(-1, 1)
    return torch.cat([colour, relief[None]])


def grasp_target(raw_map: np.ndarray) -> torch.Tensor:
    """(6, S, S) normalised grasp map from a stored (S, S, 6) map in output pixels."""
    size = raw_map.shape[0]
    target = torch.from_numpy(np.array(raw_map, dtype=np.float32)).permute(2, 0, 1).clone()
    target[[0, 1, 3]] /= size
    target[4] = 2 * target[4] / (size * JAW_SCALE) - 1
    return target


def cls_target(mask: np.ndarray, label: int) -> torch.Tensor:
    """(6, S, S) class map: on the object +1 in the label's channel, -1 elsewhere, confidence 1."""
    size = mask.shape[0]
    values = torch.full((6,), -1.0)
    values[label], values[5] = 1.0, 1.0
    background = torch.full((6,), -1.0)
    background[5] = 0.0
    on_object = torch.from_numpy(np.ascontiguousarray(mask) > 0)[None]
    return (
        torch.where(on_object, values.view(6, 1, 1), background.view(6, 1, 1))
        .expand(6, size, size)
        .clone()
    )


class JacquardTaskDataset(Dataset):
    """(input, target map, label, padded ground-truth grasps) for every view and rotation."""

    def __init__(self, source: PackedJacquard, task: str, max_grasps: int) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.source, self.task, self.max_grasps = source, task, max_grasps

    def __len__(self) -> int:
        return len(self.source) * ROTATIONS

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, ...]:
        index = key[0] if isinstance(key, tuple) else key
        sample = self.source[index // ROTATIONS]
        turns = index % ROTATIONS
        rgb, depth = np.rot90(sample["rgb"], turns), np.rot90(sample["depth"], turns)
        size = rgb.shape[0]
        if self.task == "grasp":
            target = grasp_target(sample["maps"][turns])
        else:
            target = cls_target(np.rot90(sample["mask"], turns), sample["label"])
        grasps = np.full((self.max_grasps, 5), np.nan, dtype=np.float32)
        turned = rotate_grasps(sample["grasps"], turns, size)[: self.max_grasps]
        grasps[: len(turned)] = turned
        label = torch.tensor(sample["label"])
        return rgbd_input(rgb, depth), target, label, torch.from_numpy(grasps)


class MapModule(MetricModule):
    """AlexnetMap with the double-log loss; accuracy is CLS or GRASP accuracy by `task`."""

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, float], int]:
        rgbd, target, labels, grasps = batch
        pred = self(rgbd).float()
        if self.hparams.task == "cls":
            accuracy = class_accuracy(pred.detach(), labels)
        else:
            candidates = [g[~torch.isnan(g[:, 0])].cpu().numpy() for g in grasps]
            accuracy = grasp_accuracy(pred.detach().cpu(), candidates)
        return double_log_loss(pred, target), {"accuracy": accuracy}, len(labels)

    def on_train_epoch_start(self) -> None:
        """Train the AlexNet layers too from `unfreeze_epoch` (1-based) on, as the original."""
        start = self.hparams.get("unfreeze_epoch")
        self.model.set_backbone_trainable(start is not None and self.current_epoch + 1 >= start)

    def configure_optimizers(self) -> dict[str, Any]:
        """Adam over every parameter (frozen ones get no gradient) and a per-epoch StepLR."""
        return with_step_lr(torch.optim.Adam(self.parameters(), lr=self.hparams.lr), self.hparams)


def build_model(hparams: dict[str, Any]) -> AlexnetMap:
    """AlexnetMap with the configured dropout; AlexNet weights from a local file if given."""
    model = AlexnetMap(dropout=hparams["dropout"])
    load_alexnet_features(model, hparams.get("alexnet_weights"))
    return model


def _datasets(data_dir: Path, task: str, splits: tuple[str, ...]) -> list[JacquardTaskDataset]:
    sources = [PackedJacquard(data_dir, split) for split in splits]
    most = max(source.max_grasps for source in sources)
    return [JacquardTaskDataset(source, task, most) for source in sources]


def train(data_dir: Path, run_dir: Path, settings: dict[str, Any]) -> Path:
    """Train one task into `run_dir` (resumable); returns the final epoch's final.ckpt.

    The original reports its last epoch; every epoch is scored on the test split, so
    picking a "best" epoch by it would select on test data.
    """
    hparams = {k: v for k, v in settings.items() if k not in engine.EXECUTION_KEYS}
    write_text(run_dir / "config.yaml", yaml.safe_dump(settings, sort_keys=True))
    L.seed_everything(settings["seed"], workers=True, verbose=False)
    train_set, test_set = _datasets(data_dir, settings["task"], ("train", "test"))
    datamodule = ImageDataModule(
        train_set,
        test_set,
        batch_size=settings["batch_size"],
        workers=settings["workers"],
        seed=settings["seed"],
    )
    module = MapModule(build_model(hparams), hparams)
    return engine.fit(
        module,
        datamodule,
        run_dir,
        epochs=settings["epochs"],
        metrics=("loss", "accuracy"),
        best_by=None,
        **engine.parallelism(settings),
    )


def load_module(ckpt: Path) -> MapModule:
    """A trained MapModule from a visionflow checkpoint, in eval mode."""
    payload = safe_torch_load(ckpt)
    hparams = dict(payload["hyper_parameters"])
    model = AlexnetMap(dropout=hparams["dropout"])
    model.load_state_dict({k.removeprefix("model."): v for k, v in payload["state_dict"].items()})
    return MapModule(model, hparams).eval()


def test(ckpt: Path, data_dir: Path, split: str, batch_size: int, workers: int) -> dict[str, Any]:
    """Loss and task accuracy of a checkpoint on every view and rotation of a split."""
    module = load_module(ckpt)
    [dataset] = _datasets(data_dir, module.hparams.task, (split,))
    metrics = engine.evaluate(module, eval_loader(dataset, batch_size, workers))
    return metrics | {"task": module.hparams.task, "split": split, "samples": len(dataset)}


@torch.no_grad()
def _predict(module: MapModule, dataset: JacquardTaskDataset, indices: Sequence[int]) -> Tensor:
    batch = torch.stack([dataset[i][0] for i in indices])
    return module(batch).float()


def prediction_panels(ckpt: Path, data_dir: Path, count: int) -> list[dict[str, Any]]:
    """Figure panels for the first `count` test views (unrotated): RGB, rectangles, confidence."""
    module = load_module(ckpt)
    [dataset] = _datasets(data_dir, module.hparams.task, ("test",))
    indices = list(range(0, min(count * ROTATIONS, len(dataset)), ROTATIONS))
    panels = []
    for index, pred in zip(indices, _predict(module, dataset, indices), strict=True):
        sample = dataset.source[index // ROTATIONS]
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
                "task": settings["task"].upper(),
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
    module = load_module(ckpt)
    [dataset] = _datasets(data_dir, module.hparams.task, (split,))
    names = [dataset.source.classes[k] for k in sorted(dataset.source.classes)]
    matrix = np.zeros((len(names), len(names)), dtype=np.int64)
    for start in range(0, len(dataset), 32):
        indices = range(start, min(start + 32, len(dataset)))
        guesses = class_predictions(_predict(module, dataset, indices))
        for index, guess in zip(indices, guesses.tolist(), strict=True):
            matrix[dataset.source.labels[index // ROTATIONS], guess] += 1
    return matrix, names
