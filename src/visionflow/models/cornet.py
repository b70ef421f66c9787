"""CORnet-S (model `S`) and CORnet-100's S100: CORnet-S with a V4->V1 feedback loop.

`outer_times=k` runs S100's V1-V2-V4 path k times. The first pass downsamples as
CORnet-S does; later passes take V4's output through a 1x1 conv (256->3, padding 1,
no bias) and run every stride at 1, with the skip branch taken as identity and the
per-time-step BatchNorm weights shared across passes, as the original fork. Unlike the
original, each pass keeps its own BatchNorm running statistics (buffers, not
parameters), so evaluation normalises every pass as training does. The stride is an
argument of the call instead of a mutation of the modules, so the model is safe to
replicate across devices; every submodule is still called as a module, so forward hooks
fire where the original's do (`output` once per inner time step).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

# The published CORnet-Z/R/RT/S read out 1000 ImageNet classes; CORnet-100 keeps those heads.
IMAGENET_CLASSES = 1000


def channels(width: float) -> tuple[int, int, int, int]:
    """Channels of V1, V2, V4 and IT at `width` (1.0: 64, 128, 256, 512)."""
    c1, c2, c4, c_it = (max(1, round(c * width)) for c in (64, 128, 256, 512))
    return c1, c2, c4, c_it


def decoder(in_channels: int, num_classes: int, output: bool = True) -> nn.Sequential:
    """Global average pool and a linear read-out (with an `output` tap, as CORnet-Z/S/S100)."""
    layers = [
        ("avgpool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("linear", nn.Linear(in_channels, num_classes)),
    ]
    return nn.Sequential(OrderedDict(layers + ([("output", nn.Identity())] if output else [])))


class StrideConv2d(nn.Conv2d):
    """Conv2d whose stride a call may override (feedback passes reuse strided convs at 1)."""

    def forward(self, x: torch.Tensor, stride: int | None = None) -> torch.Tensor:
        if stride is None:
            return super().forward(x)
        return nn.functional.conv2d(
            x, self.weight, self.bias, stride, self.padding, self.dilation, self.groups
        )


class StrideMaxPool2d(nn.MaxPool2d):
    """MaxPool2d whose stride a call may override."""

    def forward(self, x: torch.Tensor, stride: int | None = None) -> torch.Tensor:
        return nn.functional.max_pool2d(
            x, self.kernel_size, self.stride if stride is None else stride, self.padding
        )


class PassBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose affine weights all feedback passes share; running statistics per pass."""

    def __init__(self, num_features: int, passes: int = 1) -> None:
        super().__init__(num_features)
        for p in range(1, passes):
            self.register_buffer(f"running_mean_pass{p}", torch.zeros(num_features))
            self.register_buffer(f"running_var_pass{p}", torch.ones(num_features))

    def forward(self, x: torch.Tensor, pass_index: int = 0) -> torch.Tensor:
        if pass_index == 0:
            return super().forward(x)
        return nn.functional.batch_norm(
            x,
            getattr(self, f"running_mean_pass{pass_index}"),
            getattr(self, f"running_var_pass{pass_index}"),
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )


class CORblockS(nn.Module):
    """Recurrent bottleneck block of CORnet-S; pass 0 downsamples, feedback passes do not."""

    scale = 4

    def __init__(self, in_channels: int, out_channels: int, times: int, passes: int = 1) -> None:
        super().__init__()
        self.times = times
        wide = out_channels * self.scale
        self.conv_input = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.skip = nn.Conv2d(out_channels, out_channels, kernel_size=1, stride=2, bias=False)
        self.norm_skip = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(out_channels, wide, kernel_size=1, bias=False)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.conv2 = StrideConv2d(wide, wide, kernel_size=3, stride=2, padding=1, bias=False)
        self.nonlin2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(wide, out_channels, kernel_size=1, bias=False)
        self.nonlin3 = nn.ReLU(inplace=True)
        self.output = nn.Identity()
        for t in range(times):
            setattr(self, f"norm1_{t}", PassBatchNorm2d(wide, passes))
            setattr(self, f"norm2_{t}", PassBatchNorm2d(wide, passes))
            setattr(self, f"norm3_{t}", PassBatchNorm2d(out_channels, passes))

    def forward(self, inp: torch.Tensor, pass_index: int = 0) -> torch.Tensor:
        x = self.conv_input(inp)
        for t in range(self.times):
            first = t == 0 and pass_index == 0
            skip = self.norm_skip(self.skip(x)) if first else x
            x = self.nonlin1(getattr(self, f"norm1_{t}")(self.conv1(x), pass_index))
            x = self.conv2(x, 2 if first else 1)
            x = self.nonlin2(getattr(self, f"norm2_{t}")(x, pass_index))
            x = getattr(self, f"norm3_{t}")(self.conv3(x), pass_index)
            x = self.output(self.nonlin3(x + skip))
        return x


