"""Turn an original obdb settings JSON into the `cvat:` and `detection:` workflow config.

Every generation of the file (2022-11 to 2023-03: settings_file*.json, then
settings_file_train_val.json) is read, and every key at every level is imported or named
in a warning with the reason. The original trained variants whose `use_settings_file` is
1 (and, in the seed era, every variant) with an HPO result file (/train/<variant>_settings
.json); give it as `hpo_result` to import those settings. An HPO result given as the
settings file is refused as such.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any

from visionflow.io import BadInputError
from visionflow.models.catalog import DETECTION_BACKBONES, RETINANET
from visionflow.settings import setting_number

log = logging.getLogger(__name__)

OPTIMISER_KEYS = ("lr", "momentum", "weight_decay", "step_size", "gamma")
SEARCH_KEYS = ("search_epochs", "max_num_trials")
TRAIN_KEYS = ("max_plateau_count", "max_train_epochs")
RANGE_KEYS = ("hpo_parameters", "sherpa_parameters")  # Optuna era, Sherpa era
# Task lists by generation, in the order the original's runner looked for them: the seed
# runner built its data from annotations_list_gt, the 2023 runner from the list `-l` names
# (annotations_list_full_hd by default); annotations_list is the README's.
TASK_LISTS = ("annotations_list_gt", "annotations_list_full_hd", "annotations_list_4k",
              "annotations_list")  # fmt: skip
SHERPA_INFER = len(OPTIMISER_KEYS) + 1  # Sherpa GPyOpt's 'infer': parameters + 1 random trials
ORIGINAL_VARIANTS = {"retina_net": RETINANET}  # variant names the original gave other models
SHERPA_RESULT = {"Trial-ID", "Iteration", "Objective"}
OPTUNA_RESULT = {"best_value"}
DROPPED = {
    "save_dir": "a container path of the original (the workflow owns its folders)",
    "writer_dir": "a container path of the original (TensorBoard logs go to each run)",
    "fake_dataset_len": "the original searched on the first N frames only; visionflow "
    "searches on every frame (docs/deviations.md, obdb 1)",
    "hpo_timeout": "unused by the original after 2023-02",
    "start_on_checkpoint": "resuming is automatic here",
    "excluded_frames": "MongoDB frame names the original skipped; leave them out of the tasks",
    "first_year_tasks": "tasks the original marked completed on its CVAT server "
    "(`visionflow detection upload --complete`)",
    "auto_annotation_class_map": "labels of the original's folder auto-annotation",
    "first_year_class_map": "labels of the original's first-year ground-truth upload",
    "wasp_seg_class_map": "labels of the original's wasp segmentation upload",
    "metrics_confidence_range_small": "the original's limited P/R/F1 grid, whose switch "
    "(test_model.py -l) never took effect",
    "metrics_iou_range_small": "the original's limited P/R/F1 grid, whose switch never took effect",
    "confidence_threshold_save_img": "score of the boxes the original drew on test images",
    "pretrained_model_path": "a pickled whole model, not loaded; give ImageNet backbone "
    "weights as the variant's `weights`",
}


class Ledger:
    """What became of each key path ("a.b.c") of a settings file: imported as what, or why not."""

    def __init__(self) -> None:
        self.imported: dict[str, str] = {}
        self.dropped: dict[str, str] = {}

    def use(self, key: str, target: str, value: Any = None) -> None:
        """`key` (and every key below it) was imported as `target`."""
        for path in _paths(value, key):
            self.imported[path] = target

    def drop(self, key: str, why: str, value: Any = None) -> None:
        """`key` (and every key below it) was not imported, for `why`."""
        for path in _paths(value, key):
            self.dropped[path] = why

    def sweep(self, settings: dict[str, Any]) -> None:
        """Drop every key path not yet accounted for as unknown."""
        for path in _paths(settings):
            if path not in self.imported and path not in self.dropped:
                self.dropped[path] = "not a key of any known generation of the file"

    def warn(self, path: Path) -> None:
        by_reason = defaultdict(list)
        for key, why in self.dropped.items():
            if not any(key.startswith(f"{other}.") for other in self.dropped):
                by_reason[why].append(key)
        for why, keys in by_reason.items():
            log.warning("%s: %s; not imported: %s", path, why, ", ".join(keys))


def _paths(value: Any, prefix: str = "") -> list[str]:
    """`prefix` and the dotted paths of every key below it in nested objects."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            paths += _paths(child, f"{prefix}.{key}" if prefix else str(key))
    return paths


