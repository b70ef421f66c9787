"""SLR training and testing end to end on the tiny demo store: files, agreement, resume."""

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import assert_one_file_per_checkpoint, kill_then_resume, slr_settings, subprocess_env

from visionflow.cli import main
from visionflow.data.wlasl import PackedClips
from visionflow.experiments.slr import evaluation, figures
from visionflow.experiments.slr.clips import ClipSource
from visionflow.experiments.slr.figures import (
    plot_class_figures,
    plot_class_report,
    plot_class_scores,
)
from visionflow.experiments.slr.training import clean_checkpoints, train, warm_start
from visionflow.io import BadInputError, safe_torch_load
from visionflow.models import video, video_original


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
    assert main([*argv, "--checkpoint", "checkpoint_001", "--heatmap", "--save"]) == 0
    result = json.loads((trained_run / "results" / "checkpoint_001_train-top-k.json").read_text())
    assert set(result) == {"top_k_average_per_class_acc", "top_k_per_instance_acc", "average_loss"}
    assert (trained_run / "results" / "checkpoint_001_train-heatmap.png").exists()
    assert not (trained_run / "results" / "checkpoint_001_train-bargraph.png").exists()
    with pytest.raises(BadInputError, match="checkpoint does not exist"):
        evaluation.evaluate_set(trained_run, wlasl_store, "test", "checkpoint_009")


def test_bargraph_draws_precision_recall_f1(tmp_path):
    logits = torch.tensor([[9.0, 0, 0], [9, 0, 0], [9, 0, 0], [0, 9, 0]])
    classes = evaluation.per_class(logits, torch.tensor([0, 0, 1, 1]), 3)  # c: never seen
    assert classes["matrix"].tolist() == [[2, 0, 0], [1, 1, 0], [0, 0, 0]]
    paths = plot_class_figures(classes, ["a", "b", "c"], tmp_path / "best_test", ["bargraph"])
    assert [p.name for p in paths] == ["best_test-bargraph.png"]
    names = ["a", "b", "c"]
    ax = plot_class_scores(
        names, classes["scores"], classes["matrix"], tmp_path / "b.png", "t"
    ).axes[0]
    bars = [[bar.get_width() for bar in container] for container in ax.containers]
    assert bars == [pytest.approx([2 / 3, 1.0]), [1.0, 0.5], pytest.approx([0.8, 2 / 3])]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["a (n=2)", "b (n=2)"]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "precision",
        "recall",
        "F1",
    ]
    ax = plot_class_report(
        names, classes["scores"], classes["matrix"], tmp_path / "h.png", "t"
    ).axes[0]
    assert [text.get_text() for text in ax.texts] == [
        "0.67",
        "1.00",
        "0.80",
        "1.00",
        "0.50",
        "0.67",
    ]


def test_partial_test_reads_the_named_set(trained_run, wlasl_store):
    epoch = safe_torch_load(trained_run / "checkpoints" / "best.ckpt")["epoch"]
    _, best_loss = evaluation.training_best(trained_run, epoch)
    val = evaluation.evaluate_set(trained_run, wlasl_store, "val")[0]
    assert val["average_loss"] == pytest.approx(best_loss, rel=1e-5)  # what training measured


def test_partial_display_without_save_shows_each_figure_and_writes_nothing(
    trained_run, wlasl_store, monkeypatch, capsys
):
    backends, shown = [], []
    monkeypatch.setattr(figures.plt, "switch_backend", backends.append)
    monkeypatch.setattr(figures.plt, "show", lambda: shown.append(figures.plt.gcf().get_label()))
    monkeypatch.setenv("DISPLAY", ":0")
    argv = ["slr", "test", "partial", str(trained_run), "val", "--data", str(wlasl_store),
            "--checkpoint", "checkpoint_002", "--bar-graph", "--heatmap", "--display"]  # fmt: skip
    assert main(argv) == 0
    assert shown == ["checkpoint_002_val-bargraph.png", "checkpoint_002_val-heatmap.png"]
    assert backends == ["macosx", "Agg"]  # the first interactive one, then back to files
    assert not list(trained_run.glob("results/checkpoint_002_val*"))
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(argv) == 2
    assert "--display: no graphical display" in capsys.readouterr().err


