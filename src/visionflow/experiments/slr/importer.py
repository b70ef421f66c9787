"""Turn an original SLR experiment .ini file into a `slr: runs:` entry of the workflow config.

Values are read as the original read them (`ast.literal_eval`, else the raw string). Unlike
the original, a typeless legacy [scheduler] means cosine annealing, early stopping given inside
[training] is kept, and every scheduler type is carried over. An accuracy's min_delta, in
percent there, becomes a fraction like every accuracy here.
"""

from __future__ import annotations

import ast
import configparser
import logging
import os
import re
from pathlib import Path
from typing import Any

from visionflow.io import BadInputError
from visionflow.models.catalog import VIDEO_MODELS

log = logging.getLogger(__name__)


_SCHEDULER_KEYS: dict[str, tuple[str, ...]] = {  # each type's keys, in entry order
    "CosineAnnealingLR": ("tmax", "eta_min"),
    "CosineAnnealingWarmRestarts": ("t0", "tmult", "eta_min"),
    "ReduceLROnPlateau": (
        "mode",
        "factor",
        "patience",
        "threshold",
        "threshold_mode",
        "cooldown",
        "min_lr",
        "eps",
    ),
    "WarmOnly": (),
}
SCHEDULER_TYPES: tuple[str, ...] = tuple(_SCHEDULER_KEYS)
_WARMUP_KEYS = ("start_factor", "end_factor", "warmup_epochs")

# Keys each section carries over, in entry order; other keys are reported and dropped.
_KEYS = {
    "training": ("batch_size", "update_per_step", "max_epoch"),
    "optimizer": (
        "eps",
        "backbone_init_lr",
        "backbone_weight_decay",
        "classifier_init_lr",
        "classifier_weight_decay",
    ),
    "model_params": ("drop_p",),
    "data": ("num_frames", "frame_size"),
    "early_stopping": ("metric", "mode", "patience", "min_delta"),
}
_OPTIONAL = {
    "update_per_step",
    "eps",
    "backbone_weight_decay",
    "classifier_weight_decay",
    "min_delta",
}
_STRINGS = {"type", "mode", "threshold_mode"}
_INTEGERS = {
    "batch_size",
    "update_per_step",
    "max_epoch",
    "num_frames",
    "frame_size",
    "tmax",
    "t0",
    "tmult",
    "patience",
    "cooldown",
    "warmup_epochs",
}
_AT_LEAST_ONE = {"t0", "tmult"}  # torch's T_0 and T_mult
_METRICS = {"loss": "loss", "acc": "top1"}
_NEWER = re.compile(r"exp(\d+)\.ini")
_OLDER = re.compile(r"(.+)_(\d+)\.ini")
_CONVENTIONS = "configfiles/<split>/<MODEL>/expNNN.ini or configfiles/<split>/<MODEL>_NNN.ini"

_Sections = dict[str, dict[str, Any]]


def parse_run_path(path: Path) -> tuple[str | None, str | None, int | None]:
    """(model, split, exp) named by an .ini path in either original layout; Nones otherwise."""
    path = Path(os.path.abspath(path))
    if newer := _NEWER.fullmatch(path.name):
        return path.parent.name or None, path.parent.parent.name or None, int(newer[1])
    if older := _OLDER.fullmatch(path.name):
        return older[1], path.parent.name or None, int(older[2])
    return None, None, None


def import_config(
    path: Path, model: str | None = None, split: str | None = None, exp: int | None = None
) -> dict:
    """The config entry for an original .ini; `model`, `split` and `exp` override its path."""
    sections = _read(path)
    model, split, exp = _identity(path, model, split, exp)
    entry = {
        "model": model,
        "split": split,
        "exp": exp,
        "training": _section(path, sections, "training"),
        "optimizer": _section(path, sections, "optimizer"),
        "model_params": {"drop_p": _drop_p(path, sections)},
        "scheduler": _scheduler(path, sections),
        "data": _section(path, sections, "data"),
        "early_stopping": _early_stopping(path, sections),
    }
    _report_ignored(path, sections, entry["scheduler"])
    return entry


def _read(path: Path) -> _Sections:
    """Every section of the .ini as {key: value}, each value literal-evaluated when it can be."""
    if not Path(path).is_file():
        raise BadInputError(path, "no such file")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(Path(path).read_text(), source=str(path))
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"not an .ini file: {' '.join(str(exc).split())}") from exc
    return {name: {k: _literal(v) for k, v in parser[name].items()} for name in parser.sections()}


def _literal(text: str) -> Any:
    """The Python literal `text` spells, else `text` itself (as the original read values)."""
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError):
        return text


def _identity(
    path: Path, model: str | None, split: str | None, exp: int | None
) -> tuple[str, str, int]:
    """The given model, split and exp, else those the path names; checked."""
    given = {"model": model, "split": split, "exp": exp}
    found = dict(zip(given, parse_run_path(path), strict=True))
    chosen = {name: found[name] if given[name] is None else given[name] for name in given}
    missing = [name for name, value in chosen.items() if value is None]
    if missing:
        options = ", ".join(f"--{name}" for name in missing)
        problem = f"cannot tell {', '.join(missing)} from the path (not {_CONVENTIONS})"
        raise BadInputError(path, f"{problem}; pass {options}")
    model, split, exp = chosen.values()
    if model not in VIDEO_MODELS:
        raise BadInputError(
            path, f"unknown model {model!r}; pass --model, one of {', '.join(VIDEO_MODELS)}"
        )
    if not re.fullmatch(r"asl\d+", split):
        raise BadInputError(path, f"split {split!r} is not asl<N>; pass --split")
    return model, split, exp


