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


def total_variation(image: Tensor) -> Tensor:
    """Mean squared difference between neighbouring pixels."""
    return (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean() + (
        image[..., :, 1:] - image[..., :, :-1]
    ).pow(2).mean()


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
) -> Tensor:
    """One input per filter, optimised from seeded noise to maximise the filter's mean
    activation, with total-variation and L2 penalties on the image."""
    generator = torch.Generator().manual_seed(seed)
    images = (0.1 * torch.randn(len(filter_indices), *shape, generator=generator)).requires_grad_()
    optimiser = torch.optim.SGD([images], lr=lr, momentum=momentum)
    rows = torch.arange(len(filter_indices))
    for _ in range(steps):
        optimiser.zero_grad()
        activation = filters.feature_map(images).mean(dim=(2, 3))[rows, list(filter_indices)]
        loss = -activation.sum() + len(rows) * (
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
    model: nn.Module, inputs: Tensor, layer: str, count: int
) -> dict[int, np.ndarray]:
    """Filter -> (B, H, W) guided-backprop maps in [0, 1] of the `count` strongest filters."""
    explained = _filters(model, layer)
    chosen = strongest_filters(explained, inputs, count)
    return {i: saliency_gray(guided_backprop(explained, inputs, i)) for i in chosen}


def maximised_inputs(
    model: nn.Module, layer: str, count: int, **options: Any
) -> tuple[Tensor, list[int]]:
    """Inputs maximising each of the first `count` filters of `layer`, and those filters
    (`options`: the shape, steps and optimiser settings of `maximise_activation`)."""
    excited = _filters(model, layer)
    chosen = list(range(min(count, excited.layer.out_channels)))
    return maximise_activation(excited, chosen, **options), chosen
