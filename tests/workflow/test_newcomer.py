"""A newcomer's first hour, scripted: a fresh clone and `make demo`, then on the tiny run (the
demo at test size) the README's used-by commands as printed and five typical mistakes, each
answered by one line that names the config key and where it was set."""

import shlex
import shutil
from pathlib import Path

import pytest
from helpers import REPO, SNAKEMAKE, planned_jobs, run, tiny_config, write_config

SNAKEMAKES_OWN = (
    "Using workflow specific profile workflow/profiles/default",
    "Config file config/config.yaml is extended by additional config",
)
TOP1 = "results/cornet/top1.png"
# What the CORnet figure needs of a finished run (the rest of it is not copied).
CORNET_PART = ("workflow", "config", "envs", ".snakemake", "data/raw/miniimagenet",
               "data/prepared/miniimagenet", "results/cornet", "logs/cornet")  # fmt: skip


def readme_used_by_commands() -> list[list[str]]:
    """The `snakemake` command lines of the README's "Used-by commands" section, up to the
    real study (which needs the real data)."""
    section = (REPO / "README.md").read_text().split("\n## Used-by commands\n", 1)[1]
    section = section.split("\n## ", 1)[0].split("\n### ", 1)[0]
    return [shlex.split(line.split("#", 1)[0]) for line in section.splitlines()
            if line.startswith("snakemake ")]  # fmt: skip


def snakemake_in(workdir: Path, *args: str) -> tuple[int, list[str]]:
    """Exit status and output lines (stderr, then stdout) of Snakemake as a user types it:
    no --resources added."""
    result = run([*SNAKEMAKE, *args], cwd=workdir, check=False)
    return result.returncode, (result.stderr + result.stdout).splitlines()


def error_lines(lines: list[str]) -> list[str]:
    """The lines a failed start printed, without Snakemake's own notices."""
    return [line for line in lines if not line.startswith(SNAKEMAKES_OWN)]


def cornet_part(finished: Path, target: Path) -> Path:
    """A copy of what `finished` holds for the CORnet figure, timestamps kept."""
    for name in CORNET_PART:
        if (finished / name).exists():
            shutil.copytree(finished / name, target / name, symlinks=True)
    return target


@pytest.mark.slow
def test_fresh_clone_then_make_demo_draws_the_cornet_figure(tmp_path):
    """The README's first command in a fresh clone (this checkout's .venv, so make installs
    nothing; the demo config at test size): data generated, trained, figure drawn."""
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(REPO), str(clone)])
    (clone / ".venv").symlink_to(REPO / ".venv")
    write_config(clone, tiny_config(clone))
    made = run(["make", "--old-file", ".venv/.installed", "demo"], cwd=clone)
    assert "steps (100%) done" in made.stdout + made.stderr
    assert (clone / TOP1).stat().st_size > 0
    log = (clone / "logs" / "cornet" / "train_outer2.log").read_text()
    assert [line.split(": ", 1)[1][:9] for line in log.splitlines() if ": epoch " in line] == [
        "epoch 1/2", "epoch 2/2"]  # fmt: skip


@pytest.mark.slow
def test_the_readmes_used_by_commands_find_a_finished_run(tiny_run):
    commands = readme_used_by_commands()
    assert len(commands) >= 6
    for words in commands:
        # targets never follow --resources's values unless after `--`
        if "--resources" in words:
            after = words[words.index("--resources") + 2 :]
            assert not after or after[0].startswith("-"), shlex.join(words)
        if "--report" in words:
            continue  # the report of the tiny run: test_workflow's check_report
        status, lines = snakemake_in(tiny_run, "-n", *words[1:])
        assert status == 0, (shlex.join(words), lines[-20:])
        assert "Nothing to be done (all requested files are present and up to date)." in lines


@pytest.mark.slow
def test_five_mistakes_each_get_one_line_naming_the_key(tiny_run, tmp_path):
    # a typo
    status, lines = snakemake_in(tiny_run, "-n", TOP1, "--config", "cornet={learning_rate: 0.01}")
    assert status == 1
    typo = "--config: cornet.learning_rate: unknown key (did you mean `lr`?)"
    assert error_lines(lines) == [typo]

    # a number inside a --config section arrives as a string: read as the schema's number
    status, lines = snakemake_in(tiny_run, "-n", TOP1, "--config", "cornet={lr: 0.03}")
    assert status == 0
    assert planned_jobs("\n".join(lines)).get("train_cornet") == 2  # a changed lr re-trains

    # a weights file that is not there
    missing = tmp_path / "CORnet-S.pth"
    pretrained = f"cornet={{pretrained: {missing}}}"
    status, lines = snakemake_in(tiny_run, "-n", TOP1, "--config", pretrained)
    assert status == 1
    assert f"--config: cornet.pretrained: {missing} does not exist" in lines
    assert not any("Traceback" in line for line in lines)

    # no --resources: the default profile still runs GPU jobs one at a time (no GPU here)
    workdir = cornet_part(tiny_run, tmp_path / "run")
    tests = [f"results/cornet/{run}/eval/test.json" for run in ("outer1", "outer2")]
    status, lines = snakemake_in(workdir, *tests, "--cores", "2", "--forcerun", "test_cornet")
    assert status == 0, lines[-20:]
    assert 'Provided resources: gpu=Resource("gpu", 1)' in lines
    started = [i for i, line in enumerate(lines) if line.endswith("rule test_cornet:")]
    finished = [i for i, line in enumerate(lines) if line.endswith("(Rule: test_cornet)")]
    assert len(started) == len(finished) == 2
    assert finished[0] < started[1]  # two cores, yet the second waited for the GPU


@pytest.mark.slow
def test_a_mistyped_data_root_is_one_line_naming_the_key(tiny_run, tmp_path):
    typo = tmp_path / "MiniImageNet-typo"
    status, lines = snakemake_in(tiny_run, "-n", TOP1, "--config", f"miniimagenet={{root: {typo}}}")
    assert status == 1
    assert any("miniimagenet.root" in line and str(typo) in line for line in error_lines(lines))
