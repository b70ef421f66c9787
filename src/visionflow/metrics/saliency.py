"""Saliency-map metrics of the kdsalbox test stage: BCE, NSS, CC, SIM and KL, one value per image.

`pred` holds predicted maps (sigmoid probabilities in [0, 1]) and `target` the reference saliency
maps in [0, 1] (uint8 / 255), each (B, H, W) or (B, 1, H, W). Every metric returns a (B,) tensor;
BCE keeps float32 so it can serve as a loss, the others are computed and returned in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

METRICS = ("bce", "nss", "cc", "sim", "kl")
FIXATION_THRESHOLD = 0.5  # NSS: target pixels strictly above this are the fixations
KL_MINIMUM = 1e-20  # KL: added to both maps before normalising them to sum 1 (as pysaliency)


def _flat(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(B, H*W) views of `pred` and `target`, each given as (B, H, W) or (B, 1, H, W)."""
    maps = []
    for name, x in (("pred", pred), ("target", target)):
        if x.ndim == 4 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 3:
            raise ValueError(f"expected {name} (B, H, W) or (B, 1, H, W), got {tuple(x.shape)}")
        maps.append(x)
    if maps[0].shape != maps[1].shape:
        raise ValueError(
            f"pred {tuple(pred.shape)} and target {tuple(target.shape)} hold different maps"
        )
    return maps[0].flatten(1), maps[1].flatten(1)


def _constant(x: Tensor) -> Tensor:
    """(B, 1) bool: rows of `x` whose values are all equal."""
    return (x.amax(1, keepdim=True) == x.amin(1, keepdim=True)).detach()


def _standardise(x: Tensor) -> Tensor:
    """Each row to zero mean and unit (population) std; a constant row becomes all zeros."""
    constant = _constant(x)
    std = x.std(1, correction=0, keepdim=True)
    z = (x - x.mean(1, keepdim=True)) / torch.where(constant, torch.ones_like(std), std)
    return torch.where(constant, torch.zeros_like(z), z)


def bce(pred: Tensor, target: Tensor) -> Tensor:
    """Mean over pixels of -(t log p + (1 - t) log(1 - p)), logs clamped at -100 (torch BCELoss).

    Computed in float32 outside autocast, so it is differentiable and safe under mixed precision.
    """
    p, t = _flat(pred, target)
    with torch.autocast(device_type=p.device.type, enabled=False):
        return F.binary_cross_entropy(p.float(), t.float(), reduction="none").mean(1)


def nss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean of the standardised `pred` at the fixations, the target pixels above 0.5.

    A constant `pred` scores 0; a target with no pixel above 0.5 is NaN (average with nanmean).
    """
    p, t = _flat(pred, target)
    z = _standardise(p.double())
    fixations = (t > FIXATION_THRESHOLD).double()
    count = fixations.sum(1)
    mean = (z * fixations).sum(1) / count.clamp_min(1)
    return torch.where(count > 0, mean, torch.full_like(mean, float("nan")))


def cc(pred: Tensor, target: Tensor) -> Tensor:
    """Pearson correlation of `pred` and `target` over the pixels; 0 if either map is constant."""
    p, t = _flat(pred, target)
    return (_standardise(p.double()) * _standardise(t.double())).mean(1).clamp(-1, 1)


def _range_density(x: Tensor) -> Tensor:
    """Each row rescaled to [0, 1] then to sum 1; a constant row becomes uniform."""
    constant = _constant(x)
    low = x.amin(1, keepdim=True)
    span = x.amax(1, keepdim=True) - low
    x = torch.where(constant, torch.ones_like(x), (x - low) / torch.where(constant, 1, span))
    return x / x.sum(1, keepdim=True)


def sim(pred: Tensor, target: Tensor) -> Tensor:
    """Histogram intersection sum(min(p, t)) of both maps min-max rescaled, then scaled to sum 1.

    1 for identical maps, 0 for disjoint ones; a constant map counts as uniform.
    """
    p, t = _flat(pred, target)
    return torch.minimum(_range_density(p.double()), _range_density(t.double())).sum(1)


def _density(x: Tensor) -> Tensor:
    """Each row shifted to be non-negative, plus 1e-20, scaled to sum 1 (pysaliency's density)."""
    x = x - x.amin(1, keepdim=True).clamp_max(0) + KL_MINIMUM
    return x / x.sum(1, keepdim=True)


def kl(pred: Tensor, target: Tensor) -> Tensor:
    """KL(target || pred) = sum(t log(t / p)) with both maps + 1e-20 and scaled to sum 1.

    An all-zero map becomes uniform, so every value is finite.
    """
    p, t = _flat(pred, target)
    p, t = _density(p.double()), _density(t.double())
    return (t * (t.log() - p.log())).sum(1)


def map_metrics(pred: Tensor, target: Tensor) -> dict[str, Tensor]:
    """The metrics of any two maps by name (nss, cc, sim, kl), each a (B,) tensor; unlike BCE
    they take post-processed predictions of any range."""
    return {metric.__name__: metric(pred, target) for metric in (nss, cc, sim, kl)}


def all_metrics(pred: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Every metric above by name (bce, nss, cc, sim, kl), each a (B,) tensor."""
    return {"bce": bce(pred, target)} | map_metrics(pred, target)
