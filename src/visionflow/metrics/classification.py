"""Classification metrics as pure functions of logits and integer targets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _check(logits: Tensor, target: Tensor) -> None:
    if logits.ndim != 2 or target.ndim != 1 or logits.shape[0] != target.shape[0]:
        raise ValueError(
            f"expected logits (N, C) and target (N,), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )


@torch.no_grad()
def topk_correct(logits: Tensor, target: Tensor, ks: Sequence[int] = (1, 5)) -> Tensor:
    """Count samples whose target is among the top-k logits, one int64 per k (k clamped to C).

    The result lives on the device of `logits`.
    """
    _check(logits, target)
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be non-empty positive integers, got {list(ks)}")
    num_classes = logits.shape[1]
    maxk = min(max(ks), num_classes)
    top = logits.detach().topk(maxk, dim=1).indices
    hits = top == target.to(top.device).unsqueeze(1)
    # A sample is a top-k hit if any of its first k predictions matches; cumsum makes that cheap.
    cum = hits.cumsum(dim=1) > 0
    return torch.stack([cum[:, min(k, num_classes) - 1].sum() for k in ks]).to(torch.int64)


@torch.no_grad()
def per_class_accuracy(logits: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Top-1 accuracy per true class as float tensor of length `num_classes`; NaN if absent."""
    _check(logits, target)
    target = target.to(logits.device).long()
    if target.numel() and (target.min() < 0 or target.max() >= num_classes):
        raise ValueError(f"target labels must lie in [0, {num_classes})")
    pred = logits.detach().argmax(dim=1)
    total = torch.bincount(target, minlength=num_classes)
    correct = torch.bincount(target[pred == target], minlength=num_classes)
    return correct.float() / total.float()
