"""The saliency experiment's test and run stages: metrics per task, maps for new images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from visionflow.data.saliency import SaliencyStore
from visionflow.io import BadInputError
from visionflow.metrics.saliency import METRICS, all_metrics
from visionflow.train.saliency import load_export

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@torch.no_grad()
def evaluate_export(export: Path, store_dir: Path, split: str, batch_size: int) -> pd.DataFrame:
    """Mean BCE, NSS, CC, SIM and KL per task over the split's images that have its map.

    NSS is undefined for a map with no pixel above 0.5; those images are left out of its mean.
    """
    model, settings = load_export(export)
    model.eval()
    store = SaliencyStore(store_dir, split, settings["tasks"])
    rows = []
    for task_id, task in enumerate(store.tasks):
        have = np.flatnonzero(store.has[:, task_id])
        scores: dict[str, list[torch.Tensor]] = {name: [] for name in METRICS}
        for start in tqdm(range(0, len(have), batch_size), desc=f"test {task}", unit="batch"):
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
def run_export(export: Path, images: torch.Tensor) -> dict[str, np.ndarray]:
    """Each task's saliency maps of `images` as uint8 (N, H, W)."""
    model, settings = load_export(export)
    model.eval()
    return {
        task: (torch.sigmoid(model(task_id, images)).squeeze(1) * 255).round().byte().numpy()
        for task_id, task in enumerate(tqdm(settings["tasks"], desc="run", unit="task"))
    }
