"""The eight torchvision video classifiers SLR trains, with heads sized to the split.

Kinetics-400 weights load from a local file (or the torch hub cache) when configured; without
them the backbone starts from random initialisation with a warning, so everything runs offline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.models import video

from visionflow.io import BadInputError, safe_torch_load
from visionflow.models import normalisation as statistics
from visionflow.models.catalog import VIDEO_ARCHS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoArch:
    """How to build one architecture, its Kinetics weights, head slot and input normalisation."""

    builder: Callable[..., nn.Module]
    weights: Any  # the torchvision Kinetics-400 weights enum member
    head: str  # attribute holding the classification head
    norm: tuple[tuple[float, ...], tuple[float, ...]]  # (mean, std) of 0-1 RGB


def _resolve(builder: str, weights: str, head: str, norm: str) -> VideoArch:
    """A catalog entry as torchvision objects."""
    enum, member = weights.split(".")
    return VideoArch(
        getattr(video, builder), getattr(getattr(video, enum), member), head,
        getattr(statistics, norm),
    )  # fmt: skip


ARCHS: dict[str, VideoArch] = {name: _resolve(*entry) for name, entry in VIDEO_ARCHS.items()}


def _arch(name: str) -> VideoArch:
    if name not in ARCHS:
        raise ValueError(f"unknown video model {name!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[name]


def head_of(model: nn.Module, name: str) -> nn.Module:
    """The classification head of a `name` model (its only trainable part at init)."""
    return getattr(model, _arch(name).head)


def normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) the `name` backbone was trained with, per RGB channel of 0-1 images."""
    return _arch(name).norm


def hub_weights_path(name: str) -> Path:
    """Where torchvision would have cached the Kinetics-400 weights of `name`."""
    filename = Path(_arch(name).weights.url).name
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def resolve_weights(name: str, pretrained: str | bool | None) -> Path | None:
    """The weights file for `pretrained` (a path, or true for the hub cache), if it exists."""
    if not pretrained:
        return None
    path = hub_weights_path(name) if pretrained is True else Path(pretrained)
    if path.exists():
        return path
    log.warning("Kinetics weights for %s not found at %s; using random initialisation", name, path)
    return None


def build(
    name: str, num_classes: int, drop_p: float | None = None, pretrained: str | bool | None = None
) -> nn.Module:
    """Model `name` with a Dropout(drop_p) + `num_classes` head, on Kinetics weights if found."""
    model = _arch(name).builder()
    weights = resolve_weights(name, pretrained)
    if weights is not None:
        state = safe_torch_load(weights)
        state = state.get("state_dict", state)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise BadInputError(weights, f"not {name} Kinetics-400 weights ({exc})") from None
        log.info("loaded Kinetics-400 weights for %s from %s", name, weights)
    new_layer = classifier(name, head_of(model, name), num_classes)
    setattr(model, _arch(name).head, nn.Sequential(nn.Dropout(drop_p or 0.0), new_layer))
    return model


def classifier(name: str, head: nn.Module, num_classes: int) -> nn.Module:
    """A fresh `num_classes` layer taking what the last layer of `head` takes.

    PyTorch's default initialisation, except for the MViTs: truncated normal (std 0.02)
    weights and zero bias, as the original's MViT wrappers set them.
    """
    layers = [m for m in head.modules() if isinstance(m, (nn.Linear, nn.Conv3d))]
    if isinstance(layers[-1], nn.Conv3d):  # S3D classifies with a 1x1x1 convolution
        return nn.Conv3d(layers[-1].in_channels, num_classes, kernel_size=1)
    layer = nn.Linear(layers[-1].in_features, num_classes)
    if name.startswith("MViT"):
        nn.init.trunc_normal_(layer.weight, std=0.02)
        nn.init.zeros_(layer.bias)
    return layer


def extended_rows(weight: Tensor, bias: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """A classification layer's weight and bias grown to `num_classes` rows: the given rows
    first, the new ones initialised as PyTorch initialises a fresh layer (the original's
    extend_classifier, MViT included)."""
    old, features = weight.shape[:2]
    if weight.dim() == 2:
        fresh: nn.Module = nn.Linear(features, num_classes)
    else:
        fresh = nn.Conv3d(features, num_classes, kernel_size=tuple(weight.shape[2:]))
    with torch.no_grad():
        fresh.weight[:old], fresh.bias[:old] = weight, bias
    return fresh.weight.detach(), fresh.bias.detach()


def check_input(name: str, frames: int, size: int) -> None:
    """Raise ValueError if `name` cannot take `frames` x `size` x `size` clips (checked on meta)."""
    with torch.device("meta"):
        model = _arch(name).builder()
        try:
            model(torch.empty(1, 3, frames, size, size))
        except RuntimeError as exc:
            raise ValueError(
                f"{name} cannot take clips of {frames} frames of {size}x{size} "
                "(S3D needs at least 13 frames of 224 px, the MViTs exactly 16 frames of 224 px): "
                f"{exc}"
            ) from None
