"""The original SLR's `.pth` files as weights of `video.build` models.

`best.pth` is the wrapper's bare state dict; `checkpoint_EEE.pth` a dict holding it as
`model_state_dict` beside the training state (CHECKPOINT_KEYS). The wrappers register every
backbone module twice, in a `backbone` ModuleList and under its torchvision name, so each
backbone tensor is saved twice; their head is `classifier` (Swin's also as `head`). The
copies are checked equal and dropped, the head is renamed to the torchvision attribute.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from visionflow.io import BadInputError, safe_torch_load
from visionflow.models import video

log = logging.getLogger(__name__)

_RESNET = ("stem", "layer1", "layer2", "layer3", "layer4", "avgpool")
_SWIN = ("patch_embed", "pos_drop", "features", "norm", "avgpool")
_MVIT = ("conv_proj", "pos_encoding", "blocks", "norm")
# The modules of each wrapper's `backbone` ModuleList, in order (parameterless ones too).
BACKBONE_MODULES = {
    "S3D": ("features", "avgpool"),
    "R3D_18": _RESNET,
    "R(2+1)D_18": _RESNET,
    "Swin3D_T": _SWIN,
    "Swin3D_S": _SWIN,
    "Swin3D_B": _SWIN,
    "MViTv2_S": _MVIT,
    "MViTv1_B": _MVIT,
}
# What a periodic checkpoint_EEE.pth of the original holds.
CHECKPOINT_KEYS = (
    "epoch", "steps", "model_state_dict", "optimizer_state_dict", "scheduler_state_dict",
    "best_val_loss", "best_val_acc", "stopper_state_dict",
)  # fmt: skip
HEAD = "classifier.1"  # the wrappers' classification layer (after a Dropout)


def read(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(the wrapper's state dict, the checkpoint's other entries) of an original .pth file."""
    state = safe_torch_load(path)
    if not isinstance(state, dict):
        raise BadInputError(path, f"expected a state dict or a checkpoint dict, got {type(state)}")
    if "model_state_dict" not in state:
        return state, {}
    others = {k: v for k, v in state.items() if k != "model_state_dict"}
    unknown = sorted(set(state) - set(CHECKPOINT_KEYS))
    if unknown:
        log.warning("%s: keys newer than the original's checkpoints: %s", path, ", ".join(unknown))
    return state["model_state_dict"], others


def num_classes(state: dict[str, Tensor], path: Path) -> int:
    """The class count of an original state dict (the rows of its classification layer)."""
    if f"{HEAD}.bias" not in state:
        raise BadInputError(path, f"not an original SLR state dict (no {HEAD}.bias)")
    return int(state[f"{HEAD}.bias"].shape[0])


def _alias(name: str, key: str, path: Path) -> str | None:
    """The key a saved-twice tensor is also saved under, or None if `key` is saved once."""
    first, _, rest = key.partition(".")
    if first == "backbone":
        index, _, rest = rest.partition(".")
        modules = BACKBONE_MODULES[name]
        if not (index.isdigit() and int(index) < len(modules)):
            raise BadInputError(path, f"{key}: the {name} wrapper has no backbone module {index}")
        return f"{modules[int(index)]}.{rest}"
    if first == "classifier" and name.startswith("Swin"):
        return f"head.{rest}"
    return None


def to_visionflow(name: str, state: dict[str, Tensor], path: Path) -> dict[str, Tensor]:
    """The original wrapper's state dict as the state dict of `video.build(name, ...)`."""
    head = video.ARCHS[name].head
    weights = {}
    for key, tensor in state.items():
        alias = _alias(name, key, path)
        if alias is not None:
            if alias not in state or not torch.equal(state[alias], tensor):
                raise BadInputError(path, f"{key} is not the same tensor as {alias}")
        elif key.startswith("classifier."):
            weights[f"{head}.{key.removeprefix('classifier.')}"] = tensor
        else:
            weights[key] = tensor
    return weights


def build(name: str, state: dict[str, Tensor], path: Path) -> nn.Module:
    """The `name` model holding the weights of an original state dict (read from `path`)."""
    model = video.build(name, num_classes(state, path))
    weights = to_visionflow(name, state, path)
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as exc:  # tensors of other shapes
        raise BadInputError(path, f"not an original {name} checkpoint ({exc})") from None
    if missing or unexpected:
        problem = f"missing {', '.join(missing[:5]) or 'nothing'}"
        problem += f"; unexpected {', '.join(unexpected[:5]) or 'nothing'}"
        raise BadInputError(path, f"not an original {name} checkpoint: {problem}")
    return model
