"""Zero-shot labelling with CLIP (open_clip): cosine scores of images against class prompts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import pandas as pd
import torch
from PIL import Image

from visionflow.data.jacquard.store import PackedJacquard
from visionflow.io import BadInputError, safe_torch_load
from visionflow.metrics.classification import confusion_counts, topk_correct


def load_clip(arch: str, weights: Path, arch_config: Path | None = None) -> tuple[Any, ...]:
    """(model, preprocess, tokenizer) of open_clip architecture `arch` with local `weights`.

    `arch_config` is an open_clip model-config JSON for an architecture open_clip does not
    ship (its file name, without .json, is then the `arch`).
    """
    if arch_config is not None:
        open_clip.add_model_config(arch_config)
    if arch not in open_clip.list_models():
        raise BadInputError(arch_config or arch, f"unknown open_clip architecture {arch!r}")
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    state = safe_torch_load(weights)
    state = state.get("state_dict", state)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shapes of another architecture
        raise BadInputError(weights, f"not {arch} weights: {str(exc).splitlines()[-1]}") from exc
    if missing:
        raise BadInputError(weights, f"not {arch} weights: {len(missing)} tensors missing")
    if unexpected:
        raise BadInputError(weights, f"not {arch} weights: unexpected {unexpected[:3]}")
    return model.eval(), preprocess, open_clip.get_tokenizer(arch)


@torch.no_grad()
def zero_shot_probabilities(
    model: Any,
    preprocess: Callable,
    tokenizer: Callable,
    images: Iterable[np.ndarray],
    prompts: Sequence[str],
    batch_size: int = 32,
    progress: Callable = iter,
) -> np.ndarray:
    """(images, prompts) softmax over the scaled cosine similarities, as CLIP classifies."""
    text = model.encode_text(tokenizer(list(prompts)))
    text = text / text.norm(dim=-1, keepdim=True)
    scale = model.logit_scale.exp()
    rows, batch = [], []

    def flush() -> None:
        features = model.encode_image(torch.stack(batch))
        features = features / features.norm(dim=-1, keepdim=True)
        rows.append((scale * features @ text.T).softmax(dim=-1))
        batch.clear()

    for image in progress(images):
        batch.append(preprocess(Image.fromarray(np.asarray(image))))
        if len(batch) == batch_size:
            flush()
    if batch:
        flush()
    return torch.cat(rows).numpy() if rows else np.empty((0, len(prompts)))


def label_views(
    model: Any,
    preprocess: Callable,
    tokenizer: Callable,
    data_dir: Path,
    splits: Sequence[str],
    prompts_of: Callable[[str], str],
    batch_size: int,
    progress: Callable = iter,
) -> tuple[pd.DataFrame, np.ndarray, list[str], list[np.ndarray]]:
    """Zero-shot labels of every view of `splits` of a prepared Jacquard store.

    Returns the views (id, split, class, label, predicted, confidence), their probabilities
    over the class prompts (`prompts_of(class name)`), the class names and the RGB images.
    """
    frames, images = [], []
    for split in splits:
        views = PackedJacquard(data_dir, split)
        frames.append(views.rows[["id", "split", "class", "label"]])
        images += [views[i]["rgb"] for i in range(len(views))]
    table = pd.concat(frames, ignore_index=True)
    classes = [views.classes[label] for label in sorted(views.classes)]
    prompts = [prompts_of(name) for name in classes]
    probs = zero_shot_probabilities(
        model, preprocess, tokenizer, images, prompts, batch_size, progress
    )
    table = table.assign(
        predicted=[classes[p] for p in probs.argmax(axis=1)], confidence=probs.max(axis=1)
    )
    return table, probs, classes, images


def label_metrics(
    table: pd.DataFrame, probs: np.ndarray, classes: Sequence[str], prompts: Sequence[str]
) -> tuple[dict[str, Any], np.ndarray]:
    """Top-1/top-5 against the stored labels, per-class top-1, the prompts; and the confusion."""
    labels = torch.tensor(table["label"].to_numpy())
    top1, top5 = topk_correct(torch.from_numpy(probs), labels, (1, 5)).tolist()
    counts = confusion_counts(torch.from_numpy(probs.argmax(axis=1)), labels, len(classes))
    per_class = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
    metrics = {
        "images": len(table),
        "top1": top1 / len(table),
        "top5": top5 / len(table),
        "prompts": dict(zip(classes, prompts, strict=True)),
        "per_class_top1": dict(zip(classes, per_class.tolist(), strict=True)),
    }
    return metrics, counts
