"""SIGKILL at seeded moments of conversion, training, evaluation and analysis jobs, then the
same target again: every output matches an uninterrupted run and no partial file is whole.

Outputs are compared byte for byte, except three kinds whose bytes legitimately differ:
checkpoints (compared tensor by tensor, plus epoch and step: the pickled callback state
holds wall-clock timings), `metrics.csv` (compared without its wall-clock `duration`
column), and the TensorBoard/CSV logger folders under `logs/` (a resumed run logs its
second session to a new version folder; these are logs, not outputs).
"""

import json
import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import torch
from helpers import copy_run, snakemake, snakemake_command, subprocess_env

from visionflow.io import safe_torch_load


@dataclass(frozen=True)
class Job:
    """A chain of jobs the kill lands in: what it writes and what asks for it."""

    kind: str  # conversion, training, evaluation or analysis
    folders: tuple[str, ...]  # everything the chain writes, moved aside as the reference
    targets: tuple[str, ...]
    benchmarks: tuple[str, ...]  # the reference run's timings of the chain's jobs


CORNET = "results/cornet/outer2"
CORNET_JOBS = [
    Job("conversion", ("data/prepared/miniimagenet",), ("data/prepared/miniimagenet/train.npy",),
        ("miniimagenet/prepare",)),
    Job("training", (CORNET,), (f"{CORNET}/eval/test.json",),
        ("cornet/train_outer2", "cornet/test_outer2")),
]  # fmt: skip
SLR_RUN = "results/slr/asl3/R(2+1)D_18_001"
SALIENCY = "results/saliency/gp1"
DETECTION = "results/detection/mobilenet_v3_small"
# Reverse DAG order: a re-created output is never upstream of a later kill point's chain.
ALL_JOBS = [
    Job("analysis", ("results/grasp/analysis/clip",),
        ("results/grasp/analysis/clip/metrics.json",), ("analysis/clip",)),
    Job("analysis", ("results/cornet/analysis/rsm/outer2",),
        tuple(f"results/cornet/analysis/rsm/outer2/{name}"
              for name in ("intra_model.csv", "intra_model.png", "layers.png")),
        ("analysis/record_rsm_cornet_outer2", "analysis/compute_rsm_cornet_outer2")),
    Job("evaluation", (f"{SALIENCY}/test",), (f"{SALIENCY}/test/metrics.csv",),
        ("saliency/gp1/test",)),
    Job("evaluation", (f"{DETECTION}/eval",), (f"{DETECTION}/eval/prf.csv",),
        ("detection/mobilenet_v3_small/predict", "detection/mobilenet_v3_small/test")),
    Job("evaluation", (f"{SLR_RUN}/results",), (f"{SLR_RUN}/results/best_val_loss.json",),
        ("slr/test_asl3_R(2+1)D_18_001",)),
    Job("training", (f"{SALIENCY}/train",), (f"{SALIENCY}/train/export.pt",),
        ("saliency/gp1/train",)),
    Job("training", ("results/grasp/cls",),
        tuple(f"results/grasp/cls/{name}"
              for name in ("checkpoints/final.ckpt", "vis/predictions.png", "vis/confusion.png",
                           "eval/train.json", "eval/test.json")),
        ("grasp/train_cls", "grasp/vis_cls", "grasp/plot_confusion", "grasp/test_cls_train",
         "grasp/test_cls_test")),
    Job("training", (SLR_RUN,), (f"{SLR_RUN}/results/best_val_loss.json",),
        ("slr/train_asl3_R(2+1)D_18_001", "slr/test_asl3_R(2+1)D_18_001")),
    *CORNET_JOBS[1:],
    Job("conversion", ("data/prepared/saliency",), ("data/prepared/saliency/manifest.parquet",),
        ("saliency/prepare",)),
    Job("conversion", ("data/prepared/cvat/annotations",),
        ("data/prepared/cvat/annotations/annotations.parquet",), ("cvat/prepare",)),
    Job("conversion", ("data/prepared/wlasl/asl3",), ("data/prepared/wlasl/asl3/manifest.parquet",),
        ("wlasl/prepare_asl3",)),
    Job("conversion", ("data/prepared/jacquard",), ("data/prepared/jacquard/manifest.parquet",),
        ("jacquard/prepare",)),
    *CORNET_JOBS[:1],
]  # fmt: skip


KILL_ATTEMPTS = 4


def kill_points(jobs: list[Job], per_job: int, seed: int) -> list:
    """(job, fraction of its reference duration, victim): seeded, so every run kills alike."""
    rng = random.Random(seed)
    points = [(job, rng.random(), rng.choice(["jobs", "workflow"]))
              for job in jobs for _ in range(per_job)]  # fmt: skip
    return [pytest.param(*point, id=f"{point[0].kind}:{point[0].benchmarks[0]}@{point[1]:.2f}"
                         f"-{point[2]}") for point in points]  # fmt: skip


def duration(workdir: Path, job: Job) -> float:
    """Seconds the chain took in the reference run (Snakemake's benchmark files)."""
    files = [workdir / "benchmarks" / f"{name}.tsv" for name in job.benchmarks]
    return sum(float(pd.read_csv(f, sep="\t")["s"].iloc[-1]) for f in files)


def wait_for_a_job(workdir: Path, proc: subprocess.Popen) -> None:
    """Return once Snakemake has marked a job's outputs incomplete, i.e. a job started."""
    incomplete = workdir / ".snakemake" / "incomplete"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if incomplete.is_dir() and any(incomplete.iterdir()):
            return
        time.sleep(0.02)


