"""Train/val splits of annotated detection frames: every n-th, a given list, or feature space."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image, UnidentifiedImageError
from sklearn.cluster import KMeans
from sklearn.manifold import TSNE

from visionflow.data.cvat.crop import crop_rectangle
from visionflow.io import BadInputError, write_table
from visionflow.models.embedding import resnet18_embedder
from visionflow.models.normalisation import IMAGENET_MEAN, IMAGENET_STD
from visionflow.progress import progress_bar

METHODS = ("every_nth", "list", "feature_space")
FRAME_COLUMNS = ["task", "frame", "image", "width", "height"]
KMEANS_INITS = 10
MEAN, STD = (np.array(v, dtype=np.float32) for v in (IMAGENET_MEAN, IMAGENET_STD))


def frames(table: pd.DataFrame) -> pd.DataFrame:
    """One row per frame of an annotation table, sorted by task and frame.

    Columns task, frame, image, width, height, and boxes (how many boxes; 0 for a background frame).
    """
    boxes = table.groupby(["task", "frame"], sort=True)["label"].count().rename("boxes")
    unique = table.drop_duplicates(["task", "frame"]).set_index(["task", "frame"])
    joined = unique[FRAME_COLUMNS[2:]].join(boxes).reset_index()
    return joined.sort_values(["task", "frame"], ignore_index=True)


def _split_table(frames: pd.DataFrame, val: np.ndarray, cluster: Any = -1) -> pd.DataFrame:
    """The split table of `frames` given a boolean validation mask."""
    return pd.DataFrame(
        {
            "task": frames["task"].to_numpy(),
            "frame": frames["frame"].to_numpy(dtype=np.int64),
            "split": np.where(val, "val", "train"),
            "cluster": np.zeros(len(frames), dtype=np.int64) + cluster,
        }
    )


def every_nth(frames: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """Validation = every n-th frame with boxes, counted from 0 across all tasks in order.

    As the original, frames without boxes take no position in the count; they go to train.
    """
    if n < 2:
        raise ValueError(f"every_nth needs n >= 2, got {n}")
    labelled = frames["boxes"].to_numpy() > 0
    position = np.cumsum(labelled) - 1
    return _split_table(frames, labelled & (position % n == 0))


def fixed_list(frames: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Validation = the frames a CSV (columns task, frame; empty frame = whole task) lists."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "validation list does not exist")
    known = {task: set(group) for task, group in frames.groupby("task")["frame"]}
    chosen: set[tuple[str, int]] = set()
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"task", "frame"} - set(reader.fieldnames or [])
        if missing:
            raise BadInputError(path, f"expected columns task and frame, missing {sorted(missing)}")
        for row in reader:
            line = reader.line_num
            task, frame = (row["task"] or "").strip(), (row["frame"] or "").strip()
            if task not in known:
                raise BadInputError(path, f"line {line}: task {task!r} is not in the annotations")
            if not frame:
                chosen.update((task, f) for f in known[task])
                continue
            try:
                number = int(frame)
            except ValueError:
                raise BadInputError(
                    path, f"line {line}: task {task!r}: frame {frame!r} is not an integer"
                ) from None
            if number not in known[task]:
                raise BadInputError(path, f"line {line}: task {task!r} has no frame {number}")
            chosen.add((task, number))
    if not chosen:
        raise BadInputError(path, "lists no validation frames")
    keys = zip(frames["task"], frames["frame"], strict=True)
    return _split_table(frames, np.array([(t, int(f)) in chosen for t, f in keys], dtype=bool))


def _load_image(root: Path, row: Any, size: int) -> np.ndarray:
    """One frame as an ImageNet-normalised (3, size, size) float array."""
    path = root / row.image
    try:
        with Image.open(path) as image:
            rectangle = crop_rectangle(image.size, (row.width, row.height))
            if rectangle is None:
                image.draft("RGB", (size, size))  # JPEG: decode at reduced scale, much faster
            rgb = (
                image.convert("RGB") if rectangle is None else image.convert("RGB").crop(rectangle)
            )
            rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError) as exc:
        raise BadInputError(
            path, f"task {row.task!r} frame {row.frame}: unreadable ({exc})"
        ) from exc
    pixels = (np.asarray(rgb, dtype=np.float32) / 255 - MEAN) / STD
    return pixels.transpose(2, 0, 1)


def embed_frames(
    frames: pd.DataFrame,
    root: str | Path,
    weights: str | Path | None = None,
    size: int = 128,
    batch_size: int = 32,
) -> np.ndarray:
    """(n, 512) globally average-pooled ResNet-18 features of the frames, computed on the CPU.

    CPU keeps the embedding (and so the split) the same on every machine.
    """
    model = resnet18_embedder(weights)
    rows = list(frames.itertuples(index=False))
    out = np.empty((len(rows), 512), dtype=np.float32)
    bar = progress_bar(total=len(rows), desc="embed frames", unit="frame")
    with bar, torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = [_load_image(Path(root), row, size) for row in rows[start : start + batch_size]]
            out[start : start + len(batch)] = model(torch.from_numpy(np.stack(batch))).numpy()
            bar.update(len(batch))
    return out


def feature_space(
    frames: pd.DataFrame,
    embeddings: np.ndarray,
    clusters: int,
    val_fraction: float,
    seed: int,
    perplexity: float = 30,
) -> pd.DataFrame:
    """Cluster-stratified split: t-SNE to 2-D, KMeans on the t-SNE coordinates, then per cluster.

    KMeans runs on the 2-D t-SNE map. Each cluster sends round(val_fraction * size) (half
    up) seeded-random frames to val, at least one to each set when it has two or more frames,
    so every cluster appears in both in proportion.
    """
    n = len(frames)
    if embeddings.shape[0] != n:
        raise ValueError(f"{embeddings.shape[0]} embeddings for {n} frames")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if not 1 <= clusters <= n or n < 2:
        raise ValueError(f"cannot make {clusters} clusters of {n} frames")
    tsne = TSNE(n_components=2, perplexity=min(perplexity, n - 1), random_state=seed)
    xy = tsne.fit_transform(np.asarray(embeddings, dtype=np.float64))
    labels = KMeans(clusters, n_init=KMEANS_INITS, random_state=seed).fit_predict(xy)
    rng = np.random.default_rng(seed)
    val = np.zeros(n, dtype=bool)
    for cluster in range(clusters):
        members = np.flatnonzero(labels == cluster)
        take = int(np.floor(val_fraction * len(members) + 0.5))
        if len(members) >= 2:
            take = min(max(take, 1), len(members) - 1)
        val[rng.choice(members, size=take, replace=False)] = True
    split = _split_table(frames, val, labels)
    split["tsne_x"], split["tsne_y"] = xy[:, 0], xy[:, 1]
    return split


def cluster_counts(split: pd.DataFrame) -> pd.DataFrame:
    """Frames per cluster in each set: columns cluster, train, val, val_fraction."""
    counts = pd.crosstab(split["cluster"], split["split"]).reindex(
        columns=["train", "val"], fill_value=0
    )
    counts["val_fraction"] = counts["val"] / (counts["train"] + counts["val"])
    return counts.reset_index().rename_axis(columns=None)


def make_split(
    table: pd.DataFrame, method: str, root: str | Path, options: Mapping[str, Any]
) -> pd.DataFrame:
    """Split the frames of an annotation table by `method`, configured by `options`.

    Options: every_nth n (10); list path; feature_space clusters, val_fraction, seed,
    perplexity (30), weights (None), size (128), batch_size (32).
    """
    if method not in METHODS:
        raise ValueError(f"unknown split method {method!r}; choose one of {', '.join(METHODS)}")
    table_frames = frames(table)
    if method == "every_nth":
        return every_nth(table_frames, int(options.get("n", 10)))
    if method == "list":
        return fixed_list(table_frames, options["path"])
    embeddings = embed_frames(
        table_frames,
        root,
        options.get("weights"),
        int(options.get("size", 128)),
        int(options.get("batch_size", 32)),
    )
    return feature_space(
        table_frames,
        embeddings,
        int(options["clusters"]),
        float(options["val_fraction"]),
        int(options["seed"]),
        float(options.get("perplexity", 30)),
    )


def write_split(out_dir: str | Path, split: pd.DataFrame) -> None:
    """Write split.csv and the per-cluster counts clusters.csv (cluster -1: not clustered)."""
    write_table(Path(out_dir) / "split.csv", split)
    write_table(Path(out_dir) / "clusters.csv", cluster_counts(split))


def read_feature_split(path: Path) -> pd.DataFrame:
    """A split.csv made in feature space (with its t-SNE coordinates)."""
    split = pd.read_csv(path)
    if "tsne_x" not in split.columns:
        raise BadInputError(path, "has no t-SNE coordinates (not a feature_space split)")
    return split
