"""Layer activations through forward hooks, reduced to the spatial max per image and channel
(or another reduction, such as a few filters' row maxima)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn


def spatial_max(output: Tensor) -> Tensor:
    """(batch, channels): each channel's largest value over the map."""
    return output.amax(dim=(-2, -1))


def row_maxima(filters: Sequence[int]) -> Callable[[Tensor], Tensor]:
    """A reduction to (batch, filters, rows): each row's largest value in each of `filters`'
    maps, the original's summary of a single selected kernel."""

    def reduce(output: Tensor) -> Tensor:
        return output[:, list(filters)].amax(dim=-1)

    return reduce


@contextmanager
def spatial_max_hooks(
    model: nn.Module, layers: Sequence[str], reduce: Callable[[Tensor], Tensor] = spatial_max
) -> Iterator[dict[str, Tensor]]:
    """While active, `latest[layer]` holds the layer's last output reduced to (batch, channels)
    (or by `reduce`).

    The reduction is taken inside the hook, before any in-place ReLU that follows can change
    the output, so CPU and GPU record the same (pre-activation) values. A module called
    several times per forward pass (CORnet's feedback loop) keeps its last call.
    """
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise KeyError(f"model has no layers {missing}; it has {sorted(modules)[:20]}...")
    latest: dict[str, Tensor] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output: Tensor) -> None:
            latest[name] = reduce(output.detach()).float().cpu()

        return record

    handles = [modules[name].register_forward_hook(hook(name)) for name in layers]
    try:
        yield latest
    finally:
        for handle in handles:
            handle.remove()


@torch.no_grad()
def spatial_max_activations(
    model: nn.Module,
    batches: Iterable[Sequence[Tensor]],
    layers: Sequence[str],
    reduce: Callable[[Tensor], Tensor] = spatial_max,
) -> dict[str, np.ndarray]:
    """layer -> (images, channels) spatial maxima (or `reduce`d outputs) over all `batches`
    (each the model's args)."""
    model.eval()
    collected: dict[str, list[Tensor]] = {name: [] for name in layers}
    with spatial_max_hooks(model, layers, reduce) as latest:
        for inputs in batches:
            model(*inputs)
            for name in layers:
                collected[name].append(latest[name])
    return {name: torch.cat(parts).numpy() for name, parts in collected.items()}