def _backbone(path: Path, variant: str) -> str:
    """The model a variant name means: itself, a renamed one, or the longest backbone it
    starts with."""
    if variant in ORIGINAL_VARIANTS:
        return ORIGINAL_VARIANTS[variant]
    matches = [b for b in DETECTION_BACKBONES if variant == b or variant.startswith(f"{b}_")]
    if not matches:
        raise BadInputError(
            path, f"variant {variant!r}: no backbone of {', '.join(DETECTION_BACKBONES)}"
        )
    return max(matches, key=len)


def _optimiser(path: Path, where: str, given: dict[str, Any]) -> dict[str, Any]:
    return {
        k: setting_number(path, f"{where}.{k}", given[k], int if k == "step_size" else float)
        for k in OPTIMISER_KEYS
    }


def hpo_result(path: Path) -> dict[str, Any]:
    """The optimiser settings of an original HPO result file (Sherpa or Optuna format)."""
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(path, f"not a readable HPO result JSON: {exc}") from None
    if not isinstance(found, dict) or not (set(found) & (SHERPA_RESULT | OPTUNA_RESULT)):
        raise BadInputError(path, "not an HPO result (no best_value, nor Trial-ID and Objective)")
    missing = [k for k in OPTIMISER_KEYS if k not in found]
    if missing:
        raise BadInputError(path, f"HPO result lacks {', '.join(missing)}")
    values = {k: round(found[k]) if k == "step_size" else found[k] for k in OPTIMISER_KEYS}
    return _optimiser(path, "HPO result", values)


def _variant(
    path: Path,
    name: str,
    entry: dict[str, Any],
    result: dict | None,
    seed_era: bool,
    ledger: Ledger,
) -> dict[str, Any]:
    """A listed variant's config entry; records what became of its keys."""
    if "run_hpo" not in entry:
        raise BadInputError(path, f"variant {name!r} has no run_hpo")
    variant: dict[str, Any] = {"name": name, "run_hpo": bool(entry["run_hpo"])}
    ledger.use(name, "detection.variants")
    ledger.use(f"{name}.run_hpo", "detection.variants[].run_hpo")
    backbone = _backbone(path, name)
    if backbone != name:
        variant["backbone"] = backbone
    from_file = bool(entry.get("use_settings_file")) or seed_era
    given = entry.get("optimal_hpo_settings") or {}
    key = f"{name}.optimal_hpo_settings"
    if not isinstance(given, dict):
        raise BadInputError(path, f"{key} must be an object, got {given!r}")
    if from_file and result is not None and not variant["run_hpo"]:
        variant["optimal_hpo_settings"] = result
        ledger.drop(key, "the original trained with its HPO result file instead", given)
    elif all(given.get(k) not in (None, False) for k in OPTIMISER_KEYS) and given:
        variant["optimal_hpo_settings"] = _optimiser(path, key, given)
        used = {k: given[k] for k in OPTIMISER_KEYS}
        ledger.use(key, "detection.variants[].optimal_hpo_settings", used)
    elif not variant["run_hpo"]:
        raise BadInputError(
            path,
            f"variant {name!r}: run_hpo is 0 but optimal_hpo_settings "
            f"lacks some of {', '.join(OPTIMISER_KEYS)}",
        )
    elif given:
        ledger.drop(key, "placeholders of a variant that runs its search", given)
    if "use_settings_file" in entry:
        if from_file and result is None and not variant["run_hpo"]:
            why = f"the original trained {name} with /train/{name}_settings.json, an HPO "
            ledger.drop(f"{name}.use_settings_file", why + "result: pass it as --hpo-result")
        else:
            ledger.use(f"{name}.use_settings_file", "detection.variants[].optimal_hpo_settings")
    if "pretrained_model_path" in entry:
        ledger.drop(f"{name}.pretrained_model_path", DROPPED["pretrained_model_path"])
    return variant


