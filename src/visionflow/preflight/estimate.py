"""What one training step of a model costs, found without allocating it: the model is built
on the meta device, one batch runs forward and backward, and the sizes are counted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

FLOAT_BYTES = 4  # fp32 parameters, gradients and optimizer states


@dataclass(frozen=True)
class StepCost:
    """Memory of one device and FLOPs of one training step at a batch size."""

    parameters: int
    memory_bytes: int
    flops: int


def step_cost(
    build: Callable[[], nn.Module],
    inputs: Callable[[int], tuple[torch.Tensor, ...]],
    batch_size: int,
    optimizer_states: int,
) -> StepCost:
    """Build the model on the meta device and run one forward/backward step on a batch.

    Memory = parameters, their gradients and `optimizer_states` fp32 copies of each
    (momentum 1, Adam 2), plus every module output kept for the backward pass (an upper
    bound: in-place activations share storage). FLOPs are counted by torch's FLOP counter.
    """
    with torch.device("meta"):
        model = build()
        batch = inputs(batch_size)
    model.train()
    kept: list[int] = []

    def count(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            kept.append(output.numel() * output.element_size())

    hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
    try:
        with FlopCounterMode(display=False) as counter:
            model(*batch).float().sum().backward()
    finally:
        for hook in hooks:
            hook.remove()
    parameters = sum(p.numel() for p in model.parameters())
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    weights = FLOAT_BYTES * (parameters + trained * (1 + optimizer_states))
    return StepCost(parameters, weights + sum(kept), counter.get_total_flops())
