"""Every CORnet by name, and weights from the originals' or visionflow's files."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.catalog import CORNET_FEEDBACK, CORNET_MODELS, CORNET_RECURRENT
from visionflow.models.cornet import IMAGENET_CLASSES, CORnetS, CORnetS100
from visionflow.models.cornet_zr import CORnetR, cornet_z

log = logging.getLogger(__name__)

READOUTS = ("decoder.", "Decoder.")
# run.py's --times default, the time steps of CORnet-R and RT.
DEFAULT_TIMES = 5


def build(
    name: str,
    num_classes: int,
    width: float = 1.0,
    outer_times: int = 1,
    times: int = DEFAULT_TIMES,
) -> nn.Module:
    """The CORnet `name` (one of CORNET_MODELS) for data of `num_classes` classes.

    S100 reads out `num_classes`; Z, R, RT and S keep their 1000-way ImageNet read-out, as
    CORnet-100 trains them. `outer_times` applies to S100, `times` to R and RT.
    """
    if name not in CORNET_MODELS:
        raise BadInputError("cornet.model", f"{name!r} is not one of {', '.join(CORNET_MODELS)}")
    if outer_times != 1 and name != CORNET_FEEDBACK:
        raise BadInputError("cornet.outer_times", f"feedback passes are S100's; {name} has none")
    if times != DEFAULT_TIMES and name not in CORNET_RECURRENT:
        raise BadInputError("cornet.times", f"time steps are set for R and RT only, not {name}")
    if name == CORNET_FEEDBACK:
        return CORnetS100(num_classes, outer_times, width)
    if num_classes > IMAGENET_CLASSES:
        problem = f"{name} reads out {IMAGENET_CLASSES} classes, the data has {num_classes}"
        raise BadInputError("cornet.model", problem)
    if name == "S":
        return CORnetS(IMAGENET_CLASSES, width)
    if name == "Z":
        return cornet_z(IMAGENET_CLASSES, width)
    return CORnetR(IMAGENET_CLASSES, width, times, synchronous=name == "RT")


def load_cornet_weights(model: nn.Module, path: str | Path, strict: bool = False) -> list[str]:
    """Copy matching tensors from an original CORnet file or a visionflow checkpoint.

    Accepts `{'state_dict': ...}` files (DataParallel `module.` and Lightning `model.`
    prefixes stripped, `decoder.`/`Decoder.` renamed to the model's read-out) or a bare
    state dict. Returns the names of model tensors left at their initial values (missing
    or of another shape), which a warning also lists, as it lists the file's tensors
    that the model does not use. `strict` refuses the file unless it holds exactly the
    model's tensors, as run.py's `load_state_dict` does.
    """
    payload = safe_torch_load(path)
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not state:
        raise BadInputError(path, f"expected a state dict, found {type(payload).__name__}")
    own = model.state_dict()
    readout = next((p for p in READOUTS if any(k.startswith(p) for k in own)), READOUTS[0])
    file_key = {_canonical_key(k, readout): k for k, v in state.items() if torch.is_tensor(v)}
    renamed = {k: state[name] for k, name in file_key.items()}
    missing = (k for k in own if k not in renamed)
    renamed |= {k: renamed[s] for k in missing if (s := _shared_statistic(k)) in renamed}
    usable = {k: v for k, v in renamed.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise BadInputError(path, f"no tensor matches the {type(model).__name__} layout")
    left = sorted(k for k in own if k not in usable)
    sources = set(usable) | {_shared_statistic(k) for k in usable}
    unused = sorted(name for k, name in file_key.items() if k not in sources)
    if strict and (left or unused):
        raise BadInputError(
            path,
            f"not the tensors of this {type(model).__name__}: {_counted(left)} of the model"
            f" missing or of another shape, {_counted(unused)} of the file without a place;"
            " the model settings (model, outer_times, times, width) must be the file's",
        )
    model.load_state_dict(usable, strict=False)
    if left:
        log.warning(
            "%s: %d tensors keep their initial values: %s", path, len(left), ", ".join(left)
        )
    if unused:
        log.warning("%s: %d tensors of the file are not used: %s", path, len(unused),
                    ", ".join(unused))  # fmt: skip
    return left


def _counted(names: list[str]) -> str:
    """'3 (first: a.weight)' for a list of tensor names."""
    return f"{len(names)} (first: {names[0]})" if names else "0"


def _shared_statistic(key: str) -> str | None:
    """`...running_mean` for a per-pass `...running_mean_pass2` key, as stored by the original."""
    stem, sep, index = key.rpartition("_pass")
    return stem if sep and index.isdigit() else None


def _canonical_key(key: str, readout: str) -> str:
    for prefix in ("module.", "model."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    for other in READOUTS:
        if key.startswith(other):
            return readout + key[len(other) :]
    return key
