"""config/README.md: written from the schema, current, and readable for every kind of key."""

from pathlib import Path

import pytest
import yaml

from visionflow import config_reference
from visionflow.io import BadInputError

REPO = Path(__file__).resolve().parents[2]
SCHEMA = {
    "properties": {
        "seed": {"type": "integer", "default": 0, "description": "One seed."},
        "block": {
            "type": "object",
            "description": "A block of keys.",
            "properties": {
                "choice": {"type": "string", "enum": ["a", "b"], "default": "a",
                           "description": "Pick | one."},
                "demo": {"oneOf": [{"type": "null"},
                                   {"type": "object", "properties": {"n": {"type": "integer"}}}]},
                "stage": {"$ref": "#/$defs/stage", "default": {"epochs": 2}},
                "sizes": {"type": "array", "items": {"type": "integer"}, "default": [1, 2]},
            },
        },
    },
    "$defs": {"stage": {"type": "object", "properties": {"epochs": {"type": "integer"}}}},
}  # fmt: skip


def test_config_readme_is_the_reference_of_the_current_schema():
    config_reference.check(REPO / config_reference.SCHEMA, REPO / config_reference.REFERENCE)


def test_every_kind_of_key_gets_a_row_with_its_type_default_and_meaning():
    text = config_reference.render(SCHEMA)
    assert "| `seed` | integer | `0` | One seed. |" in text
    assert "## `block`\n\nA block of keys." in text
    assert '| `block.choice` | one of `a`, `b` | `"a"` | Pick \\| one. |' in text
    assert "| `block.demo` | null or object |" in text and "| `block.demo.n` | integer |" in text
    assert '| `block.stage` | object | `{"epochs": 2}` |' in text
    assert "| `block.stage.epochs` | integer |" in text
    assert "| `block.sizes` | list of integer | `[1, 2]` |" in text


def test_a_stale_reference_is_refused_naming_the_file_and_the_fix(tmp_path):
    schema = tmp_path / "schema.yaml"
    schema.write_text(yaml.safe_dump(SCHEMA))
    out = tmp_path / "README.md"
    config_reference.write(schema, out)
    config_reference.check(schema, out)
    out.write_text(out.read_text().replace("One seed.", "Two seeds."))
    with pytest.raises(BadInputError, match=r"README\.md: out of date.*config reference"):
        config_reference.check(schema, out)
