"""Saliency stages on a tiny demo store: each stage exports, the next continues from it."""

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import assert_one_file_per_checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from visionflow.data.saliency import prepare
from visionflow.demo.saliency import generate
from visionflow.experiments.saliency.evaluation import evaluate, read_images, run_maps
from visionflow.experiments.saliency.training import build_model, load, train
from visionflow.io import BadInputError

MODEL = {"encoder_cutoff": 3, "decoder_channels": [16, 8], "generated": ["decoder"],
         "weights": None, "hnet": {"task_embedding": 8, "chunk_size": 512,
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

    catchup = settings(tasks, train_catchup=STAGE)
    third = train(store, tmp_path / "catchup", catchup, "train_catchup", second)
    before, after = load(second)[0], load(third)[0]
    assert torch.equal(before.mlp[0].weight, after.mlp[0].weight)  # shared hnet frozen
    assert not torch.equal(before.task_embeddings, after.task_embeddings)

    table = evaluate(third, store, "test", batch_size=4)
    assert table["task"].tolist() == tasks
    assert table[["bce", "cc", "sim", "kl"]].notna().all().all()
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
