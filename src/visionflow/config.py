"""The workflow config: its schema (with the package's lists of names filled in), defaults,
one-line errors that name the key and the file it came from, and the checks across keys.

The Snakefile calls `check_file` on the default config file and `checked` on the merged
config; both raise ConfigError, which the Snakefile reports as a one-line WorkflowError.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from visionflow.experiments.grasp import TASKS as GRASP_TASKS
from visionflow.experiments.saliency import STAGES as SALIENCY_STAGES
from visionflow.models.catalog import DETECTION_BACKBONES, VIDEO_MODELS
from visionflow.preflight import STUDIES

# Lists of names the schema refers to as `x-names: <name>`; each becomes an `enum`.
NAMES: dict[str, Sequence[str]] = {
    "video-models": VIDEO_MODELS,
    "detection-backbones": DETECTION_BACKBONES,
    "saliency-stages": SALIENCY_STAGES,
    "grasp-tasks": GRASP_TASKS,
    "experiments": STUDIES,
}
COMMAND_LINE = "--config"


class ConfigError(ValueError):
    """A config value the workflow cannot use; the message is one line naming key and file."""


def check_file(path: str | Path) -> None:
    """ConfigError naming `path` for bytes that are not UTF-8, invalid YAML, or no keys at
    top level (Snakemake's own loader gives a traceback or an unnamed error)."""
    path = Path(path)
    if not path.is_file():
        return  # Snakemake itself reports a missing config file
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a UTF-8 YAML file ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected keys at top level, found {data!r:.80}")


def load_schema(path: str | Path) -> dict[str, Any]:
    """The schema at `path` with every `x-names: <name>` replaced by that list's `enum`."""

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: fill(v) for k, v in node.items()}
            if "x-names" in node:
                node["enum"] = list(NAMES[node.pop("x-names")])
            return node
        return [fill(v) for v in node] if isinstance(node, list) else node

    return fill(yaml.safe_load(Path(path).read_text()))


def _with_defaults(cls: type) -> type:
    """A validator class that fills in the schema's defaults as it validates."""
    check_properties = cls.VALIDATORS["properties"]

    def properties(validator: Any, props: dict, instance: Any, schema: dict) -> Iterator:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(cls, {"properties": properties})


DefaultingValidator = _with_defaults(Draft202012Validator)


def expand_dotted(config: dict[str, Any], overrides: Mapping[str, Any]) -> None:
    """Apply `--config section.key=value` overrides, which Snakemake keeps as dotted keys."""
    for dotted in [k for k in overrides if "." in k and k in config]:
        *parents, key = dotted.split(".")
        target = config
        for name in parents:
            target = target.setdefault(name, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{COMMAND_LINE}: {dotted}: {name} is not a section")
        target[key] = config.pop(dotted)


def coerce_numbers(node: Any, schema: dict[str, Any]) -> Any:
    """`node` with numeric strings turned into numbers where the schema expects numbers
    (`--config "cornet={lr: 0.01}"` delivers the 0.01 as a string)."""
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind}
    if isinstance(node, str) and kinds & {"number", "integer"}:
        try:
            number = float(node)
        except ValueError:
            return node
        if "integer" in kinds and number.is_integer():
            return int(number)
        return number if "number" in kinds else node
    if isinstance(node, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: coerce_numbers(v, props.get(k, extra if isinstance(extra, dict) else {}))
            for k, v in node.items()
        }
    if isinstance(node, list) and isinstance(schema.get("items"), dict):
        return [coerce_numbers(v, schema["items"]) for v in node]
    return node


