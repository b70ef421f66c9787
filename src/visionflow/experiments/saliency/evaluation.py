"""The saliency experiment's test and run stages (metrics per task, maps of new images), the
grid points side by side, and per-task main-network weights of an export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from visionflow.data.saliency import PackedSaliency
from visionflow.experiments.saliency.training import load
from visionflow.io import BadInputError, atomic_directory
from visionflow.metrics.saliency import METRICS, all_metrics
from visionflow.progress import progress_bar

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@torch.no_grad()
def evaluate(export: Path, data_dir: Path, split: str, batch_size: int) -> pd.DataFrame:
    """Mean BCE, NSS, CC, SIM and KL per task over the split's images that have its map.

    NSS is undefined for a map with no pixel above 0.5; those images are left out of its mean.
    """
    model, settings = load(export)
    model.eval()
    store = PackedSaliency(data_dir, split, settings["tasks"])
    rows = []
    for task_id, task in enumerate(store.tasks):
        have = np.flatnonzero(store.has[:, task_id])
        scores: dict[str, list[torch.Tensor]] = {name: [] for name in METRICS}
        starts = range(0, len(have), batch_size)
        for start in progress_bar(starts, desc=f"test {task}", unit="batch"):
            samples = [store[int(i)] for i in have[start : start + batch_size]]
            images = torch.stack([image for image, _, _ in samples])
            target = torch.stack([maps[task] for _, maps, _ in samples]).float() / 255
            pred = torch.sigmoid(model(task_id, images)).squeeze(1)
            for name, values in all_metrics(pred, target).items():
                scores[name].append(values)
        means = {name: float(np.nanmean(torch.cat(v).numpy())) for name, v in scores.items()}
        rows.append({"task": task, "images": len(have), **means})
    return pd.DataFrame(rows)


def read_images(folder: Path, size: tuple[int, int]) -> tuple[list[str], torch.Tensor]:
    """Names and uint8 (N, 3, H, W) images of a folder, resized to `size` (H, W)."""
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise BadInputError(folder, f"no {'/'.join(IMAGE_SUFFIXES)} images to run on")
    images = []
    for path in paths:
        try:
            with Image.open(path) as handle:
                resized = handle.convert("RGB").resize(size[::-1], Image.BILINEAR)
        except OSError as exc:
            raise BadInputError(path, f"unreadable image: {exc}") from None
        images.append(torch.from_numpy(np.array(resized)).permute(2, 0, 1))
    return [p.stem for p in paths], torch.stack(images)


@torch.no_grad()
def run_maps(export: Path, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Each task's saliency maps of `images` as uint8 (N, H, W)."""
    model, settings = load(export)
    model.eval()
    return {
        task: (torch.sigmoid(model(task_id, images)).squeeze(1) * 255).round().byte().numpy()
        for task_id, task in enumerate(progress_bar(settings["tasks"], desc="run", unit="task"))
    }


def summarize(tables: Sequence[Path], grid: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """One row per grid point: its overrides and its test metrics averaged over tasks."""
    if len(grid) != len(tables):
        raise BadInputError(tables[0], f"{len(tables)} tables for {len(grid)} points")
    rows = []
    for point, (overrides, path) in enumerate(zip(grid, tables, strict=True)):
        means = pd.read_csv(path).drop(columns=["task", "images"]).mean(numeric_only=True)
        rows.append({"point": f"gp{point}", **overrides, **means.to_dict()})
    return pd.DataFrame(rows)


def task_weights(export: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Each task's full main-network state dict of an export (what pretrain_weights takes)."""
    model, settings = load(export)
    shared = dict(model.model.state_dict())
    return {
        task: shared | {k: v.detach() for k, v in model.weights_for(task_id).items()}
        for task_id, task in enumerate(settings["tasks"])
    }


def save_maps(folder: Path, names: Sequence[str], maps: dict[str, np.ndarray]) -> None:
    """`run`'s maps as <folder>/<task>/<image>.png; the folder appears whole or not at all."""
    with atomic_directory(folder) as staging:
        for task, task_maps in maps.items():
            (staging / task).mkdir()
            for name, saliency in zip(names, task_maps, strict=True):
                Image.fromarray(saliency).save(staging / task / f"{name}.png")