def _listed_variants(
    path: Path, settings: dict[str, Any], result: dict | None, ledger: Ledger
) -> list[dict[str, Any]]:
    """The variants the file lists; defined but unlisted ones are dropped (as the original)."""
    names = _names(path, settings, "variants")
    ledger.use("variants", "detection.variants")
    for name in names:
        if not isinstance(settings.get(name), dict):
            raise BadInputError(path, f"variant {name!r} is listed but has no entry")
    seed_era = not any(isinstance(v, dict) and "use_settings_file" in v for v in settings.values())
    if seed_era and result is None and any(not settings[n].get("run_hpo") for n in names):
        log.warning(
            "%s: without use_settings_file, the original trained every variant with an HPO "
            "result file (/train/resnet18_settings.json in the seed, /train/<variant>"
            "_settings.json from 2022-11-25), not optimal_hpo_settings: pass it as --hpo-result",
            path,
        )
    variants = [_variant(path, n, settings[n], result, seed_era, ledger) for n in names]
    for key, value in settings.items():
        if isinstance(value, dict) and "run_hpo" in value and key not in names:
            ledger.drop(key, "a variant defined but not in `variants` (not trained)", value)
    return variants


def _search(path: Path, settings: dict[str, Any], ledger: Ledger) -> dict[str, Any]:
    hpo: dict[str, Any] = {}
    for key in SEARCH_KEYS:
        if key in settings:
            hpo[key] = setting_number(path, key, settings[key], int, 1)
            ledger.use(key, f"detection.hpo.{key}")
    initial = settings.get("num_initial_data_points")
    if initial == "infer":
        hpo["num_initial_data_points"] = SHERPA_INFER
        ledger.use("num_initial_data_points", "detection.hpo.num_initial_data_points")
        log.info("%s: num_initial_data_points 'infer' is Sherpa's %d", path, SHERPA_INFER)
    elif initial is not None:
        value = setting_number(path, "num_initial_data_points", initial, int, 1)
        hpo["num_initial_data_points"] = value
        ledger.use("num_initial_data_points", "detection.hpo.num_initial_data_points")
    given = [k for k in RANGE_KEYS if k in settings]
    for other in given[1:]:
        ledger.drop(other, f"{given[0]} is used", settings[other])
    if given:
        ranges = settings[given[0]]
        if not isinstance(ranges, dict):
            raise BadInputError(path, f"{given[0]} must be an object, got {ranges!r}")
        missing = set(OPTIMISER_KEYS) - set(ranges)
        if missing:
            raise BadInputError(path, f"parameter ranges lack {', '.join(sorted(missing))}")
        hpo["parameters"] = {k: _range(path, k, ranges[k]) for k in OPTIMISER_KEYS}
        ledger.use(given[0], "detection.hpo.parameters", {k: ranges[k] for k in OPTIMISER_KEYS})
    return hpo


def _range(path: Path, key: str, bounds: Any) -> list[float]:
    """A parameter's [low, high] search range."""
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise BadInputError(path, f"parameter range {key} must be [low, high], got {bounds!r}")
    return [setting_number(path, f"parameter range {key}", v) for v in bounds]


def _names(path: Path, settings: dict[str, Any], key: str) -> list[str]:
    values = settings[key]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadInputError(path, f"{key} must be a list of names, got {values!r}")
    return values


