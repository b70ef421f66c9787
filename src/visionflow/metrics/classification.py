"""Classification metrics as pure functions of logits and integer targets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def _check(logits: Tensor, target: Tensor) -> None:
    if logits.ndim != 2 or target.ndim != 1 or logits.shape[0] != target.shape[0]:
        raise ValueError(
            f"expected logits (N, C) and target (N,), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )


@torch.no_grad()
def target_rank(logits: Tensor, target: Tensor) -> Tensor:
    """0-based rank of each sample's target among its logits; ties go to the lower class index.

    This is the order a stable descending sort (and argmax) gives, so top-1 hits agree with
    argmax predictions and the result never depends on the device's top-k tie-breaking.
    """
    _check(logits, target)
    logits = logits.detach()
    target = target.to(logits.device).long().unsqueeze(1)
    score = logits.gather(1, target)
    classes = torch.arange(logits.shape[1], device=logits.device)
    ahead = (logits > score) | ((logits == score) & (classes < target))
    return ahead.sum(dim=1)


@torch.no_grad()
def topk_correct(logits: Tensor, target: Tensor, ks: Sequence[int] = (1, 5)) -> Tensor:
    """Count samples whose target is among the top-k logits, one int64 per k (k clamped to C).

    The result lives on the device of `logits`.
    """
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be non-empty positive integers, got {list(ks)}")
    rank = target_rank(logits, target)
    return torch.stack([(rank < k).sum() for k in ks]).to(torch.int64)


@torch.no_grad()
def topk_accuracy(
    logits: Tensor, target: Tensor, num_classes: int, ks: Sequence[int] = (1, 5, 10)
) -> tuple[dict[str, float], dict[str, float]]:
    """(per-instance, per-class average) top-k accuracy as {"top<k>": fraction}.

    The per-class average is the mean over the classes present in `target` of each class's
    own top-k rate, so a class missing from the set neither counts nor drags the mean down.
    """
    _check_labels(target, num_classes)
    rank = target_rank(logits, target).cpu()
    target = target.cpu().long()
    total = torch.bincount(target, minlength=num_classes)
    present = total > 0
    per_instance, per_class = {}, {}
    for k in ks:
        hits = (rank < k).long()
        per_instance[f"top{k}"] = float(hits.double().mean()) if len(hits) else float("nan")
        correct = torch.bincount(target, weights=hits.double(), minlength=num_classes)
        rates = correct[present] / total[present]
        per_class[f"top{k}"] = float(rates.mean()) if present.any() else float("nan")
    return per_instance, per_class


def _check_labels(target: Tensor, num_classes: int) -> None:
    if target.numel() and (target.min() < 0 or target.max() >= num_classes):
        raise ValueError(f"target labels must lie in [0, {num_classes})")


@torch.no_grad()
def per_class_accuracy(logits: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Top-1 accuracy per true class as float tensor of length `num_classes`; NaN if absent."""
    _check(logits, target)
    target = target.to(logits.device).long()
    _check_labels(target, num_classes)
    pred = logits.detach().argmax(dim=1)
    total = torch.bincount(target, minlength=num_classes)
    correct = torch.bincount(target[pred == target], minlength=num_classes)
    return correct.float() / total.float()


def confusion_counts(pred: Tensor, target: Tensor, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows true class, columns predicted class."""
    pred, target = torch.as_tensor(pred).cpu().long(), torch.as_tensor(target).cpu().long()
    _check_labels(target, num_classes)
    _check_labels(pred, num_classes)
    flat = torch.bincount(target * num_classes + pred, minlength=num_classes**2)
    return flat.view(num_classes, num_classes).numpy()


def precision_recall_f1(matrix: np.ndarray) -> np.ndarray:
    """Per-class (precision, recall, F1) as a (C, 3) array from confusion counts; 0 if undefined."""
    matrix = np.asarray(matrix, dtype=np.float64)
    hits = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return np.stack([precision, recall, f1], axis=1)
