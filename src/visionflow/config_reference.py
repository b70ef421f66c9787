"""config/README.md written from the workflow schema: one table per section (key, type,
default, meaning), so the configuration reference cannot drift from what the workflow accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from visionflow.config import load_schema
from visionflow.io import BadInputError, write_text

SCHEMA = Path("workflow/schemas/config.schema.yaml")
REFERENCE = Path("config/README.md")
HEADER = """# Configuration

Every key the workflow accepts, from `workflow/schemas/config.schema.yaml` (written by
`visionflow config reference`; do not edit by hand). `config/config.yaml` is the CPU demo,
`config/paper.yaml` the originals' published settings. Override keys on the command line
with `--config "section={key: value}"` (top-level keys: `--config seed=1`), or pass your
own file with `--configfile`.
"""


def resolve(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`node` with a `$ref` into `$defs` replaced by its target (the node's own keys win)."""
    if "$ref" not in node:
        return node
    target = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return {**resolve(target, schema), **{k: v for k, v in node.items() if k != "$ref"}}


def type_of(node: dict[str, Any], schema: dict[str, Any]) -> str:
    """A short reading of a node's type: `one of a, b`, `list of integer`, `null or object`."""
    node = resolve(node, schema)
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if "oneOf" in node:
        return " or ".join(type_of(option, schema) for option in node["oneOf"])
    kind = node.get("type", "any")
    if kind == "array":
        return "list of " + type_of(node.get("items", {}), schema)
    return " or ".join(kind) if isinstance(kind, list) else kind


def rows(node: dict[str, Any], schema: dict[str, Any], prefix: str) -> Iterator[tuple[str, ...]]:
    """(key, type, default, description) for every key under `node`, nested keys dotted."""
    for key, child in node.get("properties", {}).items():
        child = resolve(child, schema)
        name = f"{prefix}{key}"
        default = f"`{json.dumps(child['default'])}`" if "default" in child else ""
        description = " ".join(child.get("description", "").split()).replace("|", "\\|")
        yield name, type_of(child, schema), default, description
        for option in [child, *child.get("oneOf", [])]:
            yield from rows(resolve(option, schema), schema, f"{name}.")


def table(entries: list[tuple[str, ...]]) -> str:
    """A Markdown table of reference rows."""
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines += ["| " + " | ".join((f"`{key}`", *rest)) + " |" for key, *rest in entries]
    return "\n".join(lines)


def render(schema: dict[str, Any]) -> str:
    """The whole reference: top-level keys first, then one section per block of keys."""
    top = {k: v for k, v in schema["properties"].items() if "properties" not in resolve(v, schema)}
    parts = [HEADER, "## Top level\n", table(list(rows({"properties": top}, schema, ""))) + "\n"]
    for section, node in schema["properties"].items():
        node = resolve(node, schema)
        if section in top:
            continue
        parts.append(f"## `{section}`\n")
        if node.get("description"):
            parts.append(" ".join(node["description"].split()) + "\n")
        parts.append(table(list(rows(node, schema, f"{section}."))) + "\n")
    return "\n".join(parts)


def write(schema_path: Path = SCHEMA, out: Path = REFERENCE) -> None:
    """Write the reference of the schema at `schema_path` to `out`."""
    write_text(out, render(load_schema(schema_path)))


def check(schema_path: Path = SCHEMA, out: Path = REFERENCE) -> None:
    """BadInputError naming `out` when it is not the reference of the current schema."""
    current = out.read_text() if out.is_file() else ""
    if current != render(load_schema(schema_path)):
        raise BadInputError(out, "out of date with the schema; run `visionflow config reference`")
