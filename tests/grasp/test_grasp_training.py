"""NeuroVis training: inputs and targets as the original loader builds them, unfreezing, resume."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from helpers import (
    VISIONFLOW,
    assert_one_file_per_checkpoint,
    kill_then_resume,
    original_neurovis_weights,
    subprocess_env,
)

from visionflow.data.jacquard.grasp_maps import JAW_SCALE, rotate_grasps
from visionflow.data.jacquard.prepare import prepare
from visionflow.data.jacquard.store import PackedJacquard
from visionflow.demo.jacquard import generate
from visionflow.engine.datamodule import eval_loader
from visionflow.engine.trainer import evaluate as evaluate_module
from visionflow.experiments.grasp import data as grasp
from visionflow.experiments.grasp.data import held_out_views
from visionflow.experiments.grasp.evaluation import load
from visionflow.experiments.grasp.training import build_model, datamodule, datasets, train
from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.normalisation import IMAGENET_MEAN, IMAGENET_STD

BRANCHES = ("rgb_features", "d_features")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Five classes, two train and one test object of one view each, stored at 224."""
    raw = tmp_path_factory.mktemp("raw") / "jacquard"
    generate(raw, objects_per_class=3, views_per_object=1, size=96, seed=0)
    out = tmp_path_factory.mktemp("prepared")
    prepare(raw, out, size=224)
    return out


@pytest.fixture(scope="module")
def alexnet_file(tmp_path_factory) -> Path:
    """A torchvision AlexNet state dict (random, seeded) standing in for ImageNet's."""
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    return path


def settings(**overrides) -> dict:
    base = {"seed": 0, "task": "grasp", "dropout": 0.3, "unfreeze_epoch": None,
            "alexnet_weights": None, "epochs": 2, "batch_size": 8, "lr": 1e-3,
            "step_size": 1, "gamma": 0.5, "val_fraction": 0.1, "workers": 0,
            "devices": 1}  # fmt: skip
    return base | overrides


def test_input_is_imagenet_normalised_with_centred_clipped_depth():
    mean = np.array(IMAGENET_MEAN) * 255
    rgb = np.broadcast_to(mean, (4, 4, 3)).astype(np.float32)
    depth = np.array([[0.0, 0.5, 1.0, 3.5]] * 4, dtype=np.float32)  # mean 1.25
    x = grasp.rgbd_input(rgb, depth)
    assert x.shape == (4, 4, 4)
    assert torch.allclose(x[:3], torch.zeros(3, 4, 4), atol=1e-6)
    assert x[3, 0].tolist() == pytest.approx([-1.0, -0.75, -0.25, 1.0])
    white = grasp.rgbd_input(np.full((2, 2, 3), 255, np.uint8), np.zeros((2, 2), np.float32))
    expected = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert white[:3, 0, 0].numpy() == pytest.approx(expected, rel=1e-5)


def test_grasp_target_normalises_each_channel():
    raw = np.zeros((224, 224, 6), dtype=np.float32)
    raw[10, 20] = [11.2, -22.4, 0.75, 44.8, 224 * JAW_SCALE / 2, 0.5]
    target = grasp.grasp_target(raw)
    assert target.shape == (6, 224, 224)
    assert target[:, 10, 20].tolist() == pytest.approx([0.05, -0.1, 0.75, 0.2, 0.0, 0.5])
    assert target[4, 0, 0] == pytest.approx(-1.0)  # uncovered pixel: jaw 0 maps to -1


def test_cls_target_marks_the_object_in_the_label_channel():
    mask = np.zeros((8, 8), dtype=np.uint8)
    mask[2:5, 3:6] = 255
    target = grasp.cls_target(mask, label=3)
    on, off = target[:, 3, 4], target[:, 0, 0]
    assert on.tolist() == [-1, -1, -1, 1, -1, 1]
    assert off.tolist() == [-1, -1, -1, -1, -1, 0]
    assert int(target[5].sum()) == 9


