"""CORnet-S with the V4->V1 feedback loop of CORnet-100 (model `S100`).

`outer_times=k` runs the V1-V2-V4 path k times. The first pass downsamples as
CORnet-S does; later passes take V4's output through a 1x1 conv (256->3, padding 1,
no bias) and run every stride at 1, with the skip branch taken as identity and the
per-time-step BatchNorm weights shared across passes, as the original fork. Unlike the
original, each pass keeps its own BatchNorm running statistics (buffers, not
parameters), so evaluation normalises every pass as training does. The pass index is
an argument instead of stride mutations on the modules, so the model is safe to
replicate across devices.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from torch import nn

from visionflow.io import BadInputError, safe_torch_load

log = logging.getLogger(__name__)


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
        self.conv2 = nn.Conv2d(wide, wide, kernel_size=3, stride=2, padding=1, bias=False)
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
            stride = 2 if first else 1
            x = nn.functional.conv2d(x, self.conv2.weight, stride=stride, padding=1)
            x = self.nonlin2(getattr(self, f"norm2_{t}")(x, pass_index))
            x = getattr(self, f"norm3_{t}")(self.conv3(x), pass_index)
            x = self.nonlin3(x + skip)
        return self.output(x)


class VOneBlock(nn.Module):
    """CORnet-S's V1: 7x7 conv, max-pool, 3x3 conv; strides 2 only on the first pass."""

    def __init__(self, in_channels: int, out_channels: int, passes: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, out_channels, kernel_size=7, stride=2, padding=3, bias=False
        )
        self.norm1 = PassBatchNorm2d(out_channels, passes)
        self.nonlin1 = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(
            out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.norm2 = PassBatchNorm2d(out_channels, passes)
        self.nonlin2 = nn.ReLU(inplace=True)
        self.output = nn.Identity()

    def forward(self, inp: torch.Tensor, pass_index: int = 0) -> torch.Tensor:
        stride = 2 if pass_index == 0 else 1
        x = nn.functional.conv2d(inp, self.conv1.weight, stride=stride, padding=3)
        x = self.nonlin1(self.norm1(x, pass_index))
        x = nn.functional.max_pool2d(x, kernel_size=3, stride=stride, padding=1)
        x = self.nonlin2(self.norm2(self.conv2(x), pass_index))
        return self.output(x)


class Decoder(nn.Module):
    """Global average pool and a linear read-out."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.linear = nn.Linear(in_channels, num_classes)
        self.output = nn.Identity()

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self.output(self.linear(self.flatten(self.avgpool(inp))))


class CORnetS100(nn.Module):
    """CORnet-S whose V1-V4 path runs `outer_times` times with V4 fed back to V1.

    `width` scales every block's channels (1.0 is the published model; the CPU demo
    uses a narrower one).
    """

    def __init__(self, num_classes: int = 100, outer_times: int = 1, width: float = 1.0) -> None:
        super().__init__()
        if outer_times < 1:
            raise ValueError(f"outer_times must be >= 1, got {outer_times}")
        c1, c2, c4, c_it = (max(1, round(c * width)) for c in (64, 128, 256, 512))
        self.outer_times = outer_times
        self.V1 = VOneBlock(3, c1, passes=outer_times)
        self.V2 = CORblockS(c1, c2, times=2, passes=outer_times)
        self.V4 = CORblockS(c2, c4, times=4, passes=outer_times)
        self.IT = CORblockS(c4, c_it, times=2)
        self.Decoder = Decoder(c_it, num_classes)
        self.V4_to_V1 = nn.Conv2d(c4, 3, kernel_size=1, stride=1, padding=1, bias=False)
        _init_like_original(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for t in range(self.outer_times):
            if t > 0:
                x = self.V4_to_V1(x)
            x = self.V1(x, t)
            x = self.V2(x, t)
            x = self.V4(x, t)
        return self.Decoder(self.IT(x))


def _init_like_original(model: nn.Module) -> None:
    """He-normal convs (fan-out) and unit BatchNorm; Linear keeps the PyTorch default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            m.weight.data.normal_(0, math.sqrt(2.0 / n))
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.data.fill_(1)
            m.bias.data.zero_()


def load_cornet_weights(model: CORnetS100, path: str | Path) -> list[str]:
    """Copy matching tensors from an original CORnet-S/S100 or a visionflow checkpoint.

    Accepts `{'state_dict': ...}` files (DataParallel `module.` and Lightning `model.`
    prefixes stripped, CORnet-S's `decoder.` renamed) or a bare state dict. Returns the
    names of model tensors left at their initial values (missing or of another shape).
    """
    payload = safe_torch_load(path)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not state:
        raise BadInputError(path, f"expected a state dict, found {type(payload).__name__}")
    renamed = {_canonical_key(k): v for k, v in state.items() if torch.is_tensor(v)}
    own = model.state_dict()
    missing = (k for k in own if k not in renamed)
    renamed |= {k: renamed[s] for k in missing if (s := _shared_statistic(k)) in renamed}
    usable = {k: v for k, v in renamed.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise BadInputError(path, "no tensor matches the CORnet-S100 layout")
    model.load_state_dict(usable, strict=False)
    left = sorted(k for k in own if k not in usable)
    if left:
        log.warning(
            "%s: %d tensors keep their initial values: %s", path, len(left), ", ".join(left)
        )
    return left


def _shared_statistic(key: str) -> str | None:
    """`...running_mean` for a per-pass `...running_mean_pass2` key, as stored by the original."""
    stem, sep, index = key.rpartition("_pass")
    return stem if sep and index.isdigit() else None


def _canonical_key(key: str) -> str:
    for prefix in ("module.", "model."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    if key.startswith("decoder."):
        key = "Decoder." + key[len("decoder.") :]
    return key
