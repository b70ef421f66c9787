"""The layers of the package: a module imports only from its own layer or below."""

import ast
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "src" / "visionflow"
# Lowest first. A module's layer is that of the first entry its dotted name starts with;
# the CLI verbs an experiment keeps in its own `cli` module belong to the CLI layer.
LAYERS = [
    ("io", "settings", "progress"),
    ("data", "models", "metrics", "figures"),
    ("engine",),
    ("experiments", "analysis", "dvc", "demo", "config", "config_reference", "preflight"),
    ("cli",),
]
# Within a layer: what a group may not import.
FORBIDDEN = {
    "models": ("data",),
    "experiments": ("analysis",),
}
PURE = {"metrics": ("io", "data.jacquard.grasp_maps")}  # metrics use nothing else of ours


def layer_of(name: str) -> int:
    """The layer of module `name` (dotted, without the `visionflow.` prefix)."""
    parts = name.split(".")
    if parts[-1] == "cli" or parts[0] == "cli":
        return len(LAYERS) - 1
    return next(i for i, group in enumerate(LAYERS) if parts[0] in group)


def imports(path: Path) -> list[str]:
    """The visionflow modules `path` imports, without the prefix."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [n for n in names[:1] if n.startswith("visionflow.")]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("visionflow.")]
    return [name.removeprefix("visionflow.") for name in found]


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their own name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name:
            found[name] = path
    return found


def test_no_module_imports_from_a_higher_layer():
    upward = []
    for name, path in modules().items():
        for target in imports(path):
            if layer_of(target) > layer_of(name):
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_layer_rules_within_a_layer():
    broken = []
    for name, path in modules().items():
        group = name.split(".")[0]
        for target in imports(path):
            if target.split(".")[0] in FORBIDDEN.get(group, ()) and layer_of(name) < 4:
                broken.append(f"{name} -> {target}")
            allowed = PURE.get(group)
            if allowed and not target.startswith(allowed):
                broken.append(f"{name} -> {target} (metrics are pure)")
    assert broken == []


def test_experiments_do_not_import_each_other():
    crossing = []
    for name, path in modules().items():
        parts = name.split(".")
        if parts[0] != "experiments" or len(parts) < 2:
            continue
        for target in imports(path):
            other = target.split(".")
            if other[0] == "experiments" and len(other) > 1 and other[1] != parts[1]:
                crossing.append(f"{name} -> {target}")
    assert crossing == []
