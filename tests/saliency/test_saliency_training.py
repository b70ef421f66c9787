"""Saliency stages on a tiny demo store: each stage exports, the next continues from it."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import assert_one_file_per_checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from visionflow.data.saliency import PackedSaliency, prepare
from visionflow.data.saliency_processing import MapProcessing
from visionflow.demo.saliency import generate
from visionflow.experiments.saliency import task_weights_path
from visionflow.experiments.saliency.cli import weights_by_task
from visionflow.experiments.saliency.data import MultitaskData
from visionflow.experiments.saliency.evaluation import evaluate, read_images, run_maps
from visionflow.experiments.saliency.module import Freezing, map_loss
from visionflow.experiments.saliency.training import (
    _frozen_epochs,
    _weights_targets,
    build_model,
    load,
    stage_tasks,
    train,
)
from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.saliency_net import STUDENT_STAGES, SaliencyNet

MODEL = {"encoder_cutoff": 3, "decoder_channels": [16, 8], "generated": ["decoder"],
         "weights": None, "decoder_activation": "relu6", "use_eval_mode": True,
         "hnet": {"type": "chunked", "task_embedding": 8, "chunk_size": 512,
                  "chunk_embedding": 4, "hidden": [16]}}  # fmt: skip
STAGE = {"epochs": 1, "lr": 1e-3, "batch_size": 2, "consecutive_batches_per_task": 2,
         "batches_per_task_train": 2, "batches_per_task_val": 2}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("saliency")
    generate(root / "raw", images=24, size=48, seed=0)
    prepare(root / "raw", root / "store", size=(32, 32), splits=(0.5, 0.25, 0.25), seed=0)
    return root / "store"


def settings(tasks, **stages):
    return {"tasks": tasks, "model": MODEL, "seed": 0, **stages}


def test_stages_chain_through_their_exports(store, tmp_path):
    tasks = ["centre_bias", "edge_density"]
    one = settings(tasks, pretrain_one_task=STAGE | {"task": "edge_density"})
    first = train(store, tmp_path / "one", one, "pretrain_one_task")
    main = settings(tasks, train=STAGE | {"freeze_encoder_epochs": 1, "lr_decay": 0.1,
                                          "decay_epochs": [0]})  # fmt: skip
    second = train(store, tmp_path / "train", main, "train", previous=first)
    assert_one_file_per_checkpoint(tmp_path / "train")
    metrics = pd.read_csv(tmp_path / "train" / "metrics.csv")
    events = EventAccumulator(str(tmp_path / "train" / "logs" / "tensorboard" / "version_0"))
    assert {"maps/centre_bias", "maps/edge_density"} <= set(events.Reload().Tags()["images"])
    assert metrics.query("split == 'train'")["lr"].tolist() == pytest.approx([1e-4])  # decayed at 0
    model, saved = load(second)
    assert saved["tasks"] == tasks
    encoder = [p for n, p in model.named_parameters() if n.startswith("model.encoder")]
    assert all(p.requires_grad for p in encoder)  # trainable again in the saved model

    # Catch-up as the PR head: only the task embeddings in epochs 0..E-2, everything in E-1.
    catchup = settings(tasks, train_catchup=STAGE | {"epochs": 2, "checkpoint_every": 1})
    third = train(store, tmp_path / "catchup", catchup, "train_catchup", second)
    before = load(second)[0].state_dict()
    epochs = [safe_torch_load(tmp_path / "catchup" / "checkpoints" / f"epoch00{e}.ckpt")
              ["state_dict"] for e in (0, 1)]  # fmt: skip
    for name in ("mlp.0.weight", "chunk_embeddings", "model.encoder.0.0.weight"):
        assert torch.equal(before[name], epochs[0][f"model.{name}"])
        assert not torch.equal(epochs[0][f"model.{name}"], epochs[1][f"model.{name}"])
    assert not torch.equal(before["task_embeddings"], epochs[0]["model.task_embeddings"])

    table, images = evaluate(third, store, "test", batch_size=4)
    assert table["task"].tolist() == tasks
    assert table[["bce", "cc", "sim", "kl"]].notna().all().all()
    per_task = images.groupby("task", sort=False)[["bce", "cc", "sim", "kl"]].mean()
    assert np.allclose(per_task.to_numpy(), table[["bce", "cc", "sim", "kl"]].to_numpy())
    assert images.groupby("task", sort=False).size().tolist() == table["images"].tolist()
    names, images = read_images(store.parent / "raw" / "images", (32, 32))
    maps = run_maps(third, images[:3])
    assert set(maps) == set(tasks) and maps["centre_bias"].shape == (3, 32, 32)
    assert not np.array_equal(maps["centre_bias"], maps["edge_density"])


def test_pretrain_weights_regresses_onto_given_main_network_weights(store, tmp_path):
    tasks = ["centre_bias", "bright_spots"]
    model = build_model(MODEL, len(tasks))
    paths = {}
    for t, task in enumerate(tasks):
        weights = {k: torch.full_like(v, 0.1 * (t + 1)) for k, v in model.weights_for(t).items()}
        paths[task] = str(tmp_path / f"{task}.pt")
        torch.save(weights, paths[task])
    config = settings(tasks, pretrain_weights={"epochs": 3, "lr": 1e-2})
    export = train(store, tmp_path / "w", config, "pretrain_weights",
                                  task_weights=paths)  # fmt: skip
    losses = pd.read_csv(tmp_path / "w" / "metrics.csv").query("split == 'val'")["loss"]
    assert losses.iloc[-1] < losses.iloc[0]
    assert load(export)[1]["tasks"] == tasks

    torch.save({"other": torch.zeros(1)}, paths["bright_spots"])
    with pytest.raises(BadInputError, match="lacks generated parameters"):
        train(store, tmp_path / "w2", config, "pretrain_weights",
                             task_weights=paths)  # fmt: skip


def test_wandb_logs_offline_when_a_project_is_set(store, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = settings(["centre_bias"], train=STAGE, wandb={"project": "visionflow-test"})
    train(store, tmp_path / "gp0" / "train", config, "train")
    runs = list((tmp_path / "gp0" / "train" / "logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))


def test_a_stage_refuses_an_export_of_another_model(store, tmp_path):
    tasks = ["centre_bias", "edge_density"]
    first = train(store, tmp_path / "a", settings(tasks, train=STAGE), "train")
    other = settings(["centre_bias", "bright_spots"], train=STAGE)
    with pytest.raises(BadInputError, match="exported for other tasks or another model"):
        train(store, tmp_path / "b", other, "train", previous=first)


def test_a_finished_stage_resumes_to_the_same_result_and_other_inputs_start_fresh(store, tmp_path):
    tasks = ["centre_bias", "edge_density"]
    one = settings(tasks, pretrain_one_task=STAGE | {"task": "centre_bias"})
    first = train(store, tmp_path / "one", one, "pretrain_one_task")
    config = settings(tasks, train=STAGE)
    train(store, tmp_path / "train", config, "train", previous=first)
    history = (tmp_path / "train" / "metrics.csv").read_text()
    train(store, tmp_path / "train", config, "train", previous=first)
    assert (tmp_path / "train" / "metrics.csv").read_text() == history  # resumed, nothing to do
    other = train(store, tmp_path / "other", config, "train")  # no predecessor
    train(store, tmp_path / "train", config, "train", previous=other)
    assert (tmp_path / "train" / "metrics.csv").read_text() != history  # started fresh


def test_losses_match_torch_on_probabilities():
    torch.manual_seed(0)
    logits, target = torch.randn(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    p = torch.sigmoid(logits)
    assert map_loss("bce", logits, target) == pytest.approx(nn.BCELoss()(p, target).item())
    assert map_loss("l1", logits, target) == pytest.approx(nn.L1Loss()(p, target).item())
    assert map_loss("mse", logits, target) == pytest.approx(nn.MSELoss()(p, target).item())
    huber = map_loss("huber", logits, target)
    assert huber == pytest.approx(nn.HuberLoss()(p, target).item())
    assert huber == pytest.approx(0.5 * nn.MSELoss()(p, target).item())  # |p - t| <= 1


def test_freezing_schedule_of_catchup_and_generalization():
    model = build_model(MODEL, 2, imagenet=False)
    everything = {n for n, _ in model.named_parameters()}
    freezing = Freezing(encoder_epochs=2, shared_epochs=1)
    trainable = []
    for epoch in range(3):
        freezing.on_train_epoch_start(
            SimpleNamespace(current_epoch=epoch), SimpleNamespace(model=model)
        )
        trainable.append({n for n, p in model.named_parameters() if p.requires_grad})
    encoder = {n for n in everything if n.startswith("model.encoder.")}
    assert trainable[0] == {"task_embeddings"}
    assert trainable[1] == everything - encoder and trainable[2] == everything
    assert _frozen_epochs("train_catchup", {"epochs": 5}) == 4  # FreezeHNETShared(epochs - 1)
    assert _frozen_epochs("train_generalization_task", {"freeze_hnet_shared_epochs": 7}) == 7
    assert _frozen_epochs("train", {"epochs": 5}) == 0


def test_pretrain_weights_reads_original_student_exports(tmp_path):
    model = {**MODEL, "decoder_channels": [4] * 7, "generated": ["decoder", "encoder.3"]}
    hnet = build_model(model, 2, imagenet=False)
    net = SaliencyNet(3, [4] * 7)
    students = {}
    for task in ("AIM", "UniSal"):
        torch.manual_seed(len(task))
        state = {k: torch.randn_like(v) if v.is_floating_point() else v
                 for k, v in net.state_dict().items()}  # fmt: skip
        names = {**{f"decoder.{i}.0": f"decoder.conv{s}" for i, s in enumerate(STUDENT_STAGES)},
                 **{f"decoder.{i}.1": f"decoder.bn{s}" for i, s in enumerate(STUDENT_STAGES)},
                 "decoder.7": "decoder.output"}  # fmt: skip
        student = {names.get(k.rpartition(".")[0], k.rpartition(".")[0]) + "."
                   + k.rpartition(".")[2]: v for k, v in state.items()}  # fmt: skip
        folder = tmp_path / "models" / task / "exported"  # the repository's own layout
        folder.mkdir(parents=True)
        torch.save({"student_model": student}, folder / f"{task.lower()}.pth")
        students[task] = state
    paths = {task: task_weights_path(str(tmp_path / "models"), task) for task in ("AIM", "UniSal")}
    assert paths["UniSal"].endswith("models/UniSal/exported/unisal.pth")  # not UNISAL/
    files = [Path(p) for p in paths.values()]
    assert weights_by_task(files, ["AIM", "UniSal"]) == paths
    targets = _weights_targets(hnet, paths, ["UniSal", "AIM"])
    for row, task in enumerate(("UniSal", "AIM")):
        expected = torch.cat([students[task][n].reshape(-1) for n in hnet.generated_shapes])
        assert torch.equal(targets[row], expected)
    wrong = {**MODEL, "decoder_channels": [8] * 7}
    with pytest.raises(BadInputError, match=r"aim.pth: decoder.0.0.weight should have shape"):
        _weights_targets(build_model(wrong, 1, imagenet=False), paths, ["AIM"])
    with pytest.raises(BadInputError, match="names none of the tasks"):
        weights_by_task([tmp_path / "sam.pth"], ["AIM"])


def test_stage_data_every_image_and_the_first_images_by_name(store):
    tasks = ["centre_bias", "edge_density"]
    stage = STAGE | {"batches_per_task_train": None, "batches_per_task_val": None,
                     "train_images": 3, "workers": 0}  # fmt: skip
    data = MultitaskData(store, tasks, [0, 1], stage, 0, MapProcessing({}))
    store_train = PackedSaliency(store, "train", tasks)
    for column in range(2):
        have = [store_train.names[i] for i in np.flatnonzero(store_train.has[:, column])]
        assert [store_train.names[i] for i in data.train.indices[column]] == sorted(have)[:3]
    loader = data.train_dataloader()
    assert len(loader) == 2 * 2  # ceil(3 / 2) batches per task, the last partial
    seen = sorted((int(task[0]), len(task)) for task, _, _ in loader)
    assert seen == [(0, 1), (0, 2), (1, 1), (1, 2)]
    val = data.val_dataloader()
    assert sum(len(task) for task, _, _ in val) == sum(data.val.sizes())  # every image once


def test_stage_tasks_of_each_stage():
    config = settings(["a", "b", "c"], pretrain_one_task={"task": "b"}, train={"tasks": ["c"]},
                      train_catchup={"tasks": None})  # fmt: skip
    assert stage_tasks(config, "pretrain_one_task") == ["b"]
    assert stage_tasks(config, "train") == ["c"] and stage_tasks(config, "train_catchup") == [
        "a",
        "b",
        "c",
    ]
    with pytest.raises(BadInputError, match=r"saliency.train: tasks \['d'\] are not in"):
        stage_tasks(settings(["a"], train={"tasks": ["d"]}), "train")


@pytest.mark.slow
def test_generalization_trains_only_the_held_out_embedding_then_everything(store, tmp_path):
    tasks = ["centre_bias", "edge_density", "bright_spots"]
    base = train(
        store, tmp_path / "train", settings(tasks, train=STAGE | {"tasks": tasks[:2]}), "train"
    )
    stage = STAGE | {"tasks": ["bright_spots"], "epochs": 2, "freeze_hnet_shared_epochs": 1,
                     "checkpoint_every": 1, "train_images": 4, "val_images": 4,
                     "batches_per_task_train": None, "batches_per_task_val": None}  # fmt: skip
    config = settings(tasks, train_generalization_task=stage)
    export = train(store, tmp_path / "gen", config, "train_generalization_task", previous=base)
    before = load(base)[0].state_dict()
    run = tmp_path / "gen" / "bright_spots"
    epochs = [safe_torch_load(run / "checkpoints" / f"epoch00{e}.ckpt")["state_dict"]
              for e in (0, 1)]  # fmt: skip
    embeddings = epochs[0]["model.task_embeddings"]
    assert torch.equal(embeddings[:2], before["task_embeddings"][:2])
    assert not torch.equal(embeddings[2], before["task_embeddings"][2])  # the held-out task
    assert torch.equal(epochs[0]["model.mlp.0.weight"], before["mlp.0.weight"])
    assert not torch.equal(epochs[1]["model.mlp.0.weight"], before["mlp.0.weight"])
    metrics = pd.read_csv(tmp_path / "gen" / "metrics.csv")
    assert set(metrics["task"]) == {"bright_spots"} and len(metrics.query("split == 'train'")) == 2
    assert load(export)[1]["tasks"] == tasks
