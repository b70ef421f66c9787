"""workflow/profiles/slurm on a real single-node SLURM cluster (tests/slurm/setup_cluster.sh)."""

import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    BIN,
    SNAKEMAKE,
    assert_in_sync,
    dvc,
    dvc_project,
    jobs_run,
    read_config,
    snakemake,
    subprocess_env,
    tiny_workflow,
    write_config,
)

pytest_plugins = ["slurm_cluster"]
pytestmark = pytest.mark.slurm

TARGET = "results/cornet/summary.csv"
RULES = {"demo_miniimagenet", "prepare_miniimagenet", "train_cornet", "test_cornet",
         "summarize_cornet"}  # fmt: skip
# First on the jobs' PATH: notes the job and the GPUs the rule's command sees, then runs it.
SHIM = """#!/bin/sh
echo "$SLURM_JOB_ID ${{CUDA_VISIBLE_DEVICES-unset}}" >> {seen}
exec {real} "$@"
"""


def tiny_workdir(path: Path) -> tuple[Path, dict]:
    """The workflow with tiny_config and a single CORnet run (outer_times=1)."""
    workdir = tiny_workflow(path)
    config = read_config(workdir)
    config["cornet"]["outer_times"] = [1]
    write_config(workdir, config)
    return workdir, config


def run_on_slurm(workdir: Path, shim_dir: Path) -> str:
    """Snakemake through the slurm profile as a user runs it (plus test settings); its output."""
    env = subprocess_env()
    env["PATH"] = f"{shim_dir}:{env['PATH']}"
    args = [
        TARGET, "--workflow-profile", "workflow/profiles/slurm", "--slurm-no-account",
        "--max-threads", str(len(os.sched_getaffinity(0))),  # the node's CPUs
        "--slurm-init-seconds-before-status-checks", "1",  # not 40: jobs take ~8 s here
        "--set-resources", "train_cornet:gpu_model=fake",  # the node's GPU type
    ]  # fmt: skip
    try:
        result = subprocess.run(SNAKEMAKE + args, cwd=workdir, env=env, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
    except subprocess.TimeoutExpired:
        queue = subprocess.run(["squeue", "--states=all"], capture_output=True, text=True)
        pytest.fail(f"snakemake on SLURM still running after 300 s; squeue:\n{queue.stdout}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"snakemake on SLURM failed:\n{output[-5000:]}"
    return output


def squeue(job_ids: list[str]) -> dict[str, dict]:
    """What slurmctld still knows of the given finished jobs, by rule name."""
    fields = "JobID:|,Comment:|,State:|,TimeLimit:|,tres-per-job:|,tres-alloc:"
    command = ["squeue", "--states=all", "--noheader", "--jobs", ",".join(job_ids)]
    out = subprocess.run([*command, "--Format", fields], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    jobs = {}
    for line in out.stdout.splitlines():
        job_id, comment, state, limit, gpus, alloc = line.split("|")
        rule = comment.strip().removeprefix("rule_").split("_wildcards_")[0]
        jobs[rule] = dict(id=job_id, state=state, limit=limit, gpus=gpus, alloc=alloc)
    return jobs


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, tmp_path_factory) -> tuple[Path, str, Path]:
    """The tiny CORnet chain run through the slurm profile in a git + DVC project, not yet
    recorded by DVC: the project, Snakemake's output, the file where each job noted itself."""
    root = tmp_path_factory.mktemp("slurm")
    workdir, _ = tiny_workdir(root / "slurm")
    dvc_project(workdir, TARGET)
    seen = root / "seen.txt"
    shim = root / "bin" / "visionflow"
    shim.parent.mkdir()
    shim.write_text(SHIM.format(seen=seen, real=BIN / "visionflow"))
    shim.chmod(0o755)
    return workdir, run_on_slurm(workdir, shim.parent), seen


def test_profile_runs_the_jobs_on_slurm_with_gpus_like_a_local_run(cluster_run, tmp_path):
    workdir, output, seen = cluster_run
    config = read_config(workdir)
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", output)
    jobs = squeue(submitted)
    assert len(submitted) == len(RULES) and set(jobs) == RULES
    assert {job["state"] for job in jobs.values()} == {"COMPLETED"}
    # gpu=1 became --gpus=1, or --gpus=fake:1 where gpu_model is set; no GPU for the others.
    assert jobs["train_cornet"]["gpus"] == "gres:gpu:fake:1"
    assert jobs["test_cornet"]["gpus"] == "gres:gpu:1"
    assert jobs["summarize_cornet"]["gpus"] == "N/A"
    # The rule's own threads, mem_mb and runtime (config["cornet"]) reached sbatch.
    cornet, train = config["cornet"], jobs["train_cornet"]
    assert train["alloc"].startswith(f"cpu={cornet['threads']},mem={cornet['mem_mb']}M")
    assert train["limit"] == f"{cornet['runtime']}:00"
    # Every rule's command ran inside its SLURM job, and saw a GPU exactly where it asked for one.
    gpus_seen = dict(line.split(" ") for line in seen.read_text().splitlines())
    assert set(gpus_seen) == {job["id"] for job in jobs.values()}
    for job in jobs.values():
        assert (gpus_seen[job["id"]] == "0") == (job["gpus"] != "N/A"), (job, gpus_seen)

    local, _ = tiny_workdir(tmp_path / "local")
    snakemake(local, TARGET)
    for name in ("results/cornet/summary.csv", "results/cornet/outer1/eval/test.json"):
        assert (workdir / name).read_bytes() == (local / name).read_bytes(), name
    metrics = [
        pd.read_csv(w / "results/cornet/outer1/metrics.csv").drop(columns="duration")
        for w in (workdir, local)
    ]
    pd.testing.assert_frame_equal(*metrics)


def test_dvc_commit_records_a_cluster_run(cluster_run):
    workdir, _, _ = cluster_run
    dvc(workdir, "commit", "--force")  # as the README says, after a cluster run
    assert_in_sync(workdir, TARGET)
    repro = dvc(workdir, "repro")
    assert jobs_run(repro) == {} and "Data and pipelines are up to date" in repro.stdout
