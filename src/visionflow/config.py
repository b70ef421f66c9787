"""The workflow config: its schema (with the package's lists of names filled in), defaults,
one-line errors that name the key and the file it came from, and the checks across keys.

The Snakefile calls `check_file` on the default config file and `checked` on the merged
config; both raise ConfigError, which `one_line_errors` prints, one line per problem.
"""

from __future__ import annotations

import copy
import difflib
import math
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, validators

from visionflow.data import WLASL_CROPS
from visionflow.experiments.grasp import TASKS as GRASP_TASKS
from visionflow.experiments.saliency import LOSSES as SALIENCY_LOSSES
from visionflow.experiments.saliency import PROCESSING as SALIENCY_PROCESSING
from visionflow.experiments.saliency import REGRESSION_LOSSES as SALIENCY_REGRESSION_LOSSES
from visionflow.experiments.saliency import STAGES as SALIENCY_STAGES
from visionflow.models.catalog import (
    CORNET_MODELS,
    DETECTION_BACKBONES,
    SALIENCY_ACTIVATIONS,
    SALIENCY_HYPERNETWORKS,
    VIDEO_MODELS,
)
from visionflow.preflight import STUDIES
from visionflow.settings import PRECISIONS

# Lists of names the schema refers to as `x-names: <name>`; each becomes an `enum`.
NAMES: dict[str, Sequence[str]] = {
    "video-models": VIDEO_MODELS,
    "detection-backbones": DETECTION_BACKBONES,
    "saliency-stages": SALIENCY_STAGES,
    "saliency-losses": SALIENCY_LOSSES,
    "saliency-regression-losses": SALIENCY_REGRESSION_LOSSES,
    "saliency-hypernetworks": SALIENCY_HYPERNETWORKS,
    "saliency-activations": SALIENCY_ACTIVATIONS,
    **{f"saliency-{step}": choices for step, choices in SALIENCY_PROCESSING.items()},
    "grasp-tasks": GRASP_TASKS,
    "cornet-models": CORNET_MODELS,
    "precisions": PRECISIONS,
    "wlasl-crops": WLASL_CROPS,
    "experiments": STUDIES,
}
COMMAND_LINE = "--config"


class ConfigError(ValueError):
    """A config value the workflow cannot use; the message is one line naming key and file."""


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Print a ConfigError's lines to stderr and exit with status 1: raised on to Snakemake
    as a WorkflowError, it would gain a header and a traceback line into the Snakefile."""
    try:
        yield
    except ConfigError as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None


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


YAML_NULLS = ("null", "Null", "NULL", "~")
YAML_BOOLEANS = {"true": True, "True": True, "TRUE": True,
                 "false": False, "False": False, "FALSE": False}  # fmt: skip


def _resolved(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """`schema` with a local `$ref` (`#/$defs/...`) replaced by what it points to."""
    ref = schema.get("$ref", "")
    if not ref.startswith("#/"):
        return schema
    target = root
    for part in ref[2:].split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def _kinds(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def _shaped(node: Any, schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The alternative of a oneOf/anyOf `schema` for a mapping or list `node` (the schema
    itself when it has none)."""
    wanted = "object" if isinstance(node, dict) else "array"
    for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
        branch = _resolved(branch, root)
        if wanted in _kinds(branch) or (wanted == "object" and "properties" in branch):
            return branch
    return schema


def _scalar(text: str, kinds: set[str]) -> Any:
    """`text` as the null, boolean or number the schema expects, else unchanged."""
    if "null" in kinds and text in YAML_NULLS:
        return None
    if "boolean" in kinds and text in YAML_BOOLEANS:
        return YAML_BOOLEANS[text]
    if kinds & {"number", "integer"}:
        try:
            number = float(text)
        except ValueError:
            return text
        if "integer" in kinds and number.is_integer():
            return int(number)
        return number if "number" in kinds else text
    return text


