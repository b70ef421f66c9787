"""Turn the original's config.json (and gridsearch.json) into the `saliency:` workflow config.

Every generation of the file is read: the multimodel configs (per-stage task lists; flat
`model.hnet_*` keys or nested `model.hnet`/`model.mnet`; top-level `type`), the configs with
one top-level `tasks` list, and PR #2's `all_tasks` with per-stage `tasks`. Every key of the
file, at every level, is either imported or named with its reason in one warning; a stage
section the file lacks is skipped, as the original runs only the stages its file has. Image
counts per task become batches per task (count // batch_size, at least 1).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visionflow.experiments.saliency import LOSSES as SALIENCY_LOSSES
from visionflow.experiments.saliency import STAGES
from visionflow.io import BadInputError
from visionflow.models.catalog import SALIENCY_ACTIVATIONS, SALIENCY_HYPERNETWORKS
from visionflow.models.saliency_net import MOBILENET_BLOCKS
from visionflow.settings import setting_number

log = logging.getLogger(__name__)

# The original's names of losses and activations, in the order of the workflow's names.
LOSSES = dict(zip(("BCELoss", "L1Loss", "MSELoss", "HuberLoss"), SALIENCY_LOSSES, strict=True))
ACTIVATIONS = dict(zip(("ReLU", "ReLU6", "LeakyReLU"), SALIENCY_ACTIVATIONS, strict=True))
# The older top-level `type`: `full_chunked` is the chunked hnet, `full` a one-hot single layer.
OLD_TYPES = {"full_chunked": "chunked", "full": "single_layer"}
COPIED = ("epochs", "lr", "batch_size", "consecutive_batches_per_task", "lr_decay", "decay_epochs")
RENAMED = {
    "freeze_encoder_steps": "freeze_encoder_epochs",
    "auto_checkpoint_steps": "checkpoint_every",
    "freeze_hnet_shared_steps": "freeze_hnet_shared_epochs",
    "train_img_cnt": "train_images",
    "val_img_cnt": "val_images",
}
COUNTS = {"imgs_per_task_train": "train", "imgs_per_task_val": "val"}
HNET = {
    "embedding_size": "task_embedding",
    "chunk_size": "chunk_size",
    "chunk_emb_size": "chunk_embedding",
    "hidden_layers": "hidden",
}
DATA = "data folders are saliency.root (images/train|val|test|run, saliencies/<task>)"
LOGGING = "console and wandb logging"
IGNORED = {
    **dict.fromkeys(
        (
            "input_saliencies",
            "input_images_train",
            "input_images_val",
            "input_images_run",
            "input_images_test",
            "recursive",
        ),
        DATA,
    ),  # fmt: skip
    **dict.fromkeys(("batch_log_freq", "log_freq", "verbose", "logging_dir"), LOGGING),
    "wandb": "wandb uploads and watch (saliency.wandb logs offline)",
    "max_checkpoint_freq": "best checkpoints are kept without a rate limit",
    **dict.fromkeys(
        ("export_path", "pretrained_model_path", "model_path"),
        "exports live in results/saliency/<point>/<stage>/ and chain by the DAG",
    ),
}
TOP_IGNORED = {
    **dict.fromkeys(("wandb_entity", "wandb_project"), "wandb account (runs stay offline)"),
    "gpu": "devices come from the scheduler",
    **dict.fromkeys(("name", "description", "verbose"), "wandb run name and logging"),
    "load_model": "a wandb run file; set saliency.load_model to a local export.pt instead",
}
EVALUATION = {"test": {"tasks", "batch_size"}, "run": {"tasks"}, "eval": {"tasks"}}
EVALUATION_IGNORED = {
    "imgs_per_task_test": "every image of the test split is scored",
    "per_image_statistics": "per-image rows are always written (test/images.csv)",
    "overwrite": "never read by the original's runner",
    **dict.fromkeys(("save_to_wandb", "save_to_disk"), "maps are written to results/.../run/"),
}
# Gridsearch keys of the model (nested, or the multimodel era's flat ones) in the workflow's.
MODEL_GRID = {
    **{f"model/hnet/{key}": f"model/hnet/{target}" for key, target in HNET.items()},
    **{f"model/hnet_{key}": f"model/hnet/{target}" for key, target in HNET.items()},
    "model/hnet/type": "model/hnet/type",
    "model/use_eval_mode": "model/use_eval_mode",
    "model/mnet/decoder_non_linearity": "model/decoder_activation",
    "model/decoder_non_linearity": "model/decoder_activation",
}
NO_OP_CHOICES = {"image-based": "does nothing in the original", "default": "does nothing here"}


@dataclass
class Imported:
    """The config section, and for each key path of the file its target or why it has none."""

    section: dict[str, Any] = field(default_factory=dict)
    imported: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)

    def take(self, key: str, target: str) -> None:
        self.imported[key] = f"saliency.{target}"

    def ignore(self, key: str, reason: str) -> None:
        self.ignored[key] = reason


def leaves(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf of a JSON document (a list or an empty object is a leaf)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(path, f"not a readable JSON file: {exc}") from None


def _section(path: Path, key: str, value: Any) -> dict[str, Any]:
    """A settings file's nested section, which must be a JSON object."""
    if not isinstance(value, dict):
        raise BadInputError(path, f"`{key}` must be an object, got {value!r}")
    return value