class VOneBlock(nn.Module):
    """CORnet-S's V1: 7x7 conv, max-pool, 3x3 conv; strides 2 only on the first pass."""

    def __init__(self, in_channels: int, out_channels: int, passes: int = 1) -> None:
        super().__init__()
        self.conv1 = StrideConv2d(
            in_channels, out_channels, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.norm1 = PassBatchNorm2d(out_channels, passes)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.pool = StrideMaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.norm2 = PassBatchNorm2d(out_channels, passes)
        self.nonlin2 = nn.ReLU(inplace=True)
        self.output = nn.Identity()

    def forward(self, inp: torch.Tensor, pass_index: int = 0) -> torch.Tensor:
        stride = 2 if pass_index == 0 else 1
        x = self.nonlin1(self.norm1(self.conv1(inp, stride), pass_index))
        x = self.pool(x, stride)
        x = self.nonlin2(self.norm2(self.conv2(x), pass_index))
        return self.output(x)


class CORnetS(nn.Module):
    """CORnet-S: V1, then V2, V4 and IT bottleneck blocks run 2, 4 and 2 time steps, and a
    linear read-out `decoder`. With `feedback` it is S100: the read-out is named `Decoder`,
    a V4->V1 conv exists and the V1-V4 path runs `outer_times` passes.

    `width` scales every block's channels (1.0 is the published model).
    """

    def __init__(
        self,
        num_classes: int = IMAGENET_CLASSES,
        width: float = 1.0,
        feedback: bool = False,
        outer_times: int = 1,
    ) -> None:
        super().__init__()
        if outer_times < 1 or (outer_times > 1 and not feedback):
            raise ValueError(f"outer_times {outer_times} needs the S100 feedback loop")
        c1, c2, c4, c_it = channels(width)
        self.outer_times = outer_times
        self.V1 = VOneBlock(3, c1, passes=outer_times)
        self.V2 = CORblockS(c1, c2, times=2, passes=outer_times)
        self.V4 = CORblockS(c2, c4, times=4, passes=outer_times)
        self.IT = CORblockS(c4, c_it, times=2)
        self.readout = "Decoder" if feedback else "decoder"
        self.add_module(self.readout, decoder(c_it, num_classes))
        if feedback:
            self.V4_to_V1 = nn.Conv2d(c4, 3, kernel_size=1, stride=1, padding=1, bias=False)
        _init_like_original(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for t in range(self.outer_times):
            if t > 0:
                x = self.V4_to_V1(x)
            x = self.V4(self.V2(self.V1(x, t), t), t)
        return getattr(self, self.readout)(self.IT(x))


class CORnetS100(CORnetS):
    """CORnet-100's S100: CORnet-S whose V1-V4 path runs `outer_times` times, V4 fed back to V1."""

    def __init__(self, num_classes: int = 100, outer_times: int = 1, width: float = 1.0) -> None:
        super().__init__(num_classes, width, feedback=True, outer_times=outer_times)


def _init_like_original(model: nn.Module) -> None:
    """He-normal convs (fan-out) and unit BatchNorm; Linear keeps the PyTorch default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2.0 / n))
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1)
            m.bias.data.zero_()
