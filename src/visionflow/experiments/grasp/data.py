"""NeuroVis samples: every (object view, rotation) pair of a prepared Jacquard split as
(RGB-D input, target map, label, padded ground-truth grasps), as the original's loader."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from visionflow.data.jacquard.grasp_maps import JAW_SCALE, ROTATIONS, rotate_grasps
from visionflow.data.jacquard.store import PackedJacquard
from visionflow.experiments.grasp import TASKS
from visionflow.models.normalisation import IMAGENET_MEAN, IMAGENET_STD

TURNS = len(ROTATIONS)  # every view is a sample in each of its quarter turns
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
    """(input, target map, label, padded ground-truth grasps) for every rotation of the
    `views` of a split (all of them by default); sample i is view i // 4 turned i % 4."""

    def __init__(
        self,
        source: PackedJacquard,
        task: str,
        max_grasps: int,
        views: Sequence[int] | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.source, self.task, self.max_grasps = source, task, max_grasps
        self.views = np.arange(len(source)) if views is None else np.asarray(views, np.int64)

    def __len__(self) -> int:
        return len(self.views) * TURNS

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, ...]:
        index = key[0] if isinstance(key, tuple) else key
        sample = self.source[int(self.views[index // TURNS])]
        turns = index % TURNS
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


def task_datasets(data_dir: Path, task: str, splits: tuple[str, ...]) -> list[JacquardTaskDataset]:
    """Every view and rotation of each of `splits`, grasps padded to the same count."""
    sources = [PackedJacquard(data_dir, split) for split in splits]
    most = max(source.max_grasps for source in sources)
    return [JacquardTaskDataset(source, task, most) for source in sources]


def held_out_views(objects: Sequence[str], fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """(kept, held-out) view indices: round(fraction x objects) objects, drawn with `seed`,
    are held out with all their views."""
    names = np.unique(np.asarray(objects))
    count = round(fraction * len(names))
    held = np.random.default_rng(seed).choice(names, count, replace=False)
    out = np.isin(np.asarray(objects), held)
    return np.flatnonzero(~out), np.flatnonzero(out)
