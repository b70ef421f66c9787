"""Shared fixtures: a tiny generated MiniImageNet and its prepared store."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from visionflow.data.miniimagenet import prepare
from visionflow.demo.miniimagenet import generate
from visionflow.io import safe_torch_load

REPO = Path(__file__).resolve().parents[1]
VISIONFLOW = [sys.executable, "-m", "visionflow.cli"]


@pytest.fixture(scope="session")
def tiny_store(tmp_path_factory) -> Path:
    """3 classes, 16 train and 4 val images each, stored at short side 40."""
    root = tmp_path_factory.mktemp("raw") / "miniimagenet"
    generate(root, n_classes=3, train_per_class=16, val_per_class=4, seed=0)
    out = tmp_path_factory.mktemp("prepared")
    prepare(root, out, short_side=40)
    return out


@pytest.fixture(scope="session")
def cornet_checkpoint(tiny_store, tmp_path_factory) -> Path:
    """best.ckpt of a one-epoch tiny CORnet run (outer_times 2) on `tiny_store`."""
    from visionflow.train import cornet

    run_dir = tmp_path_factory.mktemp("cornet") / "outer2"
    cornet.train(tiny_store, run_dir, tiny_settings(epochs=1))
    return run_dir / "checkpoints" / "best.ckpt"


def tiny_settings(**overrides) -> dict:
    """CORnet run settings small enough for seconds on one core."""
    settings = {
        "seed": 0,
        "outer_times": 2,
        "width": 0.125,
        "pretrained": None,
        "epochs": 3,
        "batch_size": 8,
        "lr": 0.02,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "step_size": 2,
        "gamma": 0.1,
        "crop_size": 32,
        "resize_size": 36,
        "min_crop_scale": 0.35,
        "workers": 0,
        "devices": 1,
    }
    return settings | overrides


def subprocess_env() -> dict:
    """Environment for child processes: one torch thread, no GPU, repo on the path."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return env


def kill_then_resume(command: list[str], run_dir: Path, epochs: int, pause: float) -> None:
    """Run `command`, SIGKILL it `pause` s after its first last.ckpt, then run it to the end."""
    proc = subprocess.Popen(command, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(pause)  # into the second epoch
    assert proc.poll() is None, "run finished before it could be killed"
    proc.kill()
    proc.wait()
    assert safe_torch_load(last)["epoch"] < epochs - 1
    subprocess.run(command, env=subprocess_env(), check=True, capture_output=True)


@pytest.fixture(scope="session")
def wlasl_raw(tmp_path_factory) -> Path:
    """4 demo glosses, 4 train, 2 val and 2 test videos each (with the demo's broken ones)."""
    from visionflow.demo.wlasl import generate

    root = tmp_path_factory.mktemp("raw") / "wlasl"
    generate(root, 4, {"train": 4, "val": 2, "test": 2}, seed=0)
    return root


@pytest.fixture(scope="session")
def wlasl_store(wlasl_raw, tmp_path_factory) -> Path:
    """`wlasl_raw` prepared as split asl4 at 32 x 32 pixels."""
    from visionflow.data.wlasl import prepare

    out = tmp_path_factory.mktemp("prepared") / "asl4"
    prepare(wlasl_raw / "WLASL_v0.3.json", wlasl_raw / "videos", out, "asl4", 32)
    return out


def slr_settings(**overrides) -> dict:
    """An SLR run small enough for seconds on one core: R(2+1)D_18, 4 frames of 28 px."""
    settings = {
        "model": "R(2+1)D_18", "split": "asl4", "exp": 1, "seed": 0,
        "training": {"batch_size": 4, "update_per_step": 1, "max_epoch": 2},
        "optimizer": {"eps": 1e-8, "backbone_init_lr": 1e-3, "backbone_weight_decay": 1e-4,
                      "classifier_init_lr": 1e-3, "classifier_weight_decay": 1e-4},
        "model_params": {"drop_p": 0.2},
        "scheduler": {"type": "CosineAnnealingLR", "tmax": 2, "eta_min": 0.0},
        "data": {"num_frames": 4, "frame_size": 28},
        "early_stopping": None, "pretrained": None, "save_every": 1, "workers": 0, "devices": 1,
    }  # fmt: skip
    return settings | overrides


def prediction_table(rows):
    """Prediction rows from (task, frame, label, score, box)."""
    records = [
        {"task": task, "frame": frame, "label": label, "score": score,
         **dict(zip(["xmin", "ymin", "xmax", "ymax"], box, strict=True))}
        for task, frame, label, score, box in rows
    ]  # fmt: skip
    columns = ["task", "frame", "label", "score", "xmin", "ymin", "xmax", "ymax"]
    return pd.DataFrame(records, columns=columns).astype({"frame": "int64", "score": float})