def _dotted(path: Sequence[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _holds(node: Any, path: Sequence[Any]) -> bool:
    """Whether `node` (a loaded YAML document) has a value at `path`."""
    for part in path:
        keys = (
            node if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else ()
        )
        if part not in keys:
            return False
        node = node[part]
    return True


def source_of(path: Sequence[Any], files: Sequence[str], overrides: Mapping[str, Any]) -> str:
    """The file (or --config) the value at `path` last came from."""
    if path and path[0] in overrides:
        return COMMAND_LINE
    for name in reversed(files):
        try:
            document = yaml.safe_load(Path(name).read_text())
        except (OSError, yaml.YAMLError):
            continue
        if _holds(document, path):
            return str(name)
    return str(files[-1]) if files else COMMAND_LINE


def describe(error: Any) -> tuple[list[Any], str]:
    """(path of the offending key, one-line problem) of a jsonschema error."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        key = unknown[0]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else f"; known keys: {', '.join(known)}"
        return [*path, key], f"unknown key{hint}"
    if error.validator == "required":
        return path, error.message.replace("is a required property", "is required")
    value = error.instance
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if error.validator == "type":
        return path, f"expected {error.validator_value}, got {shown}"
    if error.validator == "enum":
        return path, f"{shown} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator == "minItems":
        return path, f"needs at least {error.validator_value} entries"
    if error.validator == "uniqueItems":
        return path, "has repeated entries"
    return path, error.message if len(error.message) <= 120 else f"{shown}: {error.validator}"


def nan_keys(node: Any, where: str = "") -> list[str]:
    """Where in the config a value is NaN (the schema's bounds let NaN through)."""
    if isinstance(node, float) and math.isnan(node):
        return [where or "(top level)"]
    if not isinstance(node, dict | list):
        return []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    return [key for k, v in items for key in nan_keys(v, f"{where}.{k}" if where else str(k))]


def cross_checks(config: Mapping[str, Any]) -> list[tuple[list[Any], str]]:
    """Problems between keys that the schema cannot express, as (key path, problem)."""
    problems: list[tuple[list[Any], str]] = []
    names = [entry["name"] for entry in config["detection"]["variants"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append((["detection", "variants"], f"two entries are named {name!r}"))
    for index, entry in enumerate(config["detection"]["variants"]):
        if not entry.get("run_hpo") and "optimal_hpo_settings" not in entry:
            problems.append((["detection", "variants", index],
                             f"{entry['name']}: run_hpo is false, so optimal_hpo_settings"
                             " must be given"))  # fmt: skip
    split = config["cvat"]["split"]
    if split["method"] == "list" and not split["list"]:
        problems.append((["cvat", "split", "list"], "method `list` needs a CSV of val frames"))
    saliency = config["saliency"]
    if set(SALIENCY_STAGES) <= set(saliency["skip"]):
        problems.append((["saliency", "skip"], "every training stage is skipped"))
    if "pretrain_weights" not in saliency["skip"] and not saliency["weights_dir"]:
        problems.append((["saliency", "weights_dir"],
                         "pretrain_weights needs <dir>/<task>.pt main-network weights; set it"
                         " or add pretrain_weights to saliency.skip"))  # fmt: skip
    return problems


def checked(
    config: dict[str, Any],
    schema_path: str | Path,
    files: Sequence[str],
    overrides: Mapping[str, Any],
) -> dict[str, Any]:
    """Validate the merged `config` in place (defaults filled in); ConfigError listing every
    problem, one line each, with the file (`files` in load order, or --config) it came from."""
    schema = load_schema(schema_path)
    expand_dotted(config, overrides)
    config.update(coerce_numbers(config, schema))
    errors = sorted(DefaultingValidator(schema).iter_errors(config), key=lambda e: e.path)
    lines = []
    for error in errors:
        path, problem = describe(error)
        lines.append(f"{source_of(path, files, overrides)}: {_dotted(path)}: {problem}")
    if not lines:
        lines += [f"{source_of(k.split('.'), files, overrides)}: {k}: must be a number, not NaN"
                  for k in nan_keys(config)]  # fmt: skip
    if not lines:
        lines += [f"{source_of(path, files, overrides)}: {_dotted(path)}: {problem}"
                  for path, problem in cross_checks(config)]  # fmt: skip
    if lines:
        raise ConfigError("\n".join(lines))
    return config