def coerce_scalars(node: Any, schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """`node` with strings turned into the numbers, booleans and nulls the schema expects
    there: Snakemake delivers every value nested in `--config "cornet={lr: 0.01}"` as a
    string (`null` included)."""
    root = schema if root is None else root
    schema = _resolved(schema, root)
    if isinstance(node, str):
        kinds = _kinds(schema)
        for branch in schema.get("oneOf", []) + schema.get("anyOf", []):
            kinds |= _kinds(_resolved(branch, root))
        return _scalar(node, kinds)
    if isinstance(node, dict):
        schema = _shaped(node, schema, root)
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {
            k: coerce_scalars(v, props.get(k, extra if isinstance(extra, dict) else {}), root)
            for k, v in node.items()
        }
    if isinstance(node, list):
        items = _shaped(node, schema, root).get("items")
        return [coerce_scalars(v, items, root) for v in node] if isinstance(items, dict) else node
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


def load_order(files: Sequence[str | Path], given: Sequence[str | Path]) -> list[str]:
    """`files` (all config files read) in the order their values take effect: the workflow's
    own `configfile:` first, then those `given` on the command line, named as given where
    they lie under the working directory."""
    given_paths = [Path(name).absolute() for name in given]
    own = [str(name) for name in files if Path(name).absolute() not in given_paths]
    shown = []
    for path in given_paths:
        try:
            shown.append(str(path.relative_to(Path.cwd())))
        except ValueError:
            shown.append(str(path))
    return own + shown


def source_of(path: Sequence[Any], files: Sequence[str], overrides: Mapping[str, Any]) -> str:
    """The file (`files` in load_order) or --config (`overrides`: only the values given
    with --config) the value at `path` last came from."""
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


def closest(name: str, known: Sequence[str]) -> str | None:
    """The known name `name` most likely misspells or abbreviates (`learning_rate` -> `lr`)."""
    known = [str(k) for k in known]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    words = [w for w in name.lower().replace("-", "_").split("_") if w]
    initials = "".join(w[0] for w in words)
    for candidate in known:
        if candidate.lower() == initials or candidate.lower() in words:
            return candidate
    return None


def _hint(name: str, known: Sequence[str]) -> str:
    match = closest(name, known)
    return f" (did you mean `{match}`?)" if match else ""


def _shown(value: Any) -> str:
    return repr(value) if not isinstance(value, dict | list) else type(value).__name__


def _branch_errors(error: Any) -> list[Any] | None:
    """The errors of the oneOf/anyOf alternative meant for the value's shape, if any."""
    wanted = {dict: "object", list: "array"}.get(type(error.instance))
    if wanted is None:
        return None
    for index, branch in enumerate(error.validator_value):
        if wanted in _kinds(branch) or (wanted == "object" and "properties" in branch):
            return [e for e in error.context if e.schema_path and e.schema_path[0] == index]
    return None


def describe(error: Any) -> list[tuple[list[Any], str]]:
    """(path of the offending key, one-line problem) for each problem a jsonschema error
    stands for."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(known))
        listing = f"; known keys: {', '.join(known)}"
        return [([*path, key], f"unknown key{_hint(key, known) or listing}") for key in unknown]
    if error.validator in ("oneOf", "anyOf"):
        inner = _branch_errors(error)
        if inner:
            return [found for sub in inner for found in describe(sub)]
        kinds = sorted({k for branch in error.validator_value for k in _kinds(branch)})
        return [(path, f"expected {' or '.join(kinds)}, got {_shown(error.instance)}")]
    if error.validator == "required":
        return [(path, error.message.replace("is a required property", "is required"))]
    shown = _shown(error.instance)
    if error.validator == "type":
        return [(path, f"expected {error.validator_value}, got {shown}")]
    if error.validator == "enum":
        choices = [str(c) for c in error.validator_value]
        hint = _hint(str(error.instance), choices)
        return [(path, f"{shown} is not one of {', '.join(choices)}{hint}")]
    if error.validator == "minItems":
        return [(path, f"needs at least {error.validator_value} entries")]
    if error.validator == "uniqueItems":
        return [(path, "has repeated entries")]
    return [(path, error.message if len(error.message) <= 120 else f"{shown}: {error.validator}")]


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
    return problems + saliency_checks(config["saliency"])


def saliency_checks(saliency: Mapping[str, Any]) -> list[tuple[list[Any], str]]:
    """Problems between the keys of the saliency section, as (key path, problem)."""
    problems: list[tuple[list[Any], str]] = []
    if set(SALIENCY_STAGES) <= set(saliency["skip"]) and not saliency["load_model"]:
        problems.append((["saliency", "skip"],
                         "every training stage is skipped and no load_model is given"))  # fmt: skip
    if "pretrain_weights" not in saliency["skip"] and not saliency["weights_dir"]:
        problems.append((["saliency", "weights_dir"],
                         "pretrain_weights needs <dir>/<task>.pt main-network weights; set it"
                         " or add pretrain_weights to saliency.skip"))  # fmt: skip
    tasks = set(saliency["tasks"])
    kept = [stage for stage in SALIENCY_STAGES if stage not in saliency["skip"]]
    listed = {(stage, "tasks"): saliency[stage]["tasks"] for stage in kept}
    listed |= {(part, "tasks"): saliency[part]["tasks"] for part in ("test", "run", "eval")}
    if "pretrain_one_task" in kept:
        listed[("pretrain_one_task", "task")] = [saliency["pretrain_one_task"]["task"]]
    for (section, key), names in listed.items():
        unknown = sorted(set(names or ()) - tasks)
        if unknown:
            problems.append((["saliency", section, key], f"{unknown} are not in saliency.tasks"))
    for stage in kept:
        own = saliency[stage]
        for split in ("train", "val"):
            limit, batches = own.get(f"{split}_images"), own.get(f"batches_per_task_{split}")
            if limit and batches and batches * own["batch_size"] > limit:
                need = f"{batches} batches of {own['batch_size']} need more than the {limit}"
                problem = f"{need} {split}_images; null takes every image once"
                problems.append((["saliency", stage, f"batches_per_task_{split}"], problem))
    names = [entry["name"] for entry in saliency["eval"]["sets"]]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append((["saliency", "eval", "sets"], f"two sets are named {name!r}"))
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
    config.update(coerce_scalars(config, schema))
    errors = sorted(DefaultingValidator(schema).iter_errors(config), key=lambda e: e.path)
    lines = []
    for error in errors:
        for path, problem in describe(error):
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
