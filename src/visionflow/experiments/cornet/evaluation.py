"""Evaluation of CORnet checkpoints (visionflow's or the original run.py's) and the table of
a study's runs."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from visionflow.data.miniimagenet import PackedImages
from visionflow.engine.classifier import ImageClassifier
from visionflow.engine.datamodule import eval_loader
from visionflow.engine.recipe import run_history
from visionflow.engine.sampling import SeededImageDataset
from visionflow.engine.trainer import evaluate as evaluate_module
from visionflow.experiments.cornet.training import build_model, eval_transform
from visionflow.figures import split_rows
from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.catalog import CORNET_FEEDBACK, CORNET_MODELS, CORNET_RECURRENT
from visionflow.models.cornet_zoo import DEFAULT_TIMES, load_cornet_weights
from visionflow.settings import PRECISIONS, setting_number

log = logging.getLogger(__name__)

READOUT = "decoder.linear.bias"
SUMMARY_COLUMNS = [
    "run",
    "best_epoch",
    "best_val_top1",
    "best_val_top5",
    "final_epoch",
    "final_val_top1",
    "final_val_top5",
    "test_top1",
    "test_top5",
    "test_loss",
]


def run_label(settings: dict[str, Any]) -> str:
    """How figures and tables name a run."""
    model = settings.get("model", CORNET_FEEDBACK)
    if model == CORNET_FEEDBACK:
        return f"outer_times={settings['outer_times']}"
    if model in CORNET_RECURRENT:
        return f"CORnet-{model} times={settings['times']}"
    return f"CORnet-{model}"


def flags_settings(path: Path, flags: Mapping[str, Any]) -> dict[str, Any]:
    """The model settings of an original run.py file's `flags` (its command line)."""
    model = flags.get("model")
    if model not in CORNET_MODELS:
        known = ", ".join(CORNET_MODELS)
        raise BadInputError(path, f"flags: model {model!r} is not one of {known}")
    settings: dict[str, Any] = {"model": model}
    if model == CORNET_FEEDBACK:
        settings["outer_times"] = setting_number(
            path, "flags.outer_times", flags.get("outer_times", 1), int, 1
        )
    elif model == "R":
        settings["times"] = setting_number(path, "flags.times", flags.get("times", 5), int, 1)
    elif model == "RT":
        settings["times"] = DEFAULT_TIMES  # run.py:get_model passes --times to R only
    return settings


def checkpoint_settings(path: Path, payload: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's model settings: a visionflow run's hyperparameters or an original
    file's flags, under the non-None `overrides` (command-line options)."""
    payload = payload if isinstance(payload, dict) else {}
    if "hyper_parameters" in payload:
        settings = dict(payload["hyper_parameters"])
    elif isinstance(payload.get("flags"), Mapping):
        settings = flags_settings(path, payload["flags"])
        unused = sorted(set(payload) - {"flags", "state_dict"})
        if unused:
            log.warning("%s: %s not used (training state; only the weights and the flags' model"
                        " settings are)", path, ", ".join(unused))  # fmt: skip
    else:
        settings = {}
    settings |= {k: v for k, v in overrides.items() if v is not None}
    settings.setdefault("width", 1.0)
    if "model" not in settings:
        raise BadInputError(path, "no model settings stored; pass --model (and its options)")
    if settings["model"] == CORNET_FEEDBACK and "outer_times" not in settings:
        raise BadInputError(path, "no outer_times stored for S100; pass --outer-times")
    return settings


def readout_size(path: Path, payload: Any) -> int:
    """Outputs of the read-out stored in a checkpoint (`decoder.linear` or `Decoder.linear`)."""
    state = payload.get("state_dict", payload) if isinstance(payload, dict) else {}
    sizes = [len(v) for k, v in state.items() if k.lower().endswith(READOUT) and torch.is_tensor(v)]
    if len(sizes) != 1:
        raise BadInputError(path, f"no read-out ({READOUT}) to size the model by")
    return int(sizes[0])


def load(ckpt: Path, num_classes: int | None = None, **overrides: Any) -> tuple[nn.Module, dict]:
    """A trained CORnet in eval mode and its settings.

    visionflow checkpoints carry their settings and original run.py files their flags;
    `overrides` (model, outer_times, times, width) replace them, and give them for a bare
    state dict. `num_classes`, the classes of the data it is used on, must match the
    classes it was trained on (without data or stored settings: the read-out's size);
    the file must hold exactly the model's tensors.
    """
    payload = safe_torch_load(ckpt)
    settings = checkpoint_settings(ckpt, payload, overrides)
    if num_classes is not None:
        trained_for = settings.setdefault("num_classes", num_classes)
        if trained_for != num_classes:
            raise BadInputError(ckpt, f"trained for {trained_for} classes, data has {num_classes}")
    if "num_classes" not in settings:
        settings["num_classes"] = readout_size(ckpt, payload)
    model = build_model(settings)
    load_cornet_weights(model, ckpt, strict=True)
    return model.eval(), settings


def evaluate(
    ckpt: Path,
    data_dir: Path,
    split: str,
    batch_size: int,
    workers: int,
    selected_on: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """top1/top5/loss of a checkpoint on a prepared split, as run.py's `val` computes them.

    `selected_on` names the split the checkpoint was chosen on (the workflow scores
    best.ckpt, chosen on val, on val: MiniImageNet has no third split); it is recorded.
    """
    images = PackedImages(data_dir, split)
    model, settings = load(ckpt, images.num_classes, **overrides)
    dataset = SeededImageDataset(
        images,
        eval_transform(settings.get("resize_size", 256), settings.get("crop_size", 224)),
        seed=0,
    )
    module = ImageClassifier(model, {"precision": settings.get("precision", PRECISIONS[0])})
    metrics = evaluate_module(module, eval_loader(dataset, batch_size, workers))
    return metrics | {
        "samples": len(images),
        "checkpoint": str(ckpt),
        "split": split,
        "selected_on": selected_on,
    }


def best_val(frame: pd.DataFrame, run: str) -> pd.Series:
    """The validation row best.ckpt holds: the earliest trained epoch of maximal top-1."""
    val = split_rows(frame, run, "val", True, ["top1", "top5"])
    trained = val[val["epoch"] > 0].reset_index(drop=True)
    if trained["top1"].isna().all():
        raise ValueError(f"run {run!r} has no validation top-1 values after training")
    return trained.loc[trained["top1"].idxmax()]


def summarize(run_dirs: Sequence[Path]) -> pd.DataFrame:
    """One row per run: best and final validation top-1/top-5 (fractions) and test scores.

    The best epoch is the one best.ckpt holds; test columns are eval/test.json (best.ckpt
    re-scored on val by the workflow), NaN for runs without one.
    """
    rows = []
    for run_dir in map(Path, run_dirs):
        [(run, frame)] = run_history([run_dir], run_label).items()
        test_path = run_dir / "eval" / "test.json"
        test = json.loads(test_path.read_text()) if test_path.exists() else {}
        best = best_val(frame, run)
        final = split_rows(frame, run, "val", True, ["top1", "top5"]).iloc[-1]
        rows.append(
            {
                "run": run,
                "best_epoch": int(best["epoch"]),
                "best_val_top1": float(best["top1"]),
                "best_val_top5": float(best["top5"]),
                "final_epoch": int(final["epoch"]),
                "final_val_top1": float(final["top1"]),
                "final_val_top5": float(final["top5"]),
                "test_top1": float(test.get("top1", math.nan)),
                "test_top5": float(test.get("top5", math.nan)),
                "test_loss": float(test.get("loss", math.nan)),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