@pytest.mark.slow  # three more passes over the sets
def test_full_accepts_frame_overrides(trained_run, wlasl_store, tmp_path):
    run = tmp_path / "R(2+1)D_18_001"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.ckpt").symlink_to(trained_run / "checkpoints" / "best.ckpt")
    (run / "metrics.csv").symlink_to(trained_run / "metrics.csv")  # no data_info.json
    argv = ["slr", "test", "full", str(run), "--data", str(wlasl_store)]
    assert main(argv) == 2
    assert main([*argv, "--num-frames", "4", "--frame-size", "28"]) == 0
    report = json.loads((run / "results" / "best_val_loss.json").read_text())
    assert report["test"] == evaluation.evaluate_set(trained_run, wlasl_store, "test")[0]


def test_testing_scores_in_fp32(trained_run, wlasl_store):
    model, hparams, _ = evaluation.load(trained_run / "checkpoints" / "best.ckpt")
    seen = []
    hook = lambda module, args: seen.append(  # noqa: E731
        (args[0].dtype, torch.is_autocast_enabled("cpu"), torch.is_autocast_enabled("cuda"))
    )
    model.register_forward_pre_hook(hook)
    source = ClipSource(PackedClips(wlasl_store, "test"), 4)
    logits, _ = evaluation.predict(model, hparams["model"], source, 28, 4, 0)
    assert logits.dtype == torch.float32
    assert set(seen) == {(torch.float32, False, False)}


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


def original_layout(name: str, state: dict) -> dict:
    """A `video.build` state dict laid out as the original's wrapper saves it: the head as
    classifier.* (Swin's also as head.*), each backbone module's tensors also as backbone.<i>.*."""
    head = video.ARCHS[name].head
    layout = {}
    for i, module in enumerate(video_original.BACKBONE_MODULES[name]):
        layout |= {f"backbone.{i}.{k.removeprefix(module + '.')}": v
                   for k, v in state.items() if k.startswith(module + ".")}  # fmt: skip
    for key, value in state.items():
        layout["classifier." + key.removeprefix(head + ".") if key.startswith(head) else key] = (
            value
        )
    if name.startswith("Swin"):
        layout |= {k: v for k, v in state.items() if k.startswith("head.")}
    return layout


@pytest.mark.parametrize(
    ("name", "keys"), [("R(2+1)D_18", 446), ("S3D", 926), ("MViTv2_S", 792), ("Swin3D_T", None)]
)
def test_original_layout_maps_onto_the_torchvision_model(name, keys):
    with torch.device("meta"):
        state = video.build(name, 100).state_dict()
    original = original_layout(name, {k: torch.zeros(1) for k in state})
    assert keys is None or len(original) == keys  # as the original's wrappers save them
    mapped = video_original.to_visionflow(name, original, Path("best.pth"))
    assert list(mapped) == list(state)


def test_original_duplicates_must_agree(tmp_path):
    original = original_layout(
        "R3D_18", {"stem.0.weight": torch.zeros(2), "fc.1.bias": torch.ones(3)}
    )
    original["backbone.0.0.weight"] = torch.ones(2)
    with pytest.raises(BadInputError, match="backbone.0.0.weight is not the same tensor as stem"):
        video_original.to_visionflow("R3D_18", original, tmp_path / "best.pth")
    with pytest.raises(BadInputError, match="wrapper has no backbone module 7"):
        video_original.to_visionflow(
            "R3D_18", {"backbone.7.x": torch.ones(1)}, tmp_path / "best.pth"
        )


def _original_run(trained_run: Path, root: Path) -> Path:
    """The trained run's best model as an original run, runs/asl4/<MODEL>_exp001/ with
    data_info.json and checkpoints/best.pth (a bare state dict)."""
    model, _, _ = evaluation.load(trained_run / "checkpoints" / "best.ckpt")
    run = root / "runs" / "asl4" / "R(2+1)D_18_exp001"
    (run / "checkpoints").mkdir(parents=True)
    torch.save(original_layout("R(2+1)D_18", model.state_dict()), run / "checkpoints" / "best.pth")
    shutil.copy(trained_run / "data_info.json", run / "data_info.json")
    return run