def _section(path: Path, sections: _Sections, name: str) -> dict[str, Any]:
    """The carried-over keys of a required section."""
    if name not in sections:
        raise BadInputError(path, f"missing section [{name}]")
    return _pick(path, f"[{name}]", sections[name], _KEYS[name])


def _pick(path: Path, where: str, raw: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The `keys` present in `raw`, in that order and typed; all but optional ones must be."""
    for key in keys:
        if key not in raw and key not in _OPTIONAL:
            raise BadInputError(path, f"missing {key} in {where}")
    return {key: _typed(path, where, key, raw[key]) for key in keys if key in raw}


def _typed(path: Path, where: str, key: str, value: Any) -> Any:
    """`value` as the str, int or float (ints widen) that `key` takes; metric as a monitor."""
    if key == "metric":
        return _monitor(path, where, value)
    if key in _STRINGS:
        ok, expected = isinstance(value, str), "a string"
    elif key in _AT_LEAST_ONE:
        ok, expected = type(value) is int and value >= 1, "an integer >= 1"
    elif key in _INTEGERS:
        ok, expected = type(value) is int, "an integer"
    else:
        ok, expected = type(value) in (int, float), "a number"
        value = float(value) if ok else value
    if not ok:
        raise BadInputError(path, f"{where} {key} must be {expected}, got {value!r}")
    return value


def _monitor(path: Path, where: str, metric: Any) -> str:
    """The logged metric an original ('val', 'acc')-style metric names, e.g. val/top1."""
    if (
        isinstance(metric, tuple | list)
        and len(metric) == 2
        and metric[0] in ("train", "val")
        and metric[1] in ("loss", "acc")
    ):
        return f"{metric[0]}/{_METRICS[metric[1]]}"
    raise BadInputError(
        path, f"{where} metric must be ('train'|'val', 'loss'|'acc'), got {metric!r}"
    )


def _drop_p(path: Path, sections: _Sections) -> float | None:
    """[model_params] drop_p; None when it or the section is absent."""
    drop_p = sections.get("model_params", {}).get("drop_p")
    return None if drop_p is None else _typed(path, "[model_params]", "drop_p", drop_p)


def _scheduler(path: Path, sections: _Sections) -> dict[str, Any] | None:
    """The [scheduler] entry, with its warm-up keys; None (constant rates) without the section."""
    if "scheduler" not in sections:
        return None
    raw = sections["scheduler"]
    kind = raw.get("type", "CosineAnnealingLR")  # legacy files name no type: that was cosine
    if kind not in SCHEDULER_TYPES:
        expected = ", ".join(SCHEDULER_TYPES)
        raise BadInputError(path, f"unknown [scheduler] type {kind!r}; expected one of {expected}")
    warm = any(key in raw for key in _WARMUP_KEYS)
    if kind == "WarmOnly" and not warm:
        keys = ", ".join(_WARMUP_KEYS)
        raise BadInputError(path, f"[scheduler] WarmOnly needs the warm-up keys {keys}")
    keys = _SCHEDULER_KEYS[kind] + (_WARMUP_KEYS if warm else ())
    return {"type": kind, **_pick(path, "[scheduler]", raw, keys)}


def _early_stopping(path: Path, sections: _Sections) -> dict[str, Any] | None:
    """[early_stopping], or the legacy early_stopping dict in [training]; None without either."""
    places = {
        "[early_stopping]": sections.get("early_stopping"),
        "[training] early_stopping": sections.get("training", {}).get("early_stopping"),
    }
    found = {where: raw for where, raw in places.items() if raw is not None}
    if len(found) > 1:
        raise BadInputError(path, f"early stopping is set in both {' and '.join(found)}")
    if not found:
        return None
    ((where, raw),) = found.items()
    if not isinstance(raw, dict):
        raise BadInputError(path, f"{where} must be a dict, got {raw!r}")
    picked = _pick(path, where, raw, _KEYS["early_stopping"])
    monitor = picked.pop("metric")
    if monitor.endswith("/top1") and "min_delta" in picked:  # the original's accuracy is in %
        log.info("%s: min_delta %s%% of accuracy is %s", path, picked["min_delta"],
                 picked["min_delta"] / 100)  # fmt: skip
        picked["min_delta"] /= 100
    return {"monitor": monitor, **picked}


def _report_ignored(path: Path, sections: _Sections, scheduler: dict[str, Any] | None) -> None:
    """Warn about the .ini settings an entry has no place for (they are dropped)."""
    kind = (scheduler or {}).get("type")
    known = {**_KEYS, "scheduler": ("type", *_SCHEDULER_KEYS.get(kind, ()), *_WARMUP_KEYS)}
    known["training"] += ("early_stopping",)
    ignored = [f"[{name}]" for name in sections if name not in known]
    ignored += [
        f"[{name}] {key}"
        for name, raw in sections.items()
        if name in known
        for key in raw
        if key not in known[name]
    ]
    if ignored:
        log.warning("%s: dropping %s (visionflow does not use them here)", path, ", ".join(ignored))
