"""Config problems Snakemake would report without naming the file, or not at all."""

import math
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError


def check_configfile(path):
    """WorkflowError naming `path` for bytes that are not UTF-8, invalid YAML, or no keys
    at top level (Snakemake's own loader gives a traceback or an unnamed error)."""
    if not Path(path).is_file():
        return  # Snakemake itself reports a missing config file
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        problem = " ".join(str(exc).split())
        raise WorkflowError(f"{path}: not a UTF-8 YAML file ({problem})") from None
    if not isinstance(data, dict):
        raise WorkflowError(f"{path}: expected keys at top level, found {data!r:.80}")


def nan_keys(node, where="config"):
    """Where in the config a value is NaN (the schema's bounds let NaN through)."""
    if isinstance(node, float) and math.isnan(node):
        return [where]
    if not isinstance(node, dict | list):
        return []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    return [key for k, value in items for key in nan_keys(value, f"{where}[{k!r}]")]


def refuse_nan(config):
    """WorkflowError listing every NaN value of the validated config."""
    keys = nan_keys(config)
    if keys:
        raise WorkflowError(
            f"config values must be numbers, not NaN: {', '.join(keys)}"
        )