def _periodic_checkpoint(run: Path) -> None:
    """checkpoints/checkpoint_005.pth beside best.pth: the original's eight keys."""
    weights = safe_torch_load(run / "checkpoints" / "best.pth")
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer)
    stopper = {"on": True, "phase": "val", "metric": "loss", "mode": "min", "patience": 20,
               "min_delta": 0.01, "curr_epoch": 4, "best_score": 1.25, "best_epoch": 3,
               "counter": 1, "stop": False}  # fmt: skip
    periodic = {"epoch": 4, "steps": 20, "model_state_dict": weights,
                "optimizer_state_dict": optimizer.state_dict(),
                "scheduler_state_dict": scheduler.state_dict(), "best_val_loss": 1.25,
                "best_val_acc": 62.5, "stopper_state_dict": stopper}  # fmt: skip
    assert tuple(periodic) == video_original.CHECKPOINT_KEYS
    torch.save(periodic, run / "checkpoints" / "checkpoint_005.pth")


def test_original_best_pth_is_tested_through_the_cli(trained_run, wlasl_store, tmp_path):
    run = _original_run(trained_run, tmp_path)
    argv = ["slr", "test", "partial", str(run), "test", "--data", str(wlasl_store), "--save"]
    assert main([*argv, "--checkpoint", "best.pth"]) == 0
    expected = evaluation.evaluate_set(trained_run, wlasl_store, "test")[0]
    assert json.loads((run / "results" / "best_test-top-k.json").read_text()) == expected


@pytest.mark.slow  # five passes over the sets and checkpoints of 125 MB
def test_original_run_full_test_and_periodic_checkpoint(trained_run, wlasl_store, tmp_path, caplog):
    run = _original_run(trained_run, tmp_path)
    _periodic_checkpoint(run)
    expected = evaluation.evaluate_set(trained_run, wlasl_store, "test")[0]
    argv = ["slr", "test", "partial", str(run), "test", "--data", str(wlasl_store), "--save"]
    with caplog.at_level(logging.WARNING):
        assert main([*argv, "--checkpoint", "checkpoint_005.pth"]) == 0
    assert (
        "not epoch, steps, optimizer_state_dict, scheduler_state_dict, best_val_loss" in caplog.text
    )
    assert json.loads((run / "results" / "checkpoint_005_test-top-k.json").read_text()) == expected
    assert main(["slr", "test", "full", str(run), "--data", str(wlasl_store)]) == 0
    report = json.loads((run / "results" / "best_val_loss.json").read_text())
    assert (report["best_val_acc"], report["best_val_loss"], report["best_val_epoch"]) == (
        0.625, 1.25, None)  # fmt: skip
    assert report["test"] == expected
    elsewhere = tmp_path / "elsewhere" / "checkpoints"
    elsewhere.mkdir(parents=True)
    (elsewhere / "best.pth").symlink_to(run / "checkpoints" / "best.pth")
    with pytest.raises(BadInputError, match="no <MODEL>_exp<NNN> run directory; pass --model"):
        evaluation.load(elsewhere / "best.pth")
    assert evaluation.load(elsewhere / "best.pth", "R(2+1)D_18")[1]["num_classes"] == 4


def test_warm_start_extends_the_head_keeping_old_rows(tmp_path):
    torch.manual_seed(0)
    source = video.build("R(2+1)D_18", 3)
    torch.save(original_layout("R(2+1)D_18", source.state_dict()), tmp_path / "best.pth")
    model = video.build("R(2+1)D_18", 4)
    warm_start(model, "R(2+1)D_18", tmp_path / "best.pth", 4)
    old, new = source.state_dict(), model.state_dict()
    for key in old:
        if not key.startswith("fc.1."):
            assert torch.equal(old[key], new[key]), key
    assert torch.equal(new["fc.1.weight"][:3], old["fc.1.weight"])
    assert torch.equal(new["fc.1.bias"][:3], old["fc.1.bias"])
    assert 0 < float(new["fc.1.weight"][3].abs().max()) <= 512**-0.5  # a fresh default row
    with pytest.raises(BadInputError, match="has 3 classes, more than the split's 2"):
        warm_start(model, "R(2+1)D_18", tmp_path / "best.pth", 2)


@pytest.mark.slow  # another training run
def test_training_starts_from_init_from(trained_run, wlasl_store, tmp_path):
    best = trained_run / "checkpoints" / "best.ckpt"
    settings = slr_settings(init_from=str(best))
    settings["training"] = settings["training"] | {"max_epoch": 1}
    train(wlasl_store, tmp_path, settings)
    before_training = pd.read_csv(tmp_path / "metrics.csv").iloc[0]  # epoch 0: validation
    _, best_loss = evaluation.training_best(trained_run, safe_torch_load(best)["epoch"])
    assert before_training["loss"] == pytest.approx(best_loss, rel=1e-5)
