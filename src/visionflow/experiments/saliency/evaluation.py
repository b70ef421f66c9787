"""The saliency experiment's test, run and evaluation-set stages (metrics per task and per
image, maps of new images, CC and KL of raw folders), the grid points side by side, and
per-task main-network weights of an export."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import Tensor

from visionflow.data.saliency import PackedSaliency, labelled_images, read_pair
from visionflow.data.saliency_processing import MapProcessing
from visionflow.experiments.saliency.training import load
from visionflow.io import BadInputError, atomic_directory
from visionflow.metrics.saliency import METRICS, bce, map_metrics
from visionflow.models.hypernet import HyperNetwork
from visionflow.progress import progress_bar

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SET_COLUMNS = ["Model", "CC_mean", "CC_std", "KL_mean", "KL_std", "images"]


def _processed(maps: Tensor, processing: MapProcessing) -> Tensor:
    """Each (H, W) map of a batch through `processing` (float64 unless it is the identity)."""
    if processing.identity:
        return maps
    return torch.stack([torch.as_tensor(processing(m.numpy())) for m in maps])


def _scores(pred: Tensor, target: Tensor, postprocess: MapProcessing) -> dict[str, Tensor]:
    """BCE of the predicted probabilities, NSS/CC/SIM/KL of the post-processed prediction,
    each against the (pre-processed) target, per image (the original's tester)."""
    return {"bce": bce(pred, target)} | map_metrics(_processed(pred, postprocess), target)


def _task_ids(settings: dict[str, Any], tasks: Sequence[str] | None) -> dict[str, int]:
    """{task: model task id} of `tasks` (all the export's when None)."""
    chosen = list(tasks or settings["tasks"])
    unknown = [task for task in chosen if task not in settings["tasks"]]
    if unknown:
        raise BadInputError("tasks", f"{unknown} are not tasks of the export ({settings['tasks']})")
    return {task: settings["tasks"].index(task) for task in chosen}


@torch.no_grad()
def evaluate(
    export: Path,
    data_dir: Path,
    split: str,
    batch_size: int,
    tasks: Sequence[str] | None = None,
    processing: dict[str, dict[str, Any]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean BCE, NSS, CC, SIM and KL per task over the split's images that have its map, and
    the same per image (task, image, metrics).

    `processing` may hold `preprocess` (applied to the maps) and `postprocess` (to the
    predictions before all metrics but BCE). NSS is undefined for a map with no pixel above
    0.5; those images are left out of its mean.
    """
    model, settings = load(export)
    model.eval()
    pre, post = (
        MapProcessing((processing or {}).get(key, {})) for key in ("preprocess", "postprocess")
    )
    ids = _task_ids(settings, tasks)
    store = PackedSaliency(data_dir, split, list(ids))
    if not len(store):
        raise BadInputError(data_dir / "manifest.parquet", f"the store's {split} split is empty")
    rows, images = [], []
    for column, (task, task_id) in enumerate(ids.items()):
        have = np.flatnonzero(store.has[:, column])
        scores: dict[str, list[Tensor]] = {name: [] for name in METRICS}
        for start in progress_bar(
            range(0, len(have), batch_size), desc=f"test {task}", unit="batch"
        ):
            samples = [store[int(i)] for i in have[start : start + batch_size]]
            batch = torch.stack([image for image, _, _ in samples])
            target = _processed(torch.stack([maps[task] for _, maps, _ in samples]) / 255, pre)
            pred = torch.sigmoid(model(task_id, batch)).squeeze(1)
            for name, values in _scores(pred, target, post).items():
                scores[name].append(values)
        values = {name: torch.cat(v).numpy() for name, v in scores.items()}
        rows.append(
            {"task": task, "images": len(have)}
            | {n: float(np.nanmean(v)) for n, v in values.items()}
        )
        names = [store.names[int(i)] for i in have]
        images.append(pd.DataFrame({"task": task, "image": names} | values))
    return pd.DataFrame(rows), pd.concat(images, ignore_index=True)


@torch.no_grad()
def evaluate_set(
    model: HyperNetwork,
    task_ids: dict[str, int],
    root: Path,
    processing: dict[str, dict[str, Any]],
) -> pd.DataFrame:
    """The original's TesterFinal on one raw folder (`images/`, `saliencies/<task>/`): every
    image with the task's map at its own size, one at a time; CC and KL of the post-processed
    prediction against the pre-processed map, mean and population std (NaN left out)."""
    pre, post = (MapProcessing(processing.get(key, {})) for key in ("preprocess", "postprocess"))
    rows = []
    for task, task_id in task_ids.items():
        found = labelled_images(root, task)
        values: dict[str, list[float]] = {"cc": [], "kl": []}
        for _, image_path, map_path in progress_bar(found, desc=f"{root.name} {task}", unit="img"):
            image, saliency = read_pair(image_path, map_path)
            target = _processed(torch.from_numpy(saliency)[None] / 255, pre)
            pred = torch.sigmoid(model(task_id, torch.from_numpy(image).permute(2, 0, 1)[None]))
            scores = map_metrics(_processed(pred[:, 0], post), target)
            for name in values:
                values[name].append(float(scores[name][0]))
        cc, kl = np.asarray(values["cc"]), np.asarray(values["kl"])
        stats = (
            [np.nanmean(cc), np.nanstd(cc), np.nanmean(kl), np.nanstd(kl)]
            if found
            else [np.nan] * 4
        )
        rows.append([task, *stats, len(found)])
    return pd.DataFrame(rows, columns=SET_COLUMNS)


def evaluate_sets(
    export: Path,
    sets: Sequence[dict[str, str]],
    tasks: Sequence[str] | None,
    processing: dict[str, dict[str, Any]],
) -> dict[str, pd.DataFrame]:
    """`evaluate_set` of each evaluation set ({name, root, ...}) by name, for `tasks` (all the
    export's when None)."""
    model, settings = load(export)
    model.eval()
    ids = _task_ids(settings, tasks)
    return {s["name"]: evaluate_set(model, ids, Path(s["root"]), processing) for s in sets}


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
def run_maps(
    export: Path,
    images: torch.Tensor,
    tasks: Sequence[str] | None = None,
    postprocess: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Each task's saliency maps of `images`, one image at a time as the original's runner
    (with `use_eval_mode` off, BatchNorm sees that image alone), post-processed, clipped to
    [0, 1] and as uint8 (N, H, W)."""
    model, settings = load(export)
    model.eval()
    post = MapProcessing(postprocess or {})
    maps = {}
    for task, task_id in progress_bar(_task_ids(settings, tasks).items(), desc="run", unit="task"):
        pred = torch.cat([torch.sigmoid(model(task_id, image[None])) for image in images])
        maps[task] = (_processed(pred.squeeze(1), post).clamp(0, 1) * 255).round().byte().numpy()
    return maps


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
