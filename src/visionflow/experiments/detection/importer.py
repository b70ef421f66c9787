"""Turn an original obdb settings JSON into the `cvat:` and `detection:` workflow config.

Both generations of the file are accepted: `sherpa_parameters` or `hpo_parameters`, and
`optimal_hpo_settings` with `false` placeholders (left out). Keys that name container paths
or machinery the workflow owns (save_dir, writer_dir, use_settings_file, ...) are reported
and dropped.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from visionflow.io import BadInputError
from visionflow.models.catalog import DETECTION_BACKBONES
from visionflow.settings import setting_number

log = logging.getLogger(__name__)

SEARCH_KEYS = ("search_epochs", "num_initial_data_points", "max_num_trials")
TRAIN_KEYS = ("max_plateau_count", "max_train_epochs")
OPTIMISER_KEYS = ("lr", "momentum", "weight_decay", "step_size", "gamma")
DROPPED = (
    "save_dir",
    "writer_dir",
    "use_settings_file",
    "fake_dataset_len",
    "full_hd",
    "hpo_timeout",
    "start_on_checkpoint",
    "excluded_frames",
    "default_class_map",
)


def _backbone(path: Path, variant: str) -> str:
    """The backbone a variant name means: itself, or the longest backbone it starts with."""
    matches = [b for b in DETECTION_BACKBONES if variant == b or variant.startswith(f"{b}_")]
    if not matches:
        raise BadInputError(
            path, f"variant {variant!r}: no backbone of {', '.join(DETECTION_BACKBONES)}"
        )
    return max(matches, key=len)


def _variant(path: Path, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    if "run_hpo" not in entry:
        raise BadInputError(path, f"variant {name!r} has no run_hpo")
    variant: dict[str, Any] = {"name": name, "run_hpo": bool(entry["run_hpo"])}
    backbone = _backbone(path, name)
    if backbone != name:
        variant["backbone"] = backbone
    given = entry.get("optimal_hpo_settings") or {}
    if all(given.get(k) not in (None, False) for k in OPTIMISER_KEYS):
        optimal = {k: given[k] for k in OPTIMISER_KEYS}
        optimal = {
            k: setting_number(
                path, f"{name}.optimal_hpo_settings.{k}", v, int if k == "step_size" else float
            )
            for k, v in optimal.items()
        }
        variant["optimal_hpo_settings"] = optimal
    elif not variant["run_hpo"]:
        raise BadInputError(
            path,
            f"variant {name!r}: run_hpo is 0 but optimal_hpo_settings "
            f"lacks some of {', '.join(OPTIMISER_KEYS)}",
        )
    if "pretrained_model_path" in entry:
        log.warning(
            "%s: variant %s: pretrained_model_path (a pickled whole model) is not "
            "loaded; give ImageNet backbone weights as `weights`",
            path,
            name,
        )
    return variant


def _range(path: Path, key: str, bounds: Any) -> list[float]:
    """A parameter's [low, high] search range."""
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise BadInputError(path, f"parameter range {key} must be [low, high], got {bounds!r}")
    return [setting_number(path, f"parameter range {key}", v) for v in bounds]


def import_config(path: str | Path) -> dict[str, Any]:
    """The config sections (`cvat`, `detection`) an original settings file describes."""
    path = Path(path)
    try:
        settings = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(path, f"not a readable settings JSON: {exc}") from None
    if not isinstance(settings, dict) or not isinstance(settings.get("variants"), list):
        raise BadInputError(path, "no `variants` list")
    variants = []
    for name in settings["variants"]:
        if not isinstance(settings.get(name), dict):
            raise BadInputError(path, f"variant {name!r} is listed but has no entry")
        variants.append(_variant(path, name, settings[name]))
    detection: dict[str, Any] = {"variants": variants}
    detection |= {
        k: setting_number(path, k, settings[k], int, 1) for k in TRAIN_KEYS if k in settings
    }
    hpo = {k: settings[k] for k in SEARCH_KEYS if isinstance(settings.get(k), int)}
    if settings.get("num_initial_data_points") == "infer":
        log.warning("%s: num_initial_data_points 'infer' is Sherpa's; the default is used", path)
    ranges = settings.get("hpo_parameters", settings.get("sherpa_parameters"))
    if ranges is not None:
        missing = set(OPTIMISER_KEYS) - set(ranges)
        if missing:
            raise BadInputError(path, f"parameter ranges lack {', '.join(sorted(missing))}")
        hpo["parameters"] = {k: _range(path, k, ranges[k]) for k in OPTIMISER_KEYS}
    if hpo:
        detection["hpo"] = hpo
    cvat: dict[str, Any] = {}
    if "annotations_list" in settings:
        cvat["annotations_list"] = [str(task) for task in settings["annotations_list"]]
    if "dataset_dir" in settings:
        cvat["root"] = str(settings["dataset_dir"])
    dropped = sorted(k for k in settings if k in DROPPED)
    if dropped:
        log.warning("%s: not used by the workflow: %s", path, ", ".join(dropped))
    return {"cvat": cvat, "detection": detection}