def _numbers(path: Path, settings: dict[str, Any], key: str) -> list[float]:
    values = settings[key]
    if not isinstance(values, list) or not values:
        raise BadInputError(path, f"{key} must be a list of numbers, got {values!r}")
    return [setting_number(path, key, v) for v in values]


def _cvat(
    path: Path, settings: dict[str, Any], task_list: str | None, ledger: Ledger
) -> dict[str, Any]:
    cvat: dict[str, Any] = {}
    lists = [k for k in TASK_LISTS if k in settings]
    chosen = task_list or (lists[0] if lists else None)
    if task_list is not None and task_list not in lists:
        raise BadInputError(path, f"no task list {task_list!r}; the file has {lists}")
    for key in lists:
        if key == chosen:
            cvat["annotations_list"] = _names(path, settings, key)
            ledger.use(key, "cvat.annotations_list")
        else:
            ledger.drop(key, f"another task list than {chosen} (choose one with --task-list)")
    if "dataset_dir" in settings:
        cvat["root"] = str(settings["dataset_dir"])
        ledger.use("dataset_dir", "cvat.root")
    if "default_class_map" in settings:
        names = _names(path, settings, "default_class_map")
        cvat["labels"] = [n for n in names if n != "Background"]
        ledger.use("default_class_map", "cvat.labels")
        if names[:1] != ["Background"]:
            log.warning(
                "%s: default_class_map has no leading Background: the original made its "
                "first class torchvision's background label 0; here every class is learned",
                path,
            )
    if "full_hd" in settings:
        cvat["crop_4k"] = bool(settings["full_hd"])
        ledger.use("full_hd", "cvat.crop_4k")
    return cvat


def read_settings(
    path: str | Path, result: str | Path | None = None, task_list: str | None = None
) -> tuple[dict[str, Any], Ledger]:
    """(config sections, what became of each key) of an original settings file, with the
    variants' HPO result file `result` and the task list `task_list` (default: the one the
    original's runner of that generation read)."""
    path = Path(path)
    try:
        settings = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(path, f"not a readable settings JSON: {exc}") from None
    if isinstance(settings, dict) and set(settings) & (SHERPA_RESULT | OPTUNA_RESULT):
        kind = "Optuna" if "best_value" in settings else "Sherpa"
        problem = f"an HPO result ({kind}), not a settings file: pass it as --hpo-result"
        raise BadInputError(path, problem)
    if not isinstance(settings, dict) or not isinstance(settings.get("variants"), list):
        raise BadInputError(path, "no `variants` list")
    ledger = Ledger()
    optimal = hpo_result(Path(result)) if result is not None else None
    detection: dict[str, Any] = {"variants": _listed_variants(path, settings, optimal, ledger)}
    for key in TRAIN_KEYS:
        if key in settings:
            detection[key] = setting_number(path, key, settings[key], int, 1)
            ledger.use(key, f"detection.{key}")
    if hpo := _search(path, settings, ledger):
        detection["hpo"] = hpo
    for key, target in (("metrics_confidence_range", "score_thresholds"),
                        ("metrics_iou_range", "iou_thresholds")):  # fmt: skip
        if key in settings:
            detection[target] = _numbers(path, settings, key)
            ledger.use(key, f"detection.{target}")
    cvat = _cvat(path, settings, task_list, ledger)
    for key, why in DROPPED.items():
        if key in settings:
            ledger.drop(key, why, settings[key])
    ledger.sweep(settings)
    return {"cvat": cvat, "detection": detection}, ledger


def import_config(
    path: str | Path, result: str | Path | None = None, task_list: str | None = None
) -> dict[str, Any]:
    """The config sections (`cvat`, `detection`) an original settings file describes;
    every key not imported is named in a warning."""
    sections, ledger = read_settings(path, result, task_list)
    ledger.warn(Path(path))
    return sections