def test_every_view_comes_in_four_rotations_with_matching_maps(store):
    source = PackedJacquard(store, "train")
    dataset = grasp.JacquardTaskDataset(source, "grasp", source.max_grasps)
    assert len(dataset) == 4 * len(source)
    sample = source[1]
    for turns in range(4):
        x, target, label, grasps = dataset[4 + turns]
        expected_rgb = grasp.rgbd_input(np.rot90(sample["rgb"], turns), sample["depth"])[:3]
        assert torch.equal(x[:3], expected_rgb)
        assert torch.equal(target, grasp.grasp_target(sample["maps"][turns]))
        turned = rotate_grasps(sample["grasps"], turns, 224)
        assert np.allclose(grasps[: len(turned)].numpy(), turned, atol=1e-4)
        assert torch.isnan(grasps[len(turned) :]).all() and int(label) == sample["label"]


def initial_backbone(seed: int, alexnet: Path | None) -> dict[str, torch.Tensor]:
    """The AlexNet conv weights `train` starts from (the file's, or the seed's random init)."""
    L.seed_everything(seed, verbose=False)
    model = build_model({"dropout": 0.3, "alexnet_weights": alexnet})
    return {branch: getattr(model, branch)[0].weight.detach() for branch in BRANCHES}


@pytest.mark.filterwarnings("ignore:AlexNet weights not found")
def test_backbone_trains_only_from_the_unfreeze_epoch(store, alexnet_file, tmp_path):
    for unfreeze, trained in ((None, False), (2, True)):
        run_dir = tmp_path / f"unfreeze{unfreeze}"
        alexnet = alexnet_file if unfreeze else None
        run = settings(unfreeze_epoch=unfreeze, alexnet_weights=alexnet and str(alexnet))
        published = train(store, run_dir, run)
        assert published == run_dir / "checkpoints" / "final.ckpt"  # the last epoch's model
        last = run_dir / "checkpoints" / "last.ckpt"
        assert published.read_bytes() == last.read_bytes() and not published.samefile(last)
        assert_one_file_per_checkpoint(run_dir)
        state = safe_torch_load(published)["state_dict"]
        metrics = pd.read_csv(run_dir / "metrics.csv")
        assert metrics["lr"][metrics["split"] == "train"].tolist() == [1e-3, 5e-4]  # StepLR(1, 0.5)
        assert list(zip(metrics["epoch"], metrics["split"], strict=True)) == [
            (0, "val"), (0, "test"), (1, "train"), (1, "val"), (1, "test"), (2, "train"),
            (2, "val"), (2, "test")]  # fmt: skip
        initial = initial_backbone(0, alexnet)
        for branch in BRANCHES:
            weight = state[f"model.{branch}.0.weight"]
            assert torch.equal(weight, initial[branch]) != trained, (unfreeze, branch)


def test_an_unfrozen_backbone_needs_the_alexnet_weights(tmp_path):
    for weights in (None, str(tmp_path / "absent.pth")):
        hparams = {"dropout": 0.3, "unfreeze_epoch": 75, "alexnet_weights": weights}
        with pytest.raises(BadInputError, match="grasp.alexnet_weights must name"):
            build_model(hparams)


def test_validation_part_is_a_seeded_tenth_of_the_objects(store):
    objects = PackedJacquard(store, "train").rows["object_id"]  # 10 objects, one view each
    kept, held = held_out_views(objects, 0.1, seed=0)
    assert len(held) == 1 and sorted([*kept, *held]) == list(range(10))
    assert not set(objects[kept]) & set(objects[held])
    again = held_out_views(objects, 0.1, seed=0)
    assert np.array_equal(held, again[1])
    assert {int(held_out_views(objects, 0.1, seed)[1][0]) for seed in range(8)} != {held[0]}
    many = np.repeat([f"obj{k}" for k in range(20)], 3)  # three views per object
    kept, held = held_out_views(many, 0.1, seed=1)
    assert len(held) == 6 and len(set(many[held])) == 2 and not set(many[held]) & set(many[kept])
    assert len(held_out_views(many, 0.0, seed=1)[1]) == 0


