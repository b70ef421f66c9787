"""CORnet-Z (feedforward) and CORnet-R / RT (recurrent), as dicarlolab/CORnet builds them.

Module names, parameter shapes and initialisation follow the originals, so their files
load one to one and a seeded build draws the same initial weights.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from visionflow.models.cornet import channels, decoder


class CORblockZ(nn.Module):
    """Conv (with bias), ReLU, 3x3 max-pool of stride 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2
        )
        self.nonlin = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.output = nn.Identity()

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self.output(self.pool(self.nonlin(self.conv(inp))))


def cornet_z(num_classes: int = 1000, width: float = 1.0) -> nn.Sequential:
    """CORnet-Z: four CORblockZ and the read-out; Xavier-uniform weights, zero biases."""
    c1, c2, c4, c_it = channels(width)
    model = nn.Sequential(
        OrderedDict(
            [
                ("V1", CORblockZ(3, c1, kernel_size=7, stride=2)),
                ("V2", CORblockZ(c1, c2)),
                ("V4", CORblockZ(c2, c4)),
                ("IT", CORblockZ(c4, c_it)),
                ("decoder", decoder(c_it, num_classes)),
            ]
        )
    )
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.constant_(m.bias, 0)
    return model


def norm_groups(num_channels: int) -> int:
    """GroupNorm groups: the original's 32, or the largest divisor of a narrower width."""
    return math.gcd(32, num_channels)


class CORblockR(nn.Module):
    """CORnet-R's block: strided input conv, GroupNorm and ReLU, added to the block's state,
    then a 3x3 conv, GroupNorm and ReLU; its output is its next state."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1):
        super().__init__()
        self.conv_input = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2
        )
        self.norm_input = nn.GroupNorm(norm_groups(out_channels), out_channels)
        self.nonlin_input = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.norm1 = nn.GroupNorm(norm_groups(out_channels), out_channels)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.output = nn.Identity()

    def out_size(self, size: int) -> int:
        """Side of this block's output for an input of side `size`."""
        conv = self.conv_input
        return (size + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1

    def forward(
        self, inp: torch.Tensor | None, state: torch.Tensor | None, zeros: tuple[int, ...]
    ) -> torch.Tensor:
        """One time step; `inp` None (no input yet) stands for zeros of shape `zeros`."""
        if inp is None:
            x = torch.zeros(zeros, device=self.conv1.weight.device)
        else:
            x = self.nonlin_input(self.norm_input(self.conv_input(inp)))
        if state is not None:
            x = x + state
        return self.output(self.nonlin1(self.norm1(self.conv1(x))))


class CORnetR(nn.Module):
    """CORnet-R (`synchronous=False`: a time step updates V1, V2, V4, IT in turn, each from
    its predecessor's new output) or CORnet-RT (`synchronous`: every block steps from the
    previous time step's outputs). At t=0 only V1 has input; the others start from zeros.
    Runs `times` steps and reads out IT's last output."""

    blocks = ("V1", "V2", "V4", "IT")

    def __init__(
        self, num_classes: int = 1000, width: float = 1.0, times: int = 5, synchronous: bool = False
    ) -> None:
        super().__init__()
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times}")
        c1, c2, c4, c_it = channels(width)
        self.times, self.synchronous = times, synchronous
        self.V1 = CORblockR(3, c1, kernel_size=7, stride=4)
        self.V2 = CORblockR(c1, c2, stride=2)
        self.V4 = CORblockR(c2, c4, stride=2)
        self.IT = CORblockR(c4, c_it, stride=2)
        self.decoder = decoder(c_it, num_classes, output=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        outputs = {"inp": image}
        height, width = image.shape[-2:]
        for name in self.blocks:
            block = getattr(self, name)
            height, width = block.out_size(height), block.out_size(width)
            zeros = (len(image), block.conv1.out_channels, height, width)
            outputs[name] = block(image if name == "V1" else None, None, zeros)
        for _ in range(1, self.times):
            source = dict(outputs) if self.synchronous else outputs
            for previous, name in zip(("inp", *self.blocks[:-1]), self.blocks, strict=True):
                outputs[name] = getattr(self, name)(source[previous], outputs[name], ())
        return self.decoder(outputs["IT"])
