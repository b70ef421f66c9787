"""A run killed at any moment and restarted ends exactly like an uninterrupted one."""

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import (
    VISIONFLOW,
    assert_one_file_per_checkpoint,
    comparable,
    cornet_train_command,
    kill_then_resume,
    subprocess_env,
    tiny_settings,
)

from visionflow.cli import main
from visionflow.data.miniimagenet import prepare
from visionflow.demo.miniimagenet import generate
from visionflow.engine.callbacks import DATA_KEY
from visionflow.engine.trainer import data_fingerprint
from visionflow.io import safe_torch_load


@pytest.mark.slow  # a process killed or several started: the full tier
def test_killed_run_resumes_to_identical_metrics(tiny_store, tmp_path):
    settings = tiny_settings(epochs=4)
    reference = tmp_path / "reference"
    subprocess.run(cornet_train_command(tiny_store, reference, settings), env=subprocess_env(),
                   check=True, capture_output=True)  # fmt: skip

    killed = tmp_path / "killed"
    kill_then_resume(cornet_train_command(tiny_store, killed, settings), killed, 4, pause=0.3)

    expected = comparable(reference / "metrics.csv")
    assert list(expected["epoch"]) == [0, 1, 1, 2, 2, 3, 3, 4, 4]
    pd.testing.assert_frame_equal(comparable(killed / "metrics.csv"), expected, check_exact=True)
    ours = safe_torch_load(killed / "checkpoints" / "last.ckpt")["state_dict"]
    theirs = safe_torch_load(reference / "checkpoints" / "last.ckpt")["state_dict"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def train_argv(store: Path, run_dir: Path, settings: dict) -> list[str]:
    """`visionflow cornet train` arguments, for runs in this process."""
    return cornet_train_command(store, run_dir, settings)[len(VISIONFLOW) :]


def test_changed_settings_start_fresh(tiny_store, tmp_path, caplog):
    run = tmp_path / "run"
    assert main(train_argv(tiny_store, run, tiny_settings(epochs=1))) == 0
    assert main(train_argv(tiny_store, run, tiny_settings(epochs=1, lr=0.01))) == 0
    assert "starting fresh" in caplog.text
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == [0, 1, 1]
    assert metrics.loc[metrics["split"] == "train", "lr"].tolist() == [0.01]


def test_a_store_prepared_again_differently_starts_fresh(tiny_store, tmp_path, caplog):
    """Snakemake re-runs training when its store changes; the finished run's checkpoints
    must not be resumed over the new data (that would publish the old model)."""
    run, settings = tmp_path / "run", tiny_settings(epochs=1)
    assert main(train_argv(tiny_store, run, settings)) == 0
    assert main(train_argv(tiny_store, run, settings)) == 0  # same data: resumed, nothing to do
    assert "starting fresh" not in caplog.text
    raw, again = tmp_path / "raw", tmp_path / "prepared"
    generate(raw, n_classes=3, train_per_class=16, val_per_class=4, seed=1)
    prepare(raw, again, short_side=40)
    assert main(train_argv(again, run, settings)) == 0
    assert "training data changed since" in caplog.text and "starting fresh" in caplog.text
    metrics = pd.read_csv(run / "metrics.csv")
    assert list(metrics["epoch"]) == [0, 1, 1]  # trained again from epoch 0
    stored = safe_torch_load(run / "checkpoints" / "last.ckpt")[DATA_KEY]
    assert stored == data_fingerprint(again) != data_fingerprint(tiny_store)


def test_unreadable_last_checkpoint_falls_back_or_stops(tiny_store, tmp_path, caplog, capsys):
    run = tmp_path / "run"
    argv = train_argv(tiny_store, run, tiny_settings(epochs=2))
    assert main(argv) == 0
    finished = comparable(run / "metrics.csv")
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as by a full disk

    assert main(argv) == 0
    assert "resuming from" in caplog.text and "instead" in caplog.text
    pd.testing.assert_frame_equal(comparable(run / "metrics.csv"), finished, check_exact=True)

    last.write_bytes(b"garbage")
    for other in (run / "checkpoints").glob("*.ckpt"):
        if other != last:
            other.unlink()
    assert main(argv) == 2
    assert "no other checkpoint of this run" in capsys.readouterr().err
    pd.testing.assert_frame_equal(comparable(run / "metrics.csv"), finished, check_exact=True)


def test_a_finished_run_whose_outputs_were_removed_writes_them_again(tiny_store, tmp_path):
    """Snakemake deletes a killed job's outputs; the rerun resumes a run that had finished."""
    run = tmp_path / "run"
    argv = train_argv(tiny_store, run, tiny_settings(epochs=1))
    assert main(argv) == 0
    finished = (run / "metrics.csv").read_bytes()
    for output in ("metrics.csv", "config.yaml", "checkpoints/best.ckpt"):
        (run / output).unlink()
    assert main(argv) == 0
    assert (run / "metrics.csv").read_bytes() == finished
    [epoch] = (run / "checkpoints").glob("top1-epoch*.ckpt")
    best = run / "checkpoints" / "best.ckpt"
    assert best.read_bytes() == epoch.read_bytes() and not best.samefile(epoch)  # a copy
    assert_one_file_per_checkpoint(run)