def test_every_training_sample_is_seen_each_epoch(store):
    parts = datasets(store, settings(batch_size=2, val_fraction=0.1))
    assert len(parts["train"]) == 4 * 9  # nine objects kept, four rotations each
    sizes = {}
    for count in (7, 8):
        parts["train"].views = np.arange(count)
        module = datamodule(parts, settings(batch_size=3))
        module.trainer = SimpleNamespace(global_rank=0, world_size=1)
        sizes[count] = sum(len(batch[0]) for batch in module.train_dataloader())
    assert sizes == {7: 28, 8: 32}  # 28 % 3 == 1: the one-sample batch is kept
    # val (4 samples), test (20) and the training part (32) in batches of 3
    assert [len(d) for d in module.val_dataloader()] == [2, 7, 11]


@pytest.mark.filterwarnings("ignore:AlexNet weights not found")
def test_train_accuracy_is_an_eval_mode_pass_over_the_training_part(store, tmp_path):
    run = settings(epochs=1, dropout=0.9, task="cls")
    train(store, tmp_path / "run", run)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv").set_index(["epoch", "split"])
    module = load(tmp_path / "run" / "checkpoints" / "final.ckpt")
    parts = datasets(store, run)
    for split in ("train", "test"):
        scored = evaluate_module(module, eval_loader(parts[split], 8, 0))
        assert metrics.loc[(1, split), "accuracy"] == pytest.approx(scored["accuracy"])
    assert metrics.loc[(1, "test"), "loss"] == pytest.approx(scored["loss"], rel=1e-5)


def train_command(store: Path, run_dir: Path, run_settings: dict) -> list[str]:
    return VISIONFLOW + [
        "--threads", "1", "grasp", "train", "--data", str(store),
        "--run-dir", str(run_dir), "--settings", json.dumps(run_settings),
    ]  # fmt: skip


@pytest.mark.slow  # a process killed or several started: the full tier
def test_killed_run_with_dropout_resumes_to_identical_metrics(store, tmp_path):
    run_settings = settings(epochs=3)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(train_command(store, reference, run_settings), env=subprocess_env(),
                   check=True, capture_output=True)  # fmt: skip
    kill_then_resume(train_command(store, killed, run_settings), killed, 3, pause=0.5)
    expected = pd.read_csv(reference / "metrics.csv").drop(columns="duration")
    resumed = pd.read_csv(killed / "metrics.csv").drop(columns="duration")
    assert list(expected["epoch"]) == [0, 0, *(e for e in (1, 2, 3) for _ in range(3))]
    pd.testing.assert_frame_equal(resumed, expected, check_exact=True)


def test_cli_scores_and_analyses_original_weights(store, tmp_path, capsys):
    from visionflow.cli import main

    pth = original_neurovis_weights(tmp_path / "alexnetMap_grasp_top5_v3.2.2_epoch150.pth")
    out = tmp_path / "test.json"
    test = ["grasp", "test", "--ckpt", str(pth), "--data", str(store), "--out", str(out)]
    assert main([*test, "--task", "grasp"]) == 0
    scores = json.loads(out.read_text())
    assert scores["task"] == "grasp" and scores["samples"] == 4 * 5
    assert 0 <= scores["accuracy"] <= 1 and scores["checkpoint"] == str(pth)
    assert main(test) == 2
    assert "original NeuroVis state dict: give its task" in capsys.readouterr().err
    npz = tmp_path / "activations.npz"
    assert main(["analysis", "activations", "--experiment", "grasp", "--ckpt", str(pth),
                 "--task", "cls", "--data", str(store), "--split", "test", "--per-class", "3",
                 "--out", str(npz)]) == 0  # fmt: skip
    with np.load(npz) as stored:
        assert stored["labels"].tolist() == [k for k in range(5) for _ in range(3)]
        assert stored["layer/features.7"].shape == (15, 64)
        assert stored["layer/rgb_features.0"].shape == (15, 64)
