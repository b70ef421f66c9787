"""Turn the original's config.json (and gridsearch.json) into the `saliency:` workflow config.

Data paths, wandb and logging settings belong to the workflow and are dropped with a warning;
image counts per task become batches per task (count // batch_size), as the original derived.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from visionflow.io import BadInputError
from visionflow.models.saliency_net import MOBILENET_BLOCKS
from visionflow.settings import setting_number

log = logging.getLogger(__name__)

STAGES = ("pretrain_one_task", "train_catchup", "train")
KNOWN_SKIPS = ("pretrain_weights", *STAGES)
RENAMED = {
    "freeze_encoder_steps": "freeze_encoder_epochs",
    "auto_checkpoint_steps": "checkpoint_every",
}
COPIED = ("epochs", "lr", "batch_size", "consecutive_batches_per_task", "lr_decay", "decay_epochs")
HNET = {
    "embedding_size": "task_embedding",
    "chunk_size": "chunk_size",
    "chunk_emb_size": "chunk_embedding",
    "hidden_layers": "hidden",
}


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(path, f"not a readable JSON file: {exc}") from None


def _stage(path: Path, name: str, conf: dict[str, Any]) -> dict[str, Any]:
    """One training stage's settings in the workflow's terms."""
    stage = {key: conf[key] for key in COPIED if key in conf}
    stage |= {new: conf[old] for old, new in RENAMED.items() if old in conf}
    for count, key in (
        ("imgs_per_task_train", "batches_per_task_train"),
        ("imgs_per_task_val", "batches_per_task_val"),
    ):
        if count in conf:
            images = setting_number(path, f"{name}.{count}", conf[count], int, 1)
            batch = setting_number(path, f"{name}.batch_size", conf.get("batch_size", 1), int, 1)
            stage[key] = max(1, images // batch)
    if name == "pretrain_one_task":
        tasks = conf.get("tasks") or []
        if "task" not in conf and not tasks:
            raise BadInputError(path, "pretrain_one_task names no task")
        stage["task"] = conf.get("task", tasks[0])
    if conf.get("loss", "BCELoss") != "BCELoss":
        log.warning("%s: %s loss %s is not supported; BCE is used", path, name, conf["loss"])
    return stage


def _section(path: Path, key: str, value: Any) -> dict[str, Any]:
    """A settings file's nested section, which must be a JSON object."""
    if not isinstance(value, dict):
        raise BadInputError(path, f"`{key}` must be an object, got {value!r}")
    return value


def _model(path: Path, conf: Any) -> dict[str, Any]:
    conf = _section(path, "model", conf)
    hnet = _section(path, "model.hnet", conf.get("hnet", {}))
    mnet = _section(path, "model.mnet", conf.get("mnet", {}))
    model: dict[str, Any] = {"hnet": {new: hnet[old] for old, new in HNET.items() if old in hnet}}
    generated = ["decoder"]
    if mnet.get("encoder_type") == "cwl":
        first = mnet.get("mobilenet_cutoff", 0)
        generated = [f"encoder.{i}" for i in range(first, MOBILENET_BLOCKS)] + generated
    elif mnet.get("encoder_type", "mv2") != "mv2":
        raise BadInputError(path, f"model.mnet.encoder_type {mnet['encoder_type']!r} unknown")
    model["generated"] = generated
    if hnet.get("chunk_emb_per_task"):
        log.warning("%s: chunk_emb_per_task is not supported; chunk embeddings are shared", path)
    return model


def _grid_path(path: Path, key: str) -> str:
    """A gridsearch key ("train/lr", "model/hnet/embedding_size") in the workflow's names."""
    parts = key.split("/")
    if len(parts) == 2 and parts[0] in STAGES and parts[1] in (*COPIED, *RENAMED):
        return f"{parts[0]}/{RENAMED.get(parts[1], parts[1])}"
    if len(parts) == 3 and parts[:2] == ["model", "hnet"] and parts[2] in HNET:
        return f"model/hnet/{HNET[parts[2]]}"
    raise BadInputError(path, f"grid key {key!r} has no counterpart in the workflow config")


def import_config(path: str | Path, grid: str | Path | None = None) -> dict[str, Any]:
    """The `saliency` config section the original's config (and grid) describe."""
    path = Path(path)
    conf = _read(path)
    if not isinstance(conf, dict) or "model" not in conf:
        raise BadInputError(path, "no `model` section: not a hypernetwork config.json")
    section: dict[str, Any] = {"model": _model(path, conf["model"])}
    if "all_tasks" in conf:
        section["tasks"] = list(conf["all_tasks"])
    skip = [s for s in conf.get("skip", []) if s in KNOWN_SKIPS]
    section["skip"] = skip
    for name in STAGES:
        if name in conf:
            section[name] = _stage(path, name, _section(path, name, conf[name]))
    if "pretrain_weights" in conf:
        pretrain = _section(path, "pretrain_weights", conf["pretrain_weights"])
        section["pretrain_weights"] = {k: pretrain[k] for k in ("epochs", "lr") if k in pretrain}
    if grid is not None:
        entries = _read(Path(grid))
        if not isinstance(entries, list) or not all(
            isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], list)
            for e in entries
        ):
            raise BadInputError(grid, 'expected [["section/key", [values...]], ...]')
        section["grid"] = [[_grid_path(Path(grid), key), values] for key, values in entries]
    dropped = sorted(set(conf) - {"model", "all_tasks", "skip", *STAGES, "pretrain_weights"})
    if dropped:
        log.warning("%s: not used by the workflow: %s", path, ", ".join(dropped))
    return section
