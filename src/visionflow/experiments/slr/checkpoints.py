"""Checkpoints SLR tests and warm-starts from: visionflow's `.ckpt` files and the original's
`.pth` files (runs/<split>/<MODEL>_exp<NNN>/checkpoints/best.pth, checkpoint_EEE.pth)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from visionflow.io import BadInputError, safe_torch_load
from visionflow.models import video_original
from visionflow.models.catalog import VIDEO_MODELS

log = logging.getLogger(__name__)

ORIGINAL_RUN = re.compile(r"(?P<model>.+)_exp\d+")  # the original's run directory names


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """checkpoints/<name> of a run: best, last, checkpoint_010 (.ckpt), or a file name such as
    the original's best.pth."""
    file = name if name.endswith((".ckpt", ".pth")) else f"{name}.ckpt"
    path = Path(run_dir) / "checkpoints" / file
    if not path.is_file():
        raise BadInputError(path, "checkpoint does not exist")
    return path


def original_model(path: Path, model: str | None) -> str:
    """The architecture of an original .pth: `model`, else the one its run directory names."""
    match = ORIGINAL_RUN.fullmatch(Path(path).parent.parent.name)
    model = model or (match["model"] if match else None)
    if model not in VIDEO_MODELS:
        found = f"unknown model {model!r}" if model else "no <MODEL>_exp<NNN> run directory"
        raise BadInputError(path, f"{found}; pass --model, one of {', '.join(VIDEO_MODELS)}")
    return model


def load_original(ckpt: Path, model: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, its run settings) of an original .pth, of architecture `model` or
    the one its run directory names."""
    name = original_model(ckpt, model)
    state, others = video_original.read(ckpt)
    if others:
        log.warning("%s: testing uses only the weights, not %s", ckpt, ", ".join(others))
    hparams = {"model": name, "num_classes": video_original.num_classes(state, ckpt)}
    return video_original.build(name, state, ckpt).eval(), hparams


def initial_weights(path: Path, name: str) -> dict[str, Tensor]:
    """The `name` model weights a run starts from (its `init_from`): an original .pth, or a
    visionflow checkpoint of the same architecture."""
    path = Path(path)
    if path.suffix == ".pth":
        state, others = video_original.read(path)
        if others:
            log.warning("%s: a warm start takes only the weights, not %s", path, ", ".join(others))
        return video_original.to_visionflow(name, state, path)
    state = safe_torch_load(path)
    model = state.get("hyper_parameters", {}).get("model") if isinstance(state, dict) else None
    if model != name:
        raise BadInputError(path, f"not a visionflow {name} checkpoint (its model: {model})")
    return {k.removeprefix("model."): v for k, v in state["state_dict"].items()}


def original_best(run_dir: Path) -> tuple[float, float]:
    """(best val top-1 as a fraction, best val loss) an original run recorded in its newest
    checkpoint_EEE.pth, as the original's full test reads them."""
    periodic = sorted((Path(run_dir) / "checkpoints").glob("checkpoint_*.pth"))
    if not periodic:
        raise BadInputError(
            Path(run_dir) / "checkpoints", "no checkpoint_EEE.pth holding the best val numbers"
        )
    _, others = video_original.read(periodic[-1])
    missing = {"best_val_acc", "best_val_loss"} - set(others)
    if missing:
        raise BadInputError(periodic[-1], f"lacks {', '.join(sorted(missing))}")
    return float(others["best_val_acc"]) / 100, float(others["best_val_loss"])
