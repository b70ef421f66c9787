"""The saliency training stages: each starts from the previous stage's export (or fresh),
trains one part of the hypernetwork on the prepared store and exports its model."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger, WandbLogger
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from visionflow.engine import recipe
from visionflow.experiments.saliency import STAGES
from visionflow.experiments.saliency.data import MultitaskData
from visionflow.experiments.saliency.module import (
    FreezeShared,
    MapsToTensorBoard,
    SaliencyModule,
    WeightsRegression,
)
from visionflow.io import BadInputError, safe_torch_load, save_torch, sha256_file
from visionflow.models.hypernet import HyperNetwork
from visionflow.models.saliency_net import SaliencyNet, load_imagenet_encoder


def build_model(model: dict[str, Any], tasks: int, imagenet: bool = True) -> HyperNetwork:
    """The hypernetwork and main network a `model` config section describes; the encoder
    gets the ImageNet weights of `model.weights` unless `imagenet` is off (trained weights
    follow)."""
    net = SaliencyNet(model["encoder_cutoff"], model["decoder_channels"])
    if imagenet:
        load_imagenet_encoder(net.encoder, model.get("weights"))
    hnet = model["hnet"]
    return HyperNetwork(
        net,
        model["generated"],
        tasks,
        hnet["task_embedding"],
        hnet["chunk_size"],
        hnet["chunk_embedding"],
        hnet["hidden"],
    )


def save_export(path: Path, model: nn.Module, settings: dict[str, Any]) -> None:
    """The stage's model as weights plus the settings that rebuild it (loaded weights-only)."""
    save_torch(path, {"state_dict": model.state_dict(), "settings": settings})


def load(path: str | Path) -> tuple[HyperNetwork, dict[str, Any]]:
    """A stage's exported hypernetwork and its settings."""
    export = safe_torch_load(path)
    if not {"state_dict", "settings"} <= set(export):
        raise BadInputError(path, "not a saliency stage export (state_dict and settings)")
    settings = export["settings"]
    model = build_model(settings["model"], len(settings["tasks"]), imagenet=False)
    model.load_state_dict(export["state_dict"])
    return model, settings


def wandb_logger(run_dir: Path, wandb: dict[str, Any] | None) -> list[Logger]:
    """A Weights & Biases logger when `wandb.project` is set (offline unless `mode: online`:
    `wandb sync` uploads later); none otherwise."""
    if not wandb or not wandb.get("project"):
        return []
    if importlib.util.find_spec("wandb") is None:
        raise BadInputError("saliency.wandb", "a project is set but wandb is not installed")
    name = f"{run_dir.parent.name}-{run_dir.name}"
    return [
        WandbLogger(
            project=wandb["project"],
            name=name,
            save_dir=run_dir / "logs",
            offline=wandb.get("mode", "offline") != "online",
        )
    ]


def periodic_checkpoints(run_dir: Path, every: int) -> ModelCheckpoint:
    """A checkpoint kept every `every` epochs (the original's auto_checkpoint_steps)."""
    return ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="epoch{epoch:03d}",
        every_n_epochs=every,
        save_top_k=-1,
        save_on_train_epoch_end=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )


def _weights_targets(model: HyperNetwork, paths: dict[str, str], tasks: Sequence[str]) -> Tensor:
    """Each task's given main-network weights, flattened in the hypernetwork's output order."""
    rows = []
    for task in tasks:
        state = safe_torch_load(paths[task])
        state = state.get("state_dict", state)
        missing = [n for n in model.generated_shapes if n not in state]
        if missing:
            raise BadInputError(paths[task], f"lacks generated parameters {missing[:3]}")
        rows.append(torch.cat([state[n].reshape(-1).float() for n in model.generated_shapes]))
    return torch.stack(rows)


def train(
    data_dir: Path,
    run_dir: Path,
    settings: dict[str, Any],
    stage: str,
    previous: Path | None = None,
    task_weights: dict[str, str] | None = None,
) -> Path:
    """Run one training stage on the prepared store into `run_dir` (resumable) and write its
    export.pt.

    `settings`: `tasks` (all the model serves), `model`, `seed` and the stage's own section
    under `stage` (epochs, lr, ...). The model starts from `previous`'s export, or fresh;
    pretrain_weights regresses it onto the per-task main-network weights `task_weights`.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; training stages are {', '.join(STAGES)}")
    own = settings[stage]
    tasks = settings["tasks"]
    # Everything the stage computes from, its inputs by digest: a run with other settings or
    # a retrained predecessor starts fresh instead of resuming stale state.
    inputs = {"previous": previous and sha256_file(previous)}
    inputs |= {task: sha256_file(path) for task, path in (task_weights or {}).items()}
    hparams = {
        "stage": stage,
        "tasks": tasks,
        "model": settings["model"],
        "seed": settings["seed"],
        "inputs": inputs,
        "lr_decay": 1.0,
        "decay_epochs": [],
    } | own
    models: list[HyperNetwork] = []

    def build(hparams: dict[str, Any]) -> recipe.Training:
        if previous is None:
            model = build_model(settings["model"], len(tasks))
        else:
            model, before = load(previous)
            if before["tasks"] != tasks or before["model"] != settings["model"]:
                raise BadInputError(previous, "exported for other tasks or another model")
        models.append(model)
        loggers = wandb_logger(run_dir, settings.get("wandb"))
        if stage == "pretrain_weights":
            targets = _weights_targets(model, task_weights or {}, tasks)
            pairs = TensorDataset(torch.arange(len(tasks)), targets)
            datamodule = L.LightningDataModule.from_datasets(pairs, pairs, batch_size=len(tasks))
            return recipe.Training(
                WeightsRegression(model, hparams),
                datamodule,
                own["epochs"],
                ("loss",),
                "loss",
                "min",
                loggers=loggers,
            )
        trained = [own["task"]] if stage == "pretrain_one_task" else tasks
        if not set(trained) <= set(tasks):
            raise ValueError(f"{stage}: task {own['task']!r} is not one of {tasks}")
        data_stage = own | {"workers": settings.get("workers", 0)}
        ids = [tasks.index(task) for task in trained]
        datamodule = MultitaskData(data_dir, trained, ids, data_stage, settings["seed"])
        callbacks: list[L.Callback] = []
        if stage == "train_catchup":
            model.freeze_for_catchup()
        elif own.get("freeze_encoder_epochs") and model.shared_parameters("encoder"):
            callbacks.append(FreezeShared("encoder", own["freeze_encoder_epochs"]))
        if own.get("checkpoint_every"):
            callbacks.append(periodic_checkpoints(run_dir, own["checkpoint_every"]))
        callbacks.append(MapsToTensorBoard())
        return recipe.Training(
            SaliencyModule(model, hparams),
            datamodule,
            own["epochs"],
            ("loss",),
            "loss",
            "min",
            callbacks,
            loggers,
        )

    recipe.train(run_dir, settings, build, hparams=hparams)
    [model] = models
    best = safe_torch_load(run_dir / "checkpoints" / "best.ckpt")["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in best.items()})
    export = run_dir / "export.pt"
    save_export(export, model, {k: settings[k] for k in ("tasks", "model")})
    return export