def kill(proc: subprocess.Popen, victim: str) -> bool:
    """SIGKILL the running jobs (as an OOM killer would) or the whole workflow (power cut);
    whether the kill hit a live target (a workflow still running, or a job process of it)."""
    deadline = time.monotonic() + 5
    while proc.poll() is None:
        if victim == "workflow":
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        jobs = psutil.Process(proc.pid).children(recursive=True)
        if jobs:  # between two jobs there may briefly be none: wait for the next
            for job in jobs:
                job.kill()
            proc.wait()
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    return False


def start_and_kill(workdir: Path, job: Job, seconds: float, victim: str) -> bool:
    """Start the chain, kill it `seconds` after its first job starts; whether the kill landed."""
    proc = subprocess.Popen(snakemake_command(*job.targets), cwd=workdir, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    wait_for_a_job(workdir, proc)
    time.sleep(seconds)
    return kill(proc, victim)


def kill_and_rerun(workdir: Path, job: Job, fraction: float, victim: str, aside: Path) -> None:
    """Move the chain's outputs aside, kill a rebuild of them midway, then rebuild.

    The kill moment is a fraction of the reference run's duration; on a machine less loaded
    than during the reference run the chain may finish first, so the moment is halved and the
    chain rebuilt from nothing until the kill lands (at most KILL_ATTEMPTS times)."""
    seconds = fraction * duration(workdir, job)
    for folder in job.folders:
        shutil.move(workdir / folder, aside / folder.replace("/", "__"))
    for _ in range(KILL_ATTEMPTS):
        if start_and_kill(workdir, job, seconds, victim):
            break
        for folder in job.folders:
            shutil.rmtree(workdir / folder, ignore_errors=True)
        seconds /= 2
    else:
        pytest.fail(f"the chain finished before every kill (last at {seconds * 2:.1f} s in)")
    for folder in job.folders:
        assert_every_file_is_whole(workdir / folder)
    locks = workdir / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):  # the workflow died holding its lock
        locked = snakemake(workdir, *job.targets, check=False)
        assert locked.returncode != 0 and "--unlock" in locked.stderr
        snakemake(workdir, "--unlock")
    snakemake(workdir, *job.targets)
    for folder in job.folders:
        assert_same_outputs(workdir / folder, aside / folder.replace("/", "__"))


def outputs(folder: Path) -> dict[str, Path]:
    """Files under `folder` by relative path, without logger folders and the hidden temp
    files of writes a kill interrupted."""
    files = {str(p.relative_to(folder)): p for p in folder.rglob("*") if p.is_file()}
    return {name: path for name, path in files.items()
            if "logs" not in Path(name).parts and not path.name.endswith(".tmp")}  # fmt: skip


LOADERS = {
    ".ckpt": safe_torch_load,
    ".pt": safe_torch_load,
    ".npy": lambda p: np.load(p, allow_pickle=False),
    ".npz": lambda p: dict(np.load(p, allow_pickle=False)),
    ".parquet": pd.read_parquet,
    ".csv": pd.read_csv,
    ".json": lambda p: json.loads(p.read_text()),
}


def assert_every_file_is_whole(folder: Path) -> None:
    """What a kill left under its final name loads completely; only temp files may be partial."""
    if not folder.exists():
        return
    for name, path in outputs(folder).items():
        load = LOADERS.get(path.suffix)
        if load is not None:
            try:
                load(path)
            except Exception as error:  # noqa: BLE001 - any failure means a partial file
                pytest.fail(f"{name} left by the kill does not load: {error}")


def assert_same_outputs(ours: Path, reference: Path) -> None:
    mine, theirs = outputs(ours), outputs(reference)
    assert sorted(mine) == sorted(theirs), "the rerun wrote a different set of files"
    for name, path in theirs.items():
        assert_same_file(mine[name], path, name)


def assert_same_file(ours: Path, reference: Path, name: str) -> None:
    if ours.suffix == ".ckpt":
        a, b = safe_torch_load(ours), safe_torch_load(reference)
        assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"]), name
        assert a["state_dict"].keys() == b["state_dict"].keys(), name
        for key, tensor in b["state_dict"].items():
            assert torch.equal(a["state_dict"][key], tensor), f"{name}: {key}"
    elif ours.name == "metrics.csv":
        a, b = (pd.read_csv(p).drop(columns="duration", errors="ignore") for p in (ours, reference))
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=name)
    else:
        assert ours.read_bytes() == reference.read_bytes(), f"{name} differs"


@pytest.fixture(scope="module")
def reference(tiny_run, tmp_path_factory) -> Path:
    """A copy of the tiny workflow's complete run: every chain's reference outputs."""
    return copy_run(tiny_run, tmp_path_factory.mktemp("kill") / "run")


@pytest.mark.slow
@pytest.mark.parametrize(("job", "fraction", "victim"), kill_points(CORNET_JOBS, 2, seed=0))
def test_a_kill_in_the_cornet_chain_loses_nothing(reference, tmp_path, job, fraction, victim):
    kill_and_rerun(reference, job, fraction, victim, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("job", "fraction", "victim"), kill_points(ALL_JOBS, 2, seed=1))
def test_a_kill_anywhere_in_the_workflow_loses_nothing(reference, tmp_path, job, fraction, victim):
    kill_and_rerun(reference, job, fraction, victim, tmp_path)
