"""Sharing through DVC: a run pushed from one clone is pulled by another with nothing to redo."""

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from helpers import (
    BIN,
    REPO,
    planned_jobs,
    run,
    snakemake,
    snakemake_command,
    subprocess_env,
    tiny_config,
    visionflow,
    write_config,
)

from visionflow.dvc.stages import Job, build, parse_dry_run
from visionflow.io import BadInputError

CORNET_TARGETS = ["results/cornet/top1.png", "results/cornet/summary.csv"]
REPO_FILES = ("workflow", "config", "envs", ".dvc", ".dvcignore", ".gitignore")
GIT_AUTHOR = {f"GIT_{role}_{field}": value for role in ("AUTHOR", "COMMITTER")
              for field, value in (("NAME", "visionflow tests"),
                                   ("EMAIL", "tests@visionflow.invalid"))}  # fmt: skip


def sh(cwd: Path, *command: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    return run(list(command), cwd=cwd, check=check, **GIT_AUTHOR, **extra)


def dvc(cwd: Path, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    return sh(cwd, str(BIN / "dvc"), *args, check=check, **extra)


def dry_run(cwd: Path) -> str:
    return snakemake(cwd, "-n", *CORNET_TARGETS).stdout


def assert_in_sync(clone: Path) -> None:
    """Snakemake has nothing to do and DVC sees no change."""
    assert "Nothing to be done" in dry_run(clone)
    assert json.loads(dvc(clone, "status", "--json").stdout) == {}


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """Repo A: the tiny demo's CORnet part run by `dvc repro` and pushed to a local remote."""
    root = tmp_path_factory.mktemp("dvc")
    repo = root / "A"
    repo.mkdir()
    for name in REPO_FILES:
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy
        copy(REPO / name, repo / name)
    shutil.rmtree(repo / ".dvc" / "cache", ignore_errors=True)
    shutil.rmtree(repo / ".dvc" / "tmp", ignore_errors=True)
    write_config(repo, tiny_config(repo))
    sh(repo, "git", "init", "-q")
    dvc(repo, "remote", "add", "--default", "--force", "local", str(root / "remote"))
    visionflow(repo, "dvc", "stages", *CORNET_TARGETS)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny demo")
    dvc(repo, "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny demo results")
    dvc(repo, "push")
    return repo


def clone(origin: Path, name: str) -> Path:
    target = origin.parent / name
    sh(origin.parent, "git", "clone", "-q", str(origin), str(target))
    return target


@pytest.mark.slow
def test_origin_is_consistent_after_repro(origin):
    assert_in_sync(origin)
    metrics = yaml.safe_load(dvc(origin, "metrics", "show", "--json").stdout)
    [workspace] = metrics.values()
    top1 = workspace["data"]["results/cornet/outer1/eval/test.json"]["data"]["top1"]
    assert 0 <= top1 <= 1
    plots = json.loads(dvc(origin, "plots", "show", "--json").stdout)["data"]
    [top1_plot] = plots["train_cornet_top1"]
    rows = top1_plot["content"]["data"]["values"]
    assert {(row["filename"], row["split"]) for row in rows} == {
        (f"outer{k}/metrics.csv", split) for k in (1, 2) for split in ("train", "val")}  # fmt: skip
    assert top1_plot["content"]["encoding"]["strokeDash"]["field"] == "split"


@pytest.mark.slow
def test_collaborator_pulls_then_a_changed_hyperparameter_reruns_only_its_jobs(origin):
    repo = clone(origin, "B")
    assert "Nothing to be done" not in dry_run(repo)  # no data yet
    visionflow(repo, "dvc", "pull")
    assert (repo / "results/cornet/outer2/checkpoints/best.ckpt").stat().st_size > 0
    assert_in_sync(repo)

    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config["cornet"]["lr"] = 0.02
    write_config(repo, config)
    assert planned_jobs(dry_run(repo)) == {
        "train_cornet": 2, "test_cornet": 2, "plot_cornet": 1, "summarize_cornet": 1,
    }  # fmt: skip
    refused = visionflow(repo, "dvc", "sync", check=False)
    assert refused.returncode == 2 and "dvc status is not clean" in refused.stderr
    assert "cornet.lr" in dvc(repo, "params", "diff").stdout

    sh(repo, "git", "checkout", "config/config.yaml")
    run = dvc(repo, "exp", "run", "-n", "lr002", "-S", "config/config.yaml:cornet.lr=0.02")
    for stage in ("demo_miniimagenet", "prepare_miniimagenet"):
        assert f"Stage '{stage}' didn't change, skipping" in run.stdout
    for stage in ("train_cornet", "evaluate_cornet"):
        assert f"Running stage '{stage}'" in run.stdout
    assert_in_sync(repo)
    [main] = json.loads(dvc(repo, "exp", "show", "--json").stdout)[1:]
    [experiment] = main["experiments"]
    assert experiment["name"] == "lr002"
    [revision] = experiment["revs"]
    params = revision["data"]["params"]["config/config.yaml"]["data"]
    assert params["cornet"]["lr"] == 0.02
    assert "results/cornet/outer1/eval/test.json" in revision["data"]["metrics"]


@pytest.mark.slow
def test_pull_refuses_when_the_checkout_does_not_match_the_lock(origin):
    repo = clone(origin, "C")
    (repo / "workflow/rules/cornet.smk").write_text(
        (repo / "workflow/rules/cornet.smk").read_text() + "\n# edited\n"
    )
    refused = visionflow(repo, "dvc", "pull", check=False)
    assert refused.returncode == 2
    assert "train_cornet" in refused.stderr and "nothing was touched" in refused.stderr
    assert not (repo / ".snakemake" / "metadata").exists()


@pytest.mark.slow
def test_a_second_run_and_dvc_repro_are_locked_out_while_snakemake_runs(origin):
    repo = clone(origin, "E")
    visionflow(repo, "dvc", "pull")
    config = yaml.safe_load((repo / "config/config.yaml").read_text())
    config["cornet"]["lr"] = 0.03
    write_config(repo, config)
    first = subprocess.Popen(snakemake_command(*CORNET_TARGETS, cores=1), cwd=repo,
                             env=subprocess_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    locks = repo / ".snakemake" / "locks"
    deadline = time.monotonic() + 60
    while not (locks.is_dir() and any(locks.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)

    second = snakemake(repo, *CORNET_TARGETS, check=False)
    assert second.returncode != 0 and "Directory cannot be locked" in second.stderr
    repro = dvc(repo, "repro", check=False)
    assert repro.returncode != 0
    assert "Directory cannot be locked" in repro.stdout + repro.stderr
    assert "failed to reproduce 'train_cornet'" in repro.stderr
    assert first.poll() is None, "the first run should still be going"

    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    assert "Nothing to be done" in dry_run(repo)  # the first run's outputs stand, complete
    dvc(repo, "repro")  # records them without running a job
    assert_in_sync(repo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_server():
    """A local S3-compatible server (moto) on 127.0.0.1; its endpoint URL."""
    port = free_port()
    server = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"moto_server did not come up on {url}")
            time.sleep(0.2)
    yield url
    server.terminate()
    server.wait(timeout=10)


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.mark.slow
def test_s3_remote_round_trip(origin, moto_server):
    import boto3

    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 ).create_bucket(Bucket="visionflow")  # fmt: skip
    dvc(origin, "remote", "add", "s3", "s3://visionflow/store")
    dvc(origin, "remote", "modify", "s3", "endpointurl", moto_server)
    sh(origin, "git", "commit", "-qam", "S3 remote")
    dvc(origin, "push", "--remote", "s3", **S3_ENV)

    repo = clone(origin, "D")
    denied = visionflow(repo, "dvc", "pull", "--remote", "s3", check=False,
                        AWS_ACCESS_KEY_ID="", AWS_SECRET_ACCESS_KEY="")  # fmt: skip
    assert denied.returncode == 2 and "dvc pull" in denied.stderr
    visionflow(repo, "dvc", "pull", "--remote", "s3", **S3_ENV)
    assert_in_sync(repo)


def test_committed_dvc_yaml_matches_the_workflow():
    result = visionflow(REPO, "dvc", "stages", "--check", check=False)
    assert result.returncode == 0, result.stderr


DRY_RUN = """\
[Tue Nov 24 19:59:53 2026]
rule train_cornet:
    input: data/prepared/a.npy, data/prepared/m.parquet
    output: results/cornet/outer1/metrics.csv, results/cornet/outer1/best.ckpt
    log: logs/train.log
    jobid: 3

localrule all:
    input: results/cornet/outer1/metrics.csv
    jobid: 0
"""


def test_dry_run_blocks_become_jobs():
    assert parse_dry_run(DRY_RUN) == [
        Job("train_cornet", ("data/prepared/a.npy", "data/prepared/m.parquet"),
            ("results/cornet/outer1/metrics.csv", "results/cornet/outer1/best.ckpt")),
        Job("all", ("results/cornet/outer1/metrics.csv",), ()),
    ]  # fmt: skip


def test_stages_take_inputs_from_other_stages_and_exact_outputs():
    spec = {
        "prepare": {"rules": ["prepare"], "config": ["data"]},
        "train": {"rules": ["train", "test"], "config": ["seed", "model"],
                  "metrics": "results/*/eval.json", "curves": {"x": "epoch", "y": ["top1"]}},
    }  # fmt: skip
    jobs = [
        Job("prepare", ("data/raw/x",), ("data/prepared/x.npy",)),
        Job("train", ("data/prepared/x.npy",), ("results/r(1)/metrics.csv",)),
        Job("test", ("results/r(1)/metrics.csv",), ("results/r(1)/eval.json",)),
    ]
    content = build(spec, jobs, "config/config.yaml")
    train = content["stages"]["train"]
    assert train["deps"][0] == "data/prepared/x.npy"  # not its own metrics.csv
    assert [next(iter(o)) for o in train["outs"]] == [
        "results/r(1)/eval.json", "results/r(1)/metrics.csv"]  # fmt: skip
    assert train["cmd"].endswith("-- 'results/r(1)/eval.json' 'results/r(1)/metrics.csv'")
    assert "--allowed-rules train test" in train["cmd"]
    assert train["params"] == [{"config/config.yaml": ["seed", "model"]}]
    assert content["metrics"] == ["results/r(1)/eval.json"]
    assert content["plots"][0]["train_top1"]["y"] == {"results/r(1)/metrics.csv": "top1"}
    with pytest.raises(BadInputError, match="rules evaluate belong to no stage"):
        build(spec, [*jobs, Job("evaluate", (), ("x",))], "config/config.yaml")
