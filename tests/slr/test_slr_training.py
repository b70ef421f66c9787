"""SLR training and testing end to end on the tiny demo store: files, agreement, resume."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from helpers import assert_one_file_per_checkpoint, kill_then_resume, slr_settings, subprocess_env

from visionflow.cli import main
from visionflow.data.wlasl import PackedClips
from visionflow.experiments.slr import evaluation
from visionflow.experiments.slr.figures import plot_class_figures
from visionflow.experiments.slr.training import clean_checkpoints, train
from visionflow.io import BadInputError, safe_torch_load


@pytest.fixture(scope="module")
def trained_run(wlasl_store, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("slr") / "asl4" / "R(2+1)D_18_001"
    train(wlasl_store, run_dir, slr_settings())
    return run_dir


def test_run_directory_layout(trained_run):
    names = {p.name for p in (trained_run / "checkpoints").iterdir()}
    assert {"best.ckpt", "last.ckpt", "checkpoint_001.ckpt", "checkpoint_002.ckpt"} <= names
    assert json.loads((trained_run / "data_info.json").read_text()) == {
        "num_frames": 4, "frame_size": 28}  # fmt: skip
    history = pd.read_csv(trained_run / "metrics.csv")
    assert list(zip(history["epoch"], history["split"], strict=True)) == [
        (0, "val"), (1, "train"), (1, "val"), (2, "train"), (2, "val")]  # fmt: skip
    val = history[(history["split"] == "val") & (history["epoch"] > 0)]
    best_epoch = safe_torch_load(trained_run / "checkpoints" / "best.ckpt")["epoch"] + 1
    assert best_epoch == val.loc[val["loss"].idxmin(), "epoch"]  # best = lowest val loss
    assert_one_file_per_checkpoint(trained_run)


def test_backbone_and_head_train_with_their_own_rates(trained_run):
    state = safe_torch_load(trained_run / "checkpoints" / "last.ckpt")
    groups = state["optimizer_states"][0]["param_groups"]
    assert [g["initial_lr"] for g in groups] == [1e-3, 1e-3]
    assert [g["weight_decay"] for g in groups] == [1e-4, 1e-4]
    assert len(groups[1]["params"]) == 2  # the head's Linear weight and bias


def test_full_test_agrees_with_training_and_shuffling_is_recorded(trained_run, wlasl_store):
    argv = ["slr", "test", "full", str(trained_run), "--data", str(wlasl_store)]
    assert main([*argv, "--batch-size", "3"]) == 0
    result = json.loads((trained_run / "results" / "best_val_loss.json").read_text())
    val = result["val"]
    assert result["best_val_loss"] == pytest.approx(val["average_loss"], rel=1e-5)
    assert result["best_val_acc"] == pytest.approx(val["top_k_per_instance_acc"]["top1"])
    shuffled = result["test_shuff"]
    assert shuffled["perm"] == [2, 3, 0, 1]  # torch.randperm(4) after seeding 42
    assert shuffled["shannon_entropy"] == 0.0  # a rotation: every circular step is +1
    results = trained_run / "results"
    for name in ("best_val_loss.json", "best_test-top-k.json", "best_val-top-k.json",
                 "best_test-top-k_shuffled.json", "best_test-bargraph.png",
                 "best_test-confmat.png", "best_test-heatmap.png"):  # fmt: skip
        assert (results / name).is_file()
    test = json.loads((results / "best_test-top-k.json").read_text())
    assert test == result["test"]
    report, classes, names = evaluation.evaluate(trained_run, wlasl_store, batch_size=5)
    again = report["test"]  # another batch size changes nothing
    assert again["top_k_per_instance_acc"] == result["test"]["top_k_per_instance_acc"]
    assert again["average_loss"] == pytest.approx(result["test"]["average_loss"], rel=1e-5)
    assert classes["matrix"].sum() == len(PackedClips(wlasl_store, "test")) == len(names) * 2
    summary = evaluation.summarize([trained_run])
    assert summary.loc[0, "run"] == "R(2+1)D_18_001"
    assert summary.loc[0, "test_top1"] == result["test"]["top_k_per_instance_acc"]["top1"]


def test_partial_test_on_another_checkpoint(trained_run, wlasl_store):
    argv = ["slr", "test", "partial", str(trained_run), "train", "--data", str(wlasl_store)]
    assert main([*argv, "--checkpoint", "checkpoint_001", "--heatmap"]) == 0
    result = json.loads((trained_run / "results" / "checkpoint_001_train-top-k.json").read_text())
    assert set(result) == {"top_k_average_per_class_acc", "top_k_per_instance_acc", "average_loss"}
    assert (trained_run / "results" / "checkpoint_001_train-heatmap.png").exists()
    assert not (trained_run / "results" / "checkpoint_001_train-bargraph.png").exists()
    with pytest.raises(BadInputError, match="checkpoint does not exist"):
        evaluation.evaluate_set(trained_run, wlasl_store, "test", "checkpoint_009")


def test_per_class_figures_show_the_test_counts(tmp_path):
    matrix = [[2, 0, 0], [1, 1, 0], [0, 0, 0]]  # class c absent from the set
    classes = evaluation.per_class(torch.tensor([[9.0, 0, 0], [9, 0, 0], [9, 0, 0], [0, 9, 0]]),
                                   torch.tensor([0, 0, 1, 1]), 3)  # fmt: skip
    assert classes["matrix"].tolist() == matrix
    paths = plot_class_figures(classes, ["a", "b", "c"], tmp_path / "best_test", ["bargraph"])
    assert [p.name for p in paths] == ["best_test-bargraph.png"]
    assert classes["accuracy"].tolist() == [1.0, 0.5, 0.0]
    assert classes["scores"][0].tolist() == pytest.approx([2 / 3, 1.0, 0.8])


def test_clean_checkpoints_keeps_best_and_last(trained_run, tmp_path):
    copy = tmp_path / "run"
    (copy / "checkpoints").mkdir(parents=True)
    for path in (trained_run / "checkpoints").iterdir():
        (copy / "checkpoints" / path.name).write_bytes(b"")
    clean_checkpoints(copy)
    assert {p.name for p in (copy / "checkpoints").iterdir()} == {"best.ckpt", "last.ckpt"}


def test_early_stopping_stops_and_keeps_a_checkpoint(wlasl_store, tmp_path):
    stopping = {"monitor": "val/loss", "mode": "min", "patience": 1, "min_delta": 100.0}
    settings = slr_settings(early_stopping=stopping, save_every=5)
    settings["training"] = settings["training"] | {"max_epoch": 6}
    train(wlasl_store, tmp_path, settings)
    history = pd.read_csv(tmp_path / "metrics.csv")
    assert history["epoch"].max() == 2  # epoch 1 sets the best, epoch 2 fails to beat it by 100
    assert (tmp_path / "checkpoints" / "checkpoint_002.ckpt").exists()


@pytest.mark.slow  # a process killed or several started: the full tier
def test_killed_run_resumes_to_the_same_history(wlasl_store, tmp_path):
    settings = slr_settings()
    settings["training"] = settings["training"] | {"max_epoch": 3}
    runs = {}
    for name in ("straight", "killed"):
        run_dir = tmp_path / name
        command = [sys.executable, "-m", "visionflow.cli", "slr", "train", "--data",
                   str(wlasl_store), "--run-dir", str(run_dir),
                   "--settings", json.dumps(settings)]  # fmt: skip
        if name == "killed":
            kill_then_resume(command, run_dir, epochs=3, pause=1.0)
        else:  # also a child process: thread counts change float sums
            subprocess.run(command, env=subprocess_env(), check=True, capture_output=True)
        runs[name] = pd.read_csv(run_dir / "metrics.csv").drop(columns="duration")
    pd.testing.assert_frame_equal(runs["straight"], runs["killed"])


def test_gradient_accumulation_steps_within_each_epoch(wlasl_store, tmp_path):
    settings = slr_settings()
    settings["training"] = settings["training"] | {"update_per_step": 2, "max_epoch": 1}
    train(wlasl_store, tmp_path, settings)
    # 13 train clips in batches of 4 -> 3 batches (a last batch of one is dropped) -> steps
    # after batches 2 and 3: the partial accumulation steps at the epoch's end.
    assert safe_torch_load(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 2


def test_crop_larger_than_the_stored_frames_is_refused(wlasl_store, tmp_path):
    settings = slr_settings(data={"num_frames": 4, "frame_size": 40})
    with pytest.raises(BadInputError, match="stored at 32 px, less than frame_size 40"):
        train(wlasl_store, tmp_path, settings)
