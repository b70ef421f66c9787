"""The conda environment the rules declare matches pyproject's dependencies."""

import re
from importlib.metadata import requires

import yaml
from helpers import REPO

# pyproject name -> conda-forge name where they differ.
CONDA_NAMES = {
    "torch": "pytorch",
    "matplotlib": "matplotlib-base",
    "open_clip_torch": "open-clip-torch",
}
# Needed to run the workflow, not inside a rule's environment.
WORKFLOW_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "dvc"}


def requirement(spec: str) -> tuple[str, str]:
    """(name, lower bound) of a `name[extras]>=version` requirement."""
    pattern = r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^\s#]*)"
    name, bound = re.fullmatch(pattern, spec.strip()).groups()
    return name.lower(), bound


def test_conda_env_has_every_dependency_with_the_same_bound():
    runtime = [r for r in requires("visionflow") if "extra ==" not in r]  # from pyproject
    wanted = {
        CONDA_NAMES.get(name, name): bound
        for name, bound in map(requirement, runtime)
        if name not in WORKFLOW_ONLY
    }
    env = yaml.safe_load((REPO / "envs" / "visionflow.yaml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str) and ">=" in d]
    [pip] = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    listed = dict(map(requirement, conda + [p.split("#")[0] for p in pip if ">=" in p]))
    assert listed == wanted
    assert "-e .." in pip  # the project itself, from the repository


def test_every_rule_uses_an_existing_env():
    rules = (REPO / "workflow" / "rules").glob("*.smk")
    envs = {m for path in rules for m in re.findall(r'conda:\s*\n\s*"([^"]+)"', path.read_text())}
    assert envs == {"../../envs/visionflow.yaml"}
    assert all((REPO / "workflow" / "rules" / env).resolve().is_file() for env in envs)
