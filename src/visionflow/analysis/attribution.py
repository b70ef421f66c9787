"""Which input pixels drive a layer's filters (guided backprop) and what excites them most
(activation maximisation)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from captum.attr import GuidedBackprop
from torch import Tensor, nn

from visionflow.io import BadInputError


class _Reached(Exception):
    """Carries the watched layer's output out of the forward pass."""

    def __init__(self, output: Tensor) -> None:
        super().__init__()
        self.output = output


class LayerFilters(nn.Module):
    """Runs `model` only up to `layer` and returns each filter's mean |activation|, (B, C).

    The copy's ReLUs are made out-of-place so guided backprop can hook them.
    """

    def __init__(self, model: nn.Module, layer: str) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        for module in self.model.modules():
            if isinstance(module, nn.ReLU):
                module.inplace = False
        modules = dict(self.model.named_modules())
        if layer not in modules:
            raise KeyError(f"model has no layer {layer!r}")
        self.layer = modules[layer]

    def feature_map(self, inputs: Tensor) -> Tensor:
        """The layer's output (B, C, H, W); the rest of the model is not run."""

        def stop(module: nn.Module, args: tuple, output: Tensor) -> None:
            raise _Reached(output)

        handle = self.layer.register_forward_hook(stop)
        try:
            self.model(inputs)
        except _Reached as reached:
            return reached.output
        finally:
            handle.remove()
        raise RuntimeError("the model's forward pass never reached the layer")

    def forward(self, inputs: Tensor) -> Tensor:
        return self.feature_map(inputs).abs().mean(dim=(2, 3))


def strongest_filters(filters: LayerFilters, inputs: Tensor, count: int) -> list[int]:
    """The `count` filters with the highest mean |activation| over `inputs`."""
    with torch.no_grad():
        strength = filters(inputs).mean(dim=0)
    return strength.argsort(descending=True)[:count].tolist()


def guided_backprop(filters: LayerFilters, inputs: Tensor, filter_index: int) -> Tensor:
    """Guided-backprop gradients of one filter's mean |activation| w.r.t. `inputs`."""
    explainer = GuidedBackprop(filters)
    return explainer.attribute(inputs.clone().requires_grad_(True), target=filter_index).detach()


def saliency_gray(gradients: Tensor, channels: int = 3, percentile: float = 99.0) -> np.ndarray:
    """(B, H, W) maps in [0, 1]: |gradient| summed over the first `channels`, clipped at the
    `percentile`, as the original's convert_to_grayscale."""
    maps = gradients[:, :channels].abs().sum(dim=1).numpy()
    top = np.percentile(maps.reshape(len(maps), -1), percentile, axis=1)[:, None, None]
    maps = np.minimum(maps, top)
    low = maps.min(axis=(1, 2), keepdims=True)
    span = np.maximum(maps.max(axis=(1, 2), keepdims=True) - low, 1e-12)
    return (maps - low) / span


def masked_top_mean(
    maps: Sequence[np.ndarray], masks: np.ndarray | None, top_fraction: float | None
) -> np.ndarray:
    """The original's guided-backprop summary, (B, H, W) in [0, 1]: each filter's maps times
    the object `masks`, all but their int(H x W x `top_fraction`) largest pixels zeroed,
    averaged over the filters and min-max scaled per image."""
    stacked = np.stack([np.asarray(m, np.float64) for m in maps])  # (filters, B, H, W)
    if masks is not None:
        stacked = stacked * (np.asarray(masks)[None] > 0)
    if top_fraction is not None:
        flat = stacked.reshape(*stacked.shape[:2], -1)
        keep = max(1, int(flat.shape[-1] * top_fraction))
        threshold = -np.sort(-flat, axis=-1)[..., keep - 1 : keep]
        stacked = np.where(flat >= threshold, flat, 0.0).reshape(stacked.shape)
    mean = stacked.mean(axis=0)
    low = mean.min(axis=(1, 2), keepdims=True)
    return (mean - low) / np.maximum(mean.max(axis=(1, 2), keepdims=True) - low, 1e-12)


def total_variation(image: Tensor) -> Tensor:
    """Mean squared difference between neighbouring pixels."""
    return (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean() + (
        image[..., :, 1:] - image[..., :, :-1]
    ).pow(2).mean()


def _objective(feature_map: Tensor, filter_indices: Sequence[int], centre: bool) -> Tensor:
    """Per optimised image, its filter's mean activation, or the unit at the map's centre."""
    rows = torch.arange(len(filter_indices))
    chosen = feature_map[rows, list(filter_indices)]  # (F, h, w)
    if centre:
        return chosen[:, chosen.shape[1] // 2, chosen.shape[2] // 2]
    return chosen.mean(dim=(1, 2))


def maximise_activation(
    filters: LayerFilters,
    filter_indices: Sequence[int],
    shape: Sequence[int],
    steps: int,
    lr: float,
    momentum: float,
    tv_weight: float,
    l2_weight: float,
    seed: int,
    centre: bool = False,
    init_std: float = 0.1,
) -> Tensor:
    """One input per filter, optimised with SGD from seeded noise (std `init_std`) to maximise
    the filter's mean activation (or, with `centre`, its centre unit as the original's
    pixel-space AM), with total-variation and L2 penalties on the image."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(len(filter_indices), *shape, generator=generator)
    images = (init_std * noise).requires_grad_()
    optimiser = torch.optim.SGD([images], lr=lr, momentum=momentum)
    for _ in range(steps):
        optimiser.zero_grad()
        activation = _objective(filters.feature_map(images), filter_indices, centre)
        loss = -activation.sum() + len(filter_indices) * (
            tv_weight * total_variation(images) + l2_weight * images.pow(2).mean()
        )
        loss.backward()
        optimiser.step()
    return images.detach()


def _filters(model: nn.Module, layer: str) -> LayerFilters:
    try:
        return LayerFilters(model, layer)
    except KeyError as exc:
        raise BadInputError(layer, exc.args[0]) from exc


def guided_backprop_maps(
    model: nn.Module, inputs: Tensor, layer: str, filters: int | Sequence[int]
) -> dict[int, np.ndarray]:
    """Filter -> (B, H, W) guided-backprop maps in [0, 1] of the given filters, or of the
    `filters` strongest ones."""
    explained = _filters(model, layer)
    if isinstance(filters, int):
        filters = strongest_filters(explained, inputs, filters)
    return {int(i): saliency_gray(guided_backprop(explained, inputs, int(i))) for i in filters}


def maximised_inputs(
    model: nn.Module, layer: str, count: int, **options: Any
) -> tuple[Tensor, list[int]]:
    """Inputs maximising each of the first `count` filters of `layer`, and those filters
    (`options`: the shape, steps, objective and optimiser settings of `maximise_activation`)."""
    excited = _filters(model, layer)
    chosen = list(range(min(count, excited.layer.out_channels)))
    return maximise_activation(excited, chosen, **options), chosen
