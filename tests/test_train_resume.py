"""A run killed at any moment and restarted ends exactly like an uninterrupted one."""

import json
import subprocess

import pandas as pd
import torch
from conftest import VISIONFLOW, kill_then_resume, subprocess_env, tiny_settings

from visionflow.io import safe_torch_load


def train_command(store, run_dir, settings):
    return VISIONFLOW + [
        "--threads", "1", "cornet", "train", "--data", str(store),
        "--run-dir", str(run_dir), "--settings", json.dumps(settings),
    ]  # fmt: skip


def comparable(metrics_csv):
    """metrics.csv without the wall-clock column, which legitimately differs."""
    return pd.read_csv(metrics_csv).drop(columns="duration")


def test_killed_run_resumes_to_identical_metrics(tiny_store, tmp_path):
    settings = tiny_settings(epochs=4)
    reference = tmp_path / "reference"
    subprocess.run(train_command(tiny_store, reference, settings), env=subprocess_env(),
                   check=True, capture_output=True)  # fmt: skip

    killed = tmp_path / "killed"
    kill_then_resume(train_command(tiny_store, killed, settings), killed, 4, pause=0.3)

    expected = comparable(reference / "metrics.csv")
    assert list(expected["epoch"]) == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    pd.testing.assert_frame_equal(comparable(killed / "metrics.csv"), expected, check_exact=True)
    ours = safe_torch_load(killed / "checkpoints" / "last.ckpt")["state_dict"]
    theirs = safe_torch_load(reference / "checkpoints" / "last.ckpt")["state_dict"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_changed_settings_start_fresh(tiny_store, tmp_path):
    run = tmp_path / "run"
    env = subprocess_env()
    subprocess.run(train_command(tiny_store, run, tiny_settings(epochs=1)), env=env,
                   check=True, capture_output=True)  # fmt: skip
    done = subprocess.run(train_command(tiny_store, run, tiny_settings(epochs=1, lr=0.01)),
                          env=env, check=True, capture_output=True, text=True)  # fmt: skip
    assert "starting fresh" in done.stderr
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == [0, 1, 1]
    assert metrics.loc[metrics["split"] == "train", "lr"].tolist() == [0.01]


def test_unreadable_last_checkpoint_falls_back_or_stops(tiny_store, tmp_path):
    run, env = tmp_path / "run", subprocess_env()
    command = train_command(tiny_store, run, tiny_settings(epochs=2))
    subprocess.run(command, env=env, check=True, capture_output=True)
    finished = comparable(run / "metrics.csv")
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a full disk

    resumed = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    assert "resuming from" in resumed.stderr and "instead" in resumed.stderr
    pd.testing.assert_frame_equal(comparable(run / "metrics.csv"), finished, check_exact=True)

    last.write_bytes(b"garbage")
    for other in (run / "checkpoints").glob("*.ckpt"):
        if other != last:
            other.unlink()
    stopped = subprocess.run(command, env=env, capture_output=True, text=True)
    assert stopped.returncode == 2 and "no other checkpoint of this run" in stopped.stderr
    pd.testing.assert_frame_equal(comparable(run / "metrics.csv"), finished, check_exact=True)


def test_a_finished_run_whose_outputs_were_removed_writes_them_again(tiny_store, tmp_path):
    """Snakemake deletes a killed job's outputs; the rerun resumes a run that had finished."""
    run, env = tmp_path / "run", subprocess_env()
    command = train_command(tiny_store, run, tiny_settings(epochs=1))
    subprocess.run(command, env=env, check=True, capture_output=True)
    finished = (run / "metrics.csv").read_bytes()
    for output in ("metrics.csv", "config.yaml", "checkpoints/best.ckpt"):
        (run / output).unlink()
    subprocess.run(command, env=env, check=True, capture_output=True)
    assert (run / "metrics.csv").read_bytes() == finished
    assert (run / "checkpoints" / "best.ckpt").is_file()
