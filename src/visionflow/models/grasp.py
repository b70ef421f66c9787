"""NeuroVis AlexnetMap (v3): one model for grasp maps and class maps on RGB-D input.

RGB and depth (repeated to three channels) each pass through a copy of AlexNet's first
conv block (conv 11x11/4, ReLU, max-pool), frozen at ImageNet weights; the concatenated
features go through a small conv encoder-decoder back to 224x224, ending in a 5-channel
tanh head (grasp offsets/angle/size, or class maps) and a 1-channel sigmoid confidence.
Module names match the original, so its state dicts load directly.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor, nn

from visionflow.io import BadInputError, safe_torch_load

log = logging.getLogger(__name__)

BACKBONE_KEYS = ("0.weight", "0.bias")


def alexnet_first_block() -> nn.Sequential:
    """torchvision AlexNet's `features[:3]`: conv 3->64 11x11 stride 4 pad 2, ReLU, max-pool 3/2."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def _decoder(dropout: float) -> nn.Sequential:
    """128x27x27 backbone features -> 16x54x54, as AlexnetMap_v3's `features`."""

    def conv(cin: int, cout: int, k: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, kernel_size=k, padding=k // 2), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *conv(64 + 64, 32, 5),
        nn.Dropout(dropout),
        nn.MaxPool2d(kernel_size=3, stride=2),
        *conv(32, 64, 3),
        nn.Dropout(dropout),
        *conv(64, 64, 3),
        nn.Dropout(dropout),
        *conv(64, 64, 3),
        nn.Dropout(dropout),
        nn.ConvTranspose2d(64, 32, kernel_size=3, stride=2),
        nn.ReLU(inplace=True),
        *conv(32, 32, 5),
        nn.ConvTranspose2d(32, 16, kernel_size=3, stride=2, padding=1, output_padding=1),
        nn.ReLU(inplace=True),
    )


def _head(channels: int, activation: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(16, channels, kernel_size=11, stride=4, output_padding=1), activation
    )


class AlexnetMap(nn.Module):
    """RGB-D -> (B, 6, H, W) map: channels 0-4 tanh in [-1, 1], channel 5 confidence in [0, 1].

    Call `load_alexnet_features` for the ImageNet backbone; construction never downloads.
    """

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.rgb_features = alexnet_first_block()
        self.d_features = alexnet_first_block()
        self.features = _decoder(dropout)
        self.grasp = _head(5, nn.Tanh())
        self.confidence = _head(1, nn.Sigmoid())
        self.set_backbone_trainable(False)
        for part in (self.features, self.grasp, self.confidence):
            for m in part.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.xavier_uniform_(m.weight, gain=1)

    def set_backbone_trainable(self, trainable: bool) -> None:
        """Freeze (default) or unfreeze both AlexNet blocks (the original unfroze at epoch 75)."""
        for p in (*self.rgb_features.parameters(), *self.d_features.parameters()):
            p.requires_grad = trainable

    def forward(self, rgb: Tensor, depth: Tensor | None = None) -> Tensor:
        """RGB (B,3,H,W) and depth (B,1,H,W); or, with no depth, the original's (B,4,H,W) RGB-D."""
        if depth is None:
            rgb, depth = rgb[:, :3], rgb[:, 3:4]
        x = torch.cat((self.rgb_features(rgb), self.d_features(depth.expand(-1, 3, -1, -1))), 1)
        x = self.features(x)
        confidence = self.confidence(x)
        # The heads' output_padding adds a last row and column that no input reaches; their
        # confidence would be sigmoid(bias) alone and win the argmax early in training.
        reached = torch.ones_like(confidence)
        reached[..., -1, :] = 0
        reached[..., :, -1] = 0
        return torch.cat((self.grasp(x), confidence * reached), dim=1)


def load_map_state(model: AlexnetMap, state: Mapping[str, Any], path: str | Path) -> None:
    """Load an AlexnetMap state dict, visionflow's or the original's `AlexnetMap_v3` `.pth`
    (same 22 tensors); BadInputError naming `path` for a missing, extra or misshapen one."""
    own = model.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    if missing or unexpected:
        raise BadInputError(
            path,
            f"not an AlexnetMap_v3 state dict (missing {missing[:3]}, unexpected {unexpected[:3]})",
        )
    for key, value in state.items():
        if not torch.is_tensor(value) or value.shape != own[key].shape:
            found = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            raise BadInputError(
                path, f"{key}: expected shape {tuple(own[key].shape)}, found {found}"
            )
    model.load_state_dict(state)


def _alexnet_state(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a torchvision AlexNet state dict at `path` (`module.` prefixes removed)."""
    payload = safe_torch_load(path)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise BadInputError(path, f"expected an AlexNet state dict, found {type(payload).__name__}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_alexnet(path: str | Path) -> nn.Module:
    """torchvision's AlexNet with the ImageNet weights of the state dict at `path`, in eval mode."""
    model = torchvision.models.alexnet(weights=None)
    try:
        model.load_state_dict(_alexnet_state(path))
    except RuntimeError as exc:  # missing, unexpected or misshapen tensors
        problem = str(exc).splitlines()[1].strip()
        raise BadInputError(path, f"not AlexNet weights: {problem}") from exc
    return model.eval()


def load_alexnet_features(model: AlexnetMap, path: str | Path | None) -> bool:
    """Copy torchvision AlexNet's first conv (`features.0.*`) into both branches.

    Returns False, with a warning, when `path` is None or missing (random init stays).
    """
    if path is None or not Path(path).is_file():
        message = f"AlexNet weights not found ({path}); backbone keeps its random init"
        log.warning(message)
        warnings.warn(message, stacklevel=2)
        return False
    state = _alexnet_state(path)
    own = model.rgb_features.state_dict()
    try:
        block = {k: state[f"features.{k}"] for k in BACKBONE_KEYS}
    except KeyError as exc:
        raise BadInputError(path, f"no AlexNet tensor {exc.args[0]!r}") from exc
    for key, value in block.items():
        if not torch.is_tensor(value) or value.shape != own[key].shape:
            found = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
            raise BadInputError(
                path, f"features.{key}: expected shape {tuple(own[key].shape)}, found {found}"
            )
    model.rgb_features.load_state_dict(block)
    model.d_features.load_state_dict(block)
    return True
