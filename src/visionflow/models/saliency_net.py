"""Saliency main network: a MobileNetV2 encoder (optionally cut short) and an upsampling decoder.

Input is RGB (B, 3, H, W), either uint8 in 0-255 or float in [0, 1] (told apart by dtype);
the model applies the ImageNet mean/std itself. Output is (B, 1, H, W) logits at input size.
With `use_eval_mode` off the network never leaves training mode (the original's
HyperModel.eval is then a no-op): BatchNorm normalises with each batch's own statistics and
keeps updating its running statistics, also in validation, test and run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn
from torch.nn import functional as F

from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.catalog import SALIENCY_ACTIVATIONS
from visionflow.models.normalisation import IMAGENET_MEAN, IMAGENET_STD

log = logging.getLogger(__name__)

# The decoder of the original student network (conv7_3 ... conv10_2), before its 1x1 output conv.
ORIGINAL_DECODER = (512, 256, 256, 128, 128, 64, 64)
MOBILENET_BLOCKS = 19
# The decoder activations by config name; LeakyReLU with torch's (and the original's) slope 0.01.
ACTIVATIONS: dict[str, type[nn.Module]] = dict(
    zip(SALIENCY_ACTIVATIONS, (nn.ReLU, nn.ReLU6, nn.LeakyReLU), strict=True)
)


def _stage(cin: int, cout: int, upsample: bool, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel_size=3, padding=1),
        nn.BatchNorm2d(cout),
        ACTIVATIONS[activation](inplace=True),
    ]
    if upsample:
        layers.append(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
    return nn.Sequential(*layers)


def _stride(module: nn.Module) -> int:
    return math.prod(m.stride[0] for m in module.modules() if isinstance(m, nn.Conv2d))


class SaliencyNet(nn.Module):
    """MobileNetV2 `features[: encoder_cutoff + 1]` -> conv-BN-activation stages -> 1x1 conv
    logits.

    The first log2(encoder stride) stages each upsample x2; a final bilinear resize matches the
    input size exactly. The encoder starts random; `load_imagenet_encoder` fills it.
    """

    def __init__(
        self,
        encoder_cutoff: int | None = None,
        decoder_channels: Sequence[int] = ORIGINAL_DECODER,
        activation: str = "relu",
        use_eval_mode: bool = True,
    ) -> None:
        super().__init__()
        if encoder_cutoff is not None and not 0 <= encoder_cutoff < MOBILENET_BLOCKS:
            raise ValueError(f"encoder_cutoff must be in 0..{MOBILENET_BLOCKS - 1} or None")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}")
        self.use_eval_mode = use_eval_mode
        blocks = MOBILENET_BLOCKS if encoder_cutoff is None else encoder_cutoff + 1
        self.encoder = torchvision.models.mobilenet_v2(weights=None).features[:blocks]
        upsamplings = int(math.log2(_stride(self.encoder)))
        channels = [self.encoder[-1].out_channels, *decoder_channels]
        stages = [
            _stage(cin, cout, i < upsamplings, activation)
            for i, (cin, cout) in enumerate(zip(channels[:-1], channels[1:], strict=True))
        ]
        self.decoder = nn.Sequential(*stages, nn.Conv2d(channels[-1], 1, kernel_size=1))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> SaliencyNet:
        """Switch modes; without `use_eval_mode` the network stays in training mode."""
        return super().train(mode or not self.use_eval_mode)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) uint8 or [0, 1] float image -> (B, 1, H, W) saliency logits."""
        if x.dtype == torch.uint8:
            x = x.float() / 255
        size = x.shape[-2:]
        y = self.decoder(self.encoder((x - self.mean) / self.std))
        if y.shape[-2:] != size:
            y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return y


def load_imagenet_encoder(encoder: nn.Sequential, path: str | Path | None) -> None:
    """Fill `encoder` (a prefix of MobileNetV2 `features`) from a torchvision state-dict file.

    Without a path the random init stays and one warning is logged; a bad file is an error.
    """
    if path is None:
        log.warning("no MobileNetV2 ImageNet weights given: the encoder starts from random init")
        return
    payload = safe_torch_load(path)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise BadInputError(path, f"expected a state dict, found {type(payload).__name__}")
    own = encoder.state_dict()
    block = {}
    for key, target in own.items():
        value = state.get(f"features.{key}")
        if not torch.is_tensor(value) or value.shape != target.shape:
            found = tuple(value.shape) if torch.is_tensor(value) else "nothing"
            raise BadInputError(
                path,
                f"not torchvision mobilenet_v2 weights: features.{key} should be a tensor of "
                f"shape {tuple(target.shape)}, found {found}",
            )
        block[key] = value
    encoder.load_state_dict(block)


# The KDSalBox student's decoder layers (backend/student.py:Decoder), in SaliencyNet's order.
STUDENT_STAGES = ("7_3", "8_1", "8_2", "9_1", "9_2", "10_1", "10_2")
STUDENT_NAMES = (
    {f"decoder.conv{layer}": f"decoder.{i}.0" for i, layer in enumerate(STUDENT_STAGES)}
    | {f"decoder.bn{layer}": f"decoder.{i}.1" for i, layer in enumerate(STUDENT_STAGES)}
    | {"decoder.output": f"decoder.{len(STUDENT_STAGES)}"}
)


def from_student(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A KDSalBox student's state dict (`encoder.<k>...`, `decoder.conv7_3...`) in the names of
    a SaliencyNet with the original decoder (`decoder.<stage>.<0 conv | 1 BN>`, `decoder.7`)."""
    renamed = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        renamed[f"{STUDENT_NAMES.get(module, module)}.{leaf}"] = value
    return renamed
