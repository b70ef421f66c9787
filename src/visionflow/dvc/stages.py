"""dvc.yaml from the Snakemake DAG: one DVC stage per group of rules, outputs listed exactly.

Each stage's command runs its rules through Snakemake (which keeps the parallelism and
re-runs only the jobs whose inputs, params or code changed), so outputs persist between
runs instead of being deleted by DVC first.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from visionflow.dvc.commands import run
from visionflow.io import BadInputError, write_text

SPEC = Path("workflow/dvc-stages.yaml")
DVC_YAML = Path("dvc.yaml")
DEFAULT_CONFIG = "config/config.yaml"
WORKFLOW_CODE = (
    "workflow/Snakefile",
    "workflow/rules/common.smk",
    "workflow/schemas/config.schema.yaml",
)
CURVES_TEMPLATE = "split_curves"  # .dvc/plots/split_curves.json
FIGURE_SUFFIX = ".png"
HEADER = (
    "# Written by `visionflow dvc stages` from the Snakemake DAG of {config}.\n"
    "# Edit workflow/dvc-stages.yaml or the rules, then regenerate; do not edit by hand.\n"
)


@dataclass(frozen=True)
class Job:
    """One job of the DAG: its rule and the files it reads and writes."""

    rule: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def parse_dry_run(text: str) -> list[Job]:
    """Jobs from the per-job blocks (`rule x:` / `input:` / `output:`) of `snakemake -n`."""
    jobs, rule, fields = [], None, {}
    for line in text.splitlines() + [""]:
        header = re.fullmatch(r"(?:local)?rule (\w+):", line)
        field = re.fullmatch(r"    (input|output): (.*)", line)
        if field and rule:
            fields[field[1]] = tuple(field[2].split(", "))
        elif rule and not line.startswith("    "):
            jobs.append(Job(rule, fields.get("input", ()), fields.get("output", ())))
            rule, fields = None, {}
        if header:
            rule = header[1]
    return jobs


def dag_jobs(targets: list[str], configfile: str) -> list[Job]:
    """Every job Snakemake needs for `targets` under `configfile`, as if nothing existed."""
    args = ["-n", "--forceall", "--configfile", configfile, "--", *targets]
    return [job for job in parse_dry_run(run("snakemake", args)) if job.outputs]


def rule_files(rules: list[str], rules_dir: Path = Path("workflow/rules")) -> list[str]:
    """The .smk files defining `rules`, with the helper files they take their inputs from."""
    found = set()
    for path in sorted(rules_dir.glob("*.smk")):
        defined = re.findall(r"^\s*rule (\w+):", path.read_text(), flags=re.MULTILINE)
        if set(defined) & set(rules):
            found.add(path.as_posix())
            helpers = rules_dir / "helpers" / path.name
            if helpers.exists():
                found.add(helpers.as_posix())
    return sorted(found)


def stage_of_rule(spec: dict[str, Any]) -> dict[str, str]:
    """rule -> stage, refusing a rule listed under two stages."""
    owner: dict[str, str] = {}
    for stage, entry in spec.items():
        for rule in entry["rules"]:
            if rule in owner:
                raise BadInputError(SPEC, f"rule {rule} is in stages {owner[rule]} and {stage}")
            owner[rule] = stage
    return owner


def snakemake_command(rules: list[str], targets: list[str], configfile: str) -> str:
    """The stage's shell command: Snakemake limited to the stage's rules and outputs."""
    config = [] if configfile == DEFAULT_CONFIG else ["--configfile", configfile]
    words = ["snakemake", "--cores", "all", "--resources", "gpu=1", "--allowed-rules"]
    words += [*rules, *config, "--", *targets]
    return shlex.join(words)


def build(spec: dict[str, Any], jobs: list[Job], configfile: str) -> dict[str, Any]:
    """dvc.yaml's content: stages in spec order, then metrics and plots (the curves, and
    every figure the stages write, which `dvc plots show` shows as it is, offline too)."""
    owner = stage_of_rule(spec)
    unassigned = sorted({job.rule for job in jobs} - owner.keys())
    if unassigned:
        raise BadInputError(SPEC, f"rules {', '.join(unassigned)} belong to no stage")
    stages, metrics, plots = {}, [], []
    for name, entry in spec.items():
        own = [job for job in jobs if owner[job.rule] == name]
        if not own:
            continue
        outs = sorted({f for job in own for f in job.outputs})
        inputs = {f for job in own for f in job.inputs} - set(outs)
        rules = [r for r in entry["rules"] if any(job.rule == r for job in own)]
        stages[name] = {
            "cmd": snakemake_command(rules, outs, configfile),
            "deps": sorted(inputs) + sorted({*WORKFLOW_CODE, *rule_files(rules)}),
            "params": [{configfile: list(entry["config"])}],
            "outs": [{out: {"persist": True}} for out in outs],
        }
        if "metrics" in entry:
            metrics += fnmatch.filter(outs, entry["metrics"])
        if "curves" in entry:
            plots += curve_plots(name, entry["curves"], outs)
        plots += [out for out in outs if out.endswith(FIGURE_SUFFIX)]
    return {"stages": stages, "metrics": metrics, "plots": plots}


def curve_plots(stage: str, curves: dict[str, Any], outs: list[str]) -> list[dict]:
    """One plot per metric: every metrics.csv of the stage, a line per split."""
    files = [out for out in outs if Path(out).name == "metrics.csv"]
    return [
        {
            f"{stage}_{field}": {
                "template": CURVES_TEMPLATE,
                "x": curves["x"],
                "y": {path: field for path in files},
                "title": f"{stage}: {field} per epoch (line style: split)",
            }
        }
        for field in curves["y"]
    ]


def render(content: dict[str, Any], configfile: str) -> str:
    """dvc.yaml's text, header first."""
    body = yaml.safe_dump(content, sort_keys=False, width=1000)
    return HEADER.format(config=configfile) + body


def generate(configfile: str = DEFAULT_CONFIG, targets: list[str] | None = None) -> dict:
    """dvc.yaml's content for `targets` (default: the workflow's `all`) under `configfile`."""
    spec = yaml.safe_load(SPEC.read_text())
    return build(spec, dag_jobs(targets or ["all"], configfile), configfile)


def untracked_sources(content: dict[str, Any]) -> list[str]:
    """Stage inputs under data/raw that no stage produces and no .dvc file tracks."""
    produced = {next(iter(o)) for s in content["stages"].values() for o in s["outs"]}
    sources = {d for s in content["stages"].values() for d in s["deps"] if d.startswith("data/")}
    return sorted(d for d in sources - produced if not Path(f"{d}.dvc").exists())


def check(configfile: str, targets: list[str] | None = None) -> None:
    """BadInputError unless dvc.yaml is what `write` would write now."""
    text = render(generate(configfile, targets), configfile)
    if not DVC_YAML.exists() or DVC_YAML.read_text() != text:
        raise BadInputError(
            DVC_YAML,
            f"does not match the workflow under {configfile};"
            " run `visionflow dvc stages` and commit the result",
        )


def write(configfile: str, targets: list[str] | None = None) -> dict[str, Any]:
    """Generate and write dvc.yaml; returns its content."""
    content = generate(configfile, targets)
    write_text(DVC_YAML, render(content, configfile))
    return content
