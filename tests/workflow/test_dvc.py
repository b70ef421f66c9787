"""Sharing through DVC: Snakemake and DVC agree in any order, and a run pushed from one clone
is pulled by another with nothing to redo."""

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
    DVC_LOCAL_STATE,
    REPO,
    assert_in_sync,
    copy_run,
    dvc,
    dvc_project,
    jobs_run,
    planned_jobs,
    read_config,
    sh,
    snakemake,
    snakemake_command,
    subprocess_env,
    tiny_workflow,
    visionflow,
    write_config,
)

from visionflow.dvc import cache
from visionflow.dvc.commands import CommandError
from visionflow.dvc.stages import Job, build, parse_dry_run
from visionflow.io import BadInputError

CORNET_TARGETS = ["results/cornet/top1.png", "results/cornet/summary.csv"]
CORNET_JOBS = {"train_cornet": 2, "test_cornet": 2, "plot_cornet": 1, "summarize_cornet": 1}


def dry_run(cwd: Path) -> str:
    return snakemake(cwd, "-n", *CORNET_TARGETS).stdout


def in_sync(repo: Path) -> None:
    """Snakemake has nothing to do for the CORnet targets and DVC sees no change."""
    assert_in_sync(repo, *CORNET_TARGETS)


def set_lr(repo: Path, lr: float) -> None:
    config = read_config(repo)
    config["cornet"]["lr"] = lr
    write_config(repo, config)


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Path:
    """Repo A: the tiny demo's CORnet part run by `dvc repro` and pushed to a local remote."""
    root = tmp_path_factory.mktemp("dvc")
    repo = dvc_project(tiny_workflow(root / "A"), *CORNET_TARGETS, remote=root / "remote")
    dvc(repo, "repro")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "tiny demo results")
    dvc(repo, "push")
    return repo


def clone(origin: Path, name: str) -> Path:
    target = origin.parent / name
    sh(origin.parent, "git", "clone", "-q", str(origin), str(target))
    return target


@pytest.fixture(scope="module")
def snakemake_run(origin) -> Path:
    """The same project before its first run (origin's first commit), run by `snakemake`:
    nothing recorded by DVC yet. Tests work on copies (mtimes and .snakemake kept)."""
    repo = clone(origin, "S")
    sh(repo, "git", "reset", "-q", "--hard", "HEAD~1")
    snakemake(repo, *CORNET_TARGETS)
    return repo


@pytest.mark.slow
def test_origin_is_consistent_after_repro(origin):
    in_sync(origin)
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
def test_dvc_repro_records_a_snakemake_run_without_running_a_job(snakemake_run, tmp_path):
    repo = copy_run(snakemake_run, tmp_path / "R")
    repro = dvc(repo, "repro")
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    # every stage's command ran (nothing was recorded yet) and its Snakemake had nothing to do
    assert repro.stdout.count("Running stage") == len(stages)
    assert (repro.stdout + repro.stderr).count("Nothing to be done") == len(stages)
    assert jobs_run(repro) == {}
    assert yaml.safe_load((repo / "dvc.lock").read_text())["stages"].keys() == stages.keys()
    in_sync(repo)


@pytest.mark.slow
def test_dvc_repro_records_the_whole_workflow_without_running_a_job(tiny_run, tmp_path):
    """`snakemake all`, then `dvc repro` of every stage of `all`: nothing is recomputed."""
    repo = dvc_project(copy_run(tiny_run, tmp_path / "all"), "all")
    repro = dvc(repo, "repro")
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert repro.stdout.count("Running stage") == len(stages) > 10
    assert jobs_run(repro) == {}
    assert_in_sync(repo, "all")


@pytest.mark.slow
def test_dvc_commit_records_a_snakemake_run(snakemake_run, tmp_path):
    repo = copy_run(snakemake_run, tmp_path / "C")
    dvc(repo, "commit", "--force")
    in_sync(repo)
    repro = dvc(repo, "repro")
    assert jobs_run(repro) == {} and "Data and pipelines are up to date" in repro.stdout


@pytest.mark.slow
def test_plain_dvc_pull_then_repro_reproduces_nothing(origin):
    repo = clone(origin, "G")
    dvc(repo, "pull")
    repro = dvc(repo, "repro")
    assert "Running stage" not in repro.stdout and jobs_run(repro) == {}
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}
    visionflow(repo, "dvc", "sync")  # pulled files carry DVC's write order as mtimes
    in_sync(repo)