def _names(path: Path, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadInputError(path, f"`{key}` must be a non-empty list of task names, got {value!r}")
    return value


def _choice(path: Path, key: str, value: Any, names: dict[str, str]) -> str:
    if value not in names:
        raise BadInputError(path, f"{key} {value!r} is not one of {', '.join(names)}")
    return names[value]


def stage_value(path: Path, where: str, key: str, value: Any, stage: dict) -> tuple[str, Any] | str:
    """(workflow key, value) of one key of a training stage section, or why it has none."""
    if key in COPIED:
        return key, value
    if key in RENAMED:
        return RENAMED[key], value
    if key in COUNTS:
        images = setting_number(path, f"{where}.{key}", value, int, 1)
        batch = setting_number(path, f"{where}.batch_size", stage.get("batch_size", 1), int, 1)
        return f"batches_per_task_{COUNTS[key]}", max(1, images // batch)
    if key == "loss":
        return "loss", _choice(path, f"{where}.loss", value, LOSSES)
    if key == "tasks":
        tasks = _names(path, f"{where}.tasks", value)
        return ("task", tasks[0]) if where == "pretrain_one_task" else ("tasks", tasks)
    return IGNORED.get(key, "no counterpart in the workflow")


def _stage(path: Path, record: Imported, source: str, name: str, conf: dict) -> dict[str, Any]:
    """One training stage's settings in the workflow's terms (`source`: its key in the file)."""
    stage: dict[str, Any] = {}
    if name in ("pretrain_one_task", "train_generalization_task"):
        stage |= {"batches_per_task_train": None, "batches_per_task_val": None}
    for key, value in conf.items():
        found = stage_value(path, name, key, value, conf)
        if key == "target_model_weights" and name == "pretrain_weights":
            record.section["weights_dir"] = value
            record.take(f"{source}.{key}", "weights_dir")
        elif isinstance(found, str):
            record.ignore(f"{source}.{key}", found)
        else:
            stage[found[0]] = found[1]
            record.take(f"{source}.{key}", f"{name}.{found[0]}")
    if name == "pretrain_one_task" and isinstance(conf.get("tasks"), list) and conf["tasks"][1:]:
        record.ignore(f"{source}.tasks[1:]", "only the first task is trained, as in the original")
    return stage


def _hnet(path: Path, record: Imported, conf: dict, flat: bool) -> dict[str, Any]:
    """model.hnet from `model.hnet` (nested) or the multimodel era's `model.hnet_*` keys."""
    prefix = "model.hnet_" if flat else "model.hnet."
    hnet = {}
    for key, target in HNET.items():
        if key in conf:
            hnet[target] = conf[key]
            record.take(prefix + key, f"model.hnet.{target}")
    if "type" in conf:
        hnet["type"] = conf["type"]
        if conf["type"] not in SALIENCY_HYPERNETWORKS:
            raise BadInputError(
                path, f"model.hnet.type {conf['type']!r} is not one of {SALIENCY_HYPERNETWORKS}"
            )
        record.take(prefix + "type", "model.hnet.type")
    if conf.get("chunk_emb_per_task"):
        record.ignore(prefix + "chunk_emb_per_task", "per-task chunk embeddings are not rebuilt")
    elif "chunk_emb_per_task" in conf:
        record.take(prefix + "chunk_emb_per_task", "model.hnet (chunk embeddings shared)")
    return hnet


def _model(path: Path, record: Imported, conf: Any, old_type: Any) -> dict[str, Any]:
    conf = _section(path, "model", conf)
    flat = {k.removeprefix("hnet_"): v for k, v in conf.items() if k.startswith("hnet_")}
    hnet = _hnet(
        path, record, flat or _section(path, "model.hnet", conf.get("hnet", {})), bool(flat)
    )
    mnet = _section(path, "model.mnet", conf.get("mnet", {}))
    mnet_prefix = "model.mnet." if "mnet" in conf else "model."
    mnet = mnet or {k: conf[k] for k in ("decoder_non_linearity", "mobilenet_cutoff") if k in conf}
    if old_type is not None:
        hnet.setdefault("type", _choice(path, "type", old_type, OLD_TYPES))
        record.take("type", "model.hnet.type")
    model: dict[str, Any] = {"hnet": hnet, "use_eval_mode": conf.get("use_eval_mode", True)}
    record.take("model.use_eval_mode", "model.use_eval_mode")
    for key, only in (("type", "original"), ("decoder_type", "full")):
        if mnet.get(key, only) != only:
            raise BadInputError(path, f"model.mnet.{key} {mnet[key]!r}: only {only!r} exists")
        record.take(f"model.mnet.{key}", "model (the original's only choice)")
    # Without encoder_type the early configs always generated the encoder from the cutoff on.
    encoder = mnet.get("encoder_type", "cwl" if "mobilenet_cutoff" in mnet else "mv2")
    generated = ["decoder"]
    if encoder == "cwl":
        first = setting_number(
            path, "model.mnet.mobilenet_cutoff", mnet.get("mobilenet_cutoff", 0), int, 0
        )
        generated = [f"encoder.{i}" for i in range(first, MOBILENET_BLOCKS)] + generated
        record.take(mnet_prefix + "mobilenet_cutoff", "model.generated")
    elif encoder != "mv2":
        raise BadInputError(path, f"model.mnet.encoder_type {encoder!r} unknown")
    elif "mobilenet_cutoff" in mnet:
        record.ignore(mnet_prefix + "mobilenet_cutoff", "unused with encoder_type mv2, as upstream")
    record.take("model.mnet.encoder_type", "model.generated")
    model["generated"] = generated
    # The first multimodel decoders hard-coded F.relu; later every file names its activation.
    activation = mnet.get("decoder_non_linearity", "ReLU")
    model["decoder_activation"] = _choice(path, "decoder_non_linearity", activation, ACTIVATIONS)
    record.take(mnet_prefix + "decoder_non_linearity", "model.decoder_activation")
    return model


def _task_count(path: Path, record: Imported, conf: dict, tasks: list[str]) -> None:
    """`task_cnt`: the original's number of task embeddings, at least the number of tasks."""
    for key in ("model.hnet.task_cnt", "model.task_cnt"):
        parent, _, leaf = key.rpartition(".")
        node = conf
        for part in parent.split("."):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and leaf in node:
            count = setting_number(path, key, node[leaf], int, 1)
            if count < len(tasks):
                raise BadInputError(path, f"{key} {count} is fewer than the {len(tasks)} tasks")
            if count == len(tasks):
                record.take(key, "tasks (one embedding each)")
            else:
                record.ignore(key, f"one embedding per task: the other {count - len(tasks)} unused")


def _processing(path: Path, record: Imported, name: str, conf: Any) -> dict[str, Any]:
    """The pre- or post-processing options: each parameter's `default` is its value."""
    settings = {}
    for key, spec in _section(path, name, conf).items():
        where = f"{name}.{key}"
        if key == "histogram_matching_image_path":
            record.ignore(where, "never read by the original")
            continue
        value = _section(path, where, spec).get("default")
        if value in NO_OP_CHOICES:
            record.ignore(f"{where}={value}", f"{NO_OP_CHOICES[value]}: imported as none")
            value = "none"
        settings[key] = value
        record.take(where, where)
    return settings


def _refuse_other_files(path: Path, conf: Any) -> None:
    if not isinstance(conf, dict):
        raise BadInputError(path, "no `model` section: not a hypernetwork config.json")
    if "experiment_parameters" in conf:
        raise BadInputError(
            path, "a single-model toolbox config (experiment_parameters), not a hypernetwork config"
        )
    if conf and set(conf) <= {"model", *STAGES, "pretrain", "test", "run", "eval", "load_model",
                               "preprocess", "postprocess"} and len(conf) == 1:  # fmt: skip
        raise BadInputError(
            path, f"a config.json fragment ({next(iter(conf))}); merge it into config.json"
        )
    if "model" not in conf:
        raise BadInputError(path, "no `model` section: not a hypernetwork config.json")


def _tasks(path: Path, record: Imported, conf: dict) -> list[str]:
    """The model's tasks: `all_tasks`, else `tasks`, else every stage's list in first-seen order."""
    for key in ("all_tasks", "tasks"):
        if key in conf:
            record.take(key, "tasks")
            return _names(path, key, conf[key])
    tasks: list[str] = []
    for name, value in conf.items():
        if isinstance(value, dict) and isinstance(value.get("tasks"), list):
            tasks += [t for t in _names(path, f"{name}.tasks", value["tasks"]) if t not in tasks]
    return tasks


def read_config(path: str | Path, grid: str | Path | None = None) -> Imported:
    """The `saliency` section the original's config (and grid) describe, with the fate of
    every key of the file."""
    path = Path(path)
    conf = _read(path)
    _refuse_other_files(path, conf)
    record = Imported()
    section = record.section
    tasks = _tasks(path, record, conf)
    if tasks:
        section["tasks"] = tasks
    section["model"] = _model(path, record, conf["model"], conf.get("type"))
    _task_count(path, record, conf, tasks)
    experiment = _section(path, "experiment", conf.get("experiment", {}))
    skip_key = "skip" if "skip" in conf else "experiment.skip"
    skips = conf.get("skip", experiment.get("skip", []))
    if not isinstance(skips, list) or not all(isinstance(name, str) for name in skips):
        raise BadInputError(path, f"`{skip_key}` must be a list of stage names, got {skips!r}")
    for key in experiment:
        if key != "skip":
            record.ignore(f"experiment.{key}", "wandb run name and logging")
    for name in STAGES:
        source = "pretrain" if name == "pretrain_weights" and "pretrain" in conf else name
        if source in conf:
            section[name] = _stage(path, record, source, name, _section(path, source, conf[source]))
    if tasks and "pretrain_one_task" in section and "task" not in section["pretrain_one_task"]:
        section["pretrain_one_task"]["task"] = tasks[0]  # the top-level list's first task
    section["skip"] = [s for s in STAGES if s in skips or s not in section]
    record.take(skip_key, "skip")
    for name in skips:
        if name not in STAGES:
            record.ignore(
                f"{skip_key}[{name}]", "not a training stage; the rest run when asked for"
            )
    for name, keys in EVALUATION.items():
        for key, value in _section(path, name, conf.get(name, {})).items():
            if key in keys:
                section.setdefault(name, {})[key] = value
                record.take(f"{name}.{key}", f"{name}.{key}")
            else:
                reason = EVALUATION_IGNORED.get(key) or IGNORED.get(key)
                record.ignore(f"{name}.{key}", reason or "no counterpart in the workflow")
    for name in ("preprocess", "postprocess"):
        if name in conf:
            section[name] = _processing(path, record, name, conf[name])
    for key, reason in TOP_IGNORED.items():
        if key in conf:
            record.ignore(key, reason)
    if grid is not None:
        section["grid"] = _grid(Path(grid), conf)
    present = {".".join(leaf.split(".")[:n]) for leaf in leaves(conf) for n in range(1, 99)}
    record.imported = {k: v for k, v in record.imported.items() if k in present}
    for key in leaves(conf):
        if not any(
            key == k or key.startswith(k + ".") for k in (*record.imported, *record.ignored)
        ):
            record.ignore(key, "no counterpart in the workflow")
    return record


def _grid_entry(path: Path, conf: dict, key: str, values: list) -> list:
    """[workflow key, values] of one gridsearch entry ("train/lr", "model/hnet/embedding_size")."""
    parts = key.split("/")
    stage = "pretrain_weights" if parts[0] == "pretrain" else parts[0]
    reason = "no counterpart in the workflow config"
    if len(parts) == 2 and stage in STAGES and values:
        own = conf.get(parts[0]) if isinstance(conf.get(parts[0]), dict) else {}
        found = [stage_value(path, stage, parts[1], v, own) for v in values]
        if all(isinstance(f, tuple) for f in found):
            return [f"{stage}/{found[0][0]}", [f[1] for f in found]]
        reason = next(f for f in found if isinstance(f, str))
    if key in MODEL_GRID:
        target = MODEL_GRID[key]
        if target == "model/decoder_activation":
            values = [_choice(path, key, v, ACTIVATIONS) for v in values]
        return [target, values]
    raise BadInputError(path, f"grid key {key!r} has no counterpart ({reason})")


def _grid(path: Path, conf: dict) -> list[list]:
    entries = _read(path)
    if not isinstance(entries, list) or not all(
        isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], list)
        for e in entries
    ):
        raise BadInputError(path, 'expected [["section/key", [values...]], ...]')
    return [_grid_entry(path, conf, key, values) for key, values in entries]


def import_config(path: str | Path, grid: str | Path | None = None) -> dict[str, Any]:
    """The `saliency` config section the original's config (and grid) describe; every key the
    workflow does not use is named, with its reason, in one warning."""
    record = read_config(path, grid)
    if record.ignored:
        reasons: dict[str, list[str]] = {}
        for key, reason in record.ignored.items():
            reasons.setdefault(reason, []).append(key)
        named = "; ".join(f"{', '.join(keys)} ({reason})" for reason, keys in reasons.items())
        log.warning("%s: not used by the workflow: %s", path, named)
    return record.section