@pytest.mark.slow
def test_checking_out_an_older_commit_and_back(origin):
    repo = clone(origin, "F")
    visionflow(repo, "dvc", "pull")
    set_lr(repo, 0.005)  # the demo's is 0.05
    assert jobs_run(dvc(repo, "repro")) == CORNET_JOBS
    sh(repo, "git", "commit", "-qam", "lr 0.005")
    checkpoint = "results/cornet/outer1/checkpoints/best.ckpt"
    trained = (repo / checkpoint).read_bytes()

    sh(repo, "git", "checkout", "-q", "HEAD~1")
    dvc(repo, "checkout")
    # Snakemake's metadata holds the lr 0.005 run's params, the mtimes DVC's write order
    assert "Nothing to be done" not in dry_run(repo)
    visionflow(repo, "dvc", "sync")
    in_sync(repo)
    assert (repo / checkpoint).read_bytes() == (origin / checkpoint).read_bytes() != trained

    sh(repo, "git", "checkout", "-q", "-")
    dvc(repo, "checkout")
    visionflow(repo, "dvc", "sync")
    in_sync(repo)
    assert read_config(repo)["cornet"]["lr"] == 0.005
    assert (repo / checkpoint).read_bytes() == trained


@pytest.mark.slow
def test_sync_pull_and_check_refuse_a_cache_type_that_moves_modification_times(tmp_path):
    repo = tmp_path / "P"
    repo.mkdir()
    sh(repo, "git", "init", "-q")
    shutil.copytree(REPO / ".dvc", repo / ".dvc", ignore=DVC_LOCAL_STATE)
    dvc(repo, "config", "--local", "cache.type", "hardlink")
    for verb in (["sync"], ["pull"], ["stages", "--check"]):
        refused = visionflow(repo, "dvc", *verb, check=False)
        assert refused.returncode == 2, verb
        assert refused.stderr.strip() == (
            "visionflow: error: .dvc/config.local: DVC's cache.type is 'hardlink', not 'copy',"
            " so recording outputs would change their modification times or hand Snakemake"
            " stale copies; run `dvc config --local cache.type copy`"
        )
    assert not (repo / ".dvc" / "cache").exists()  # nothing pulled


@pytest.mark.parametrize(
    ("shown", "fix"),
    [
        (".dvc/config\treflink,copy", "run `dvc config cache.type copy`"),
        (".dvc/config.local\tsymlink", "run `dvc config --local cache.type copy`"),
        ("/root/.config/dvc/config\thardlink", "set `type = copy` under [cache] there"),
        ("", "run `dvc config cache.type copy`"),
    ],
)
def test_a_cache_type_other_than_copy_is_refused_with_its_file_and_fix(monkeypatch, shown, fix):
    monkeypatch.setattr(cache, "run", lambda tool, args: shown + "\n")
    with pytest.raises(CommandError) as refused:
        cache.require_copy_cache()
    message = str(refused.value)
    assert "\n" not in message and message.startswith(shown.split("\t")[0] or "DVC's cache.type")
    assert message.endswith(fix)


def test_the_copy_cache_type_passes_from_any_level(monkeypatch):
    monkeypatch.setattr(cache, "run", lambda tool, args: "/etc/xdg/dvc/config\tcopy\n")
    cache.require_copy_cache()


@pytest.mark.slow
def test_collaborator_pulls_then_a_changed_hyperparameter_reruns_only_its_jobs(origin):
    repo = clone(origin, "B")
    assert "Nothing to be done" not in dry_run(repo)  # no data yet
    visionflow(repo, "dvc", "pull")
    assert (repo / "results/cornet/outer2/checkpoints/best.ckpt").stat().st_size > 0
    in_sync(repo)

    set_lr(repo, 0.02)
    assert planned_jobs(dry_run(repo)) == CORNET_JOBS
    refused = visionflow(repo, "dvc", "sync", check=False)
    assert refused.returncode == 2 and "dvc status is not clean" in refused.stderr
    assert "cornet.lr" in dvc(repo, "params", "diff").stdout

    sh(repo, "git", "checkout", "config/config.yaml")
    run = dvc(repo, "exp", "run", "-n", "lr002", "-S", "config/config.yaml:cornet.lr=0.02")
    for stage in ("demo_miniimagenet", "prepare_miniimagenet"):
        assert f"Stage '{stage}' didn't change, skipping" in run.stdout
    for stage in ("train_cornet", "evaluate_cornet"):
        assert f"Running stage '{stage}'" in run.stdout
    assert jobs_run(run) == CORNET_JOBS  # exactly the jobs Snakemake planned
    in_sync(repo)
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
    set_lr(repo, 0.03)
    first = subprocess.Popen(snakemake_command(*CORNET_TARGETS, cores=1), cwd=repo,
                             env=subprocess_env(), stdout=subprocess.PIPE,
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

    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr[-3000:]
    ran = subprocess.CompletedProcess(first.args, 0, stdout, stderr)
    assert jobs_run(ran) == CORNET_JOBS  # the changed learning rate's jobs, no others
    assert "Nothing to be done" in dry_run(repo)  # the first run's outputs stand, complete
    assert jobs_run(dvc(repo, "repro")) == {}  # records them without running a job
    in_sync(repo)


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
    in_sync(repo)


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
