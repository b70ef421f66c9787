"""The saliency training stages: each starts from the previous stage's export (or fresh),
trains one part of the hypernetwork on the prepared store and exports its model."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger, WandbLogger
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from visionflow.data.saliency_processing import MapProcessing
from visionflow.engine import recipe
from visionflow.experiments.saliency import STAGES
from visionflow.experiments.saliency.data import MultitaskData
from visionflow.experiments.saliency.module import (
    Freezing,
    MapsToTensorBoard,
    SaliencyModule,
    WeightsRegression,
)
from visionflow.io import (
    BadInputError,
    copy_file,
    safe_torch_load,
    save_torch,
    sha256_file,
    write_table,
)
from visionflow.models.hypernet import HYPERNETWORKS, HyperNetwork
from visionflow.models.saliency_net import SaliencyNet, from_student, load_imagenet_encoder

# What exports written before these model settings existed were built with.
LEGACY_MODEL = {"decoder_activation": "relu", "use_eval_mode": True}
LEGACY_HNET = {"type": "chunked"}


def build_model(model: dict[str, Any], tasks: int, imagenet: bool = True) -> HyperNetwork:
    """The hypernetwork and main network a `model` config section describes; the encoder
    gets the ImageNet weights of `model.weights` unless `imagenet` is off (trained weights
    follow)."""
    net = SaliencyNet(
        model["encoder_cutoff"],
        model["decoder_channels"],
        model["decoder_activation"],
        model["use_eval_mode"],
    )
    if imagenet:
        load_imagenet_encoder(net.encoder, model.get("weights"))
    kind = HYPERNETWORKS[model["hnet"]["type"]]
    return kind(net, model["generated"], tasks, **{k: model["hnet"][k] for k in kind.settings})


def save_export(path: Path, model: nn.Module, settings: dict[str, Any]) -> None:
    """The stage's model as weights plus the settings that rebuild it (loaded weights-only)."""
    save_torch(path, {"state_dict": model.state_dict(), "settings": settings})


def load(path: str | Path) -> tuple[HyperNetwork, dict[str, Any]]:
    """A stage's exported hypernetwork and its settings."""
    export = safe_torch_load(path)
    if not {"state_dict", "settings"} <= set(export):
        raise BadInputError(path, "not a saliency stage export (state_dict and settings)")
    settings = export["settings"]
    model = LEGACY_MODEL | settings["model"]
    settings["model"] = model | {"hnet": LEGACY_HNET | model["hnet"]}
    net = build_model(settings["model"], len(settings["tasks"]), imagenet=False)
    net.load_state_dict(export["state_dict"])
    return net, settings


def stage_tasks(settings: dict[str, Any], stage: str) -> list[str]:
    """The tasks a stage trains: pretrain_one_task's `task`, else the stage's `tasks` (all
    the model's tasks when unset); each must be one of the model's `tasks`."""
    own = settings[stage]
    trained = (
        [own["task"]] if stage == "pretrain_one_task" else own.get("tasks") or settings["tasks"]
    )
    unknown = [task for task in trained if task not in settings["tasks"]]
    if unknown:
        raise BadInputError(f"saliency.{stage}", f"tasks {unknown} are not in saliency.tasks")
    return list(trained)


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


class PeriodicCheckpoint(ModelCheckpoint):
    """A checkpoint kept every `every_n_epochs` epochs (the original's auto_checkpoint_steps);
    its own class keeps its state apart from the run's `last` checkpoint at every epoch."""


def periodic_checkpoints(run_dir: Path, every: int) -> ModelCheckpoint:
    """A checkpoint kept every `every` epochs as checkpoints/epoch<NNN>.ckpt (0-based)."""
    return PeriodicCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="epoch{epoch:03d}",
        every_n_epochs=every,
        save_top_k=-1,
        save_on_train_epoch_end=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )


def _main_network_weights(path: str) -> dict[str, Tensor]:
    """A main-network state dict: an export of `visionflow saliency export-weights` or a
    KDSalBox student (`{"student_model": ...}`, renamed to this network's names)."""
    state = safe_torch_load(path)
    if not isinstance(state, dict):
        raise BadInputError(path, f"expected a state dict, found {type(state).__name__}")
    if "student_model" in state:
        return from_student(state["student_model"])
    return state.get("state_dict", state)


def _weights_targets(model: HyperNetwork, paths: dict[str, str], tasks: Sequence[str]) -> Tensor:
    """Each task's given main-network weights, flattened in the hypernetwork's output order
    (their BatchNorm running statistics are not used, as in the original)."""
    rows = []
    for task in tasks:
        state = _main_network_weights(paths[task])
        missing = [n for n in model.generated_shapes if n not in state]
        if missing:
            raise BadInputError(paths[task], f"lacks generated parameters {missing[:3]}")
        for name, shape in model.generated_shapes.items():
            if not torch.is_tensor(state[name]) or state[name].shape != shape:
                found = getattr(state[name], "shape", type(state[name]).__name__)
                raise BadInputError(
                    paths[task], f"{name} should have shape {tuple(shape)}, found {found}"
                )
        rows.append(torch.cat([state[n].reshape(-1).float() for n in model.generated_shapes]))
    return torch.stack(rows)


def _frozen_epochs(stage: str, own: dict[str, Any]) -> int:
    """Epochs in which only the task parameters train: all but the last in catch-up (the
    original's FreezeHNETShared(epochs - 1)), `freeze_hnet_shared_epochs` in generalization."""
    if stage == "train_catchup":
        return own["epochs"] - 1
    return own.get("freeze_hnet_shared_epochs", 0)


def train(
    data_dir: Path,
    run_dir: Path,
    settings: dict[str, Any],
    stage: str,
    previous: Path | None = None,
    task_weights: dict[str, str] | None = None,
) -> Path:
    """Run one training stage on the prepared store into `run_dir` (resumable) and write its
    export.pt (and, for train_generalization_task, one metrics.csv of all its tasks).

    `settings`: `tasks` (all the model serves), `model`, `seed`, optionally `preprocess`, and
    the stage's own section under `stage` (epochs, lr, ...). The model starts from
    `previous`'s export, or fresh; pretrain_weights regresses it onto the per-task
    main-network weights `task_weights`. train_generalization_task trains its tasks one after
    another, each in `run_dir/<task>` from the model the one before left.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; training stages are {', '.join(STAGES)}")
    trained = stage_tasks(settings, stage)
    if stage != "train_generalization_task":
        return _fit(data_dir, run_dir, settings, stage, trained, previous, task_weights)
    tables = []
    for task in trained:
        previous = _fit(data_dir, run_dir / task, settings, stage, [task], previous, None)
        tables.append(pd.read_csv(run_dir / task / "metrics.csv").assign(task=task))
    write_table(run_dir / "metrics.csv", pd.concat(tables, ignore_index=True))
    copy_file(previous, run_dir / "export.pt")
    return run_dir / "export.pt"


def _fit(
    data_dir: Path,
    run_dir: Path,
    settings: dict[str, Any],
    stage: str,
    trained: list[str],
    previous: Path | None,
    task_weights: dict[str, str] | None,
) -> Path:
    """One Lightning run of `stage` on the `trained` tasks; returns its export."""
    own, tasks = settings[stage], settings["tasks"]
    # Everything the stage computes from, its inputs by digest: a run with other settings or
    # a retrained predecessor starts fresh instead of resuming stale state.
    inputs = {"previous": previous and sha256_file(previous)}
    inputs |= {task: sha256_file(path) for task, path in (task_weights or {}).items()}
    hparams = {
        "stage": stage,
        "tasks": tasks,
        "trained": trained,
        "model": settings["model"],
        "preprocess": settings.get("preprocess", {}),
        "seed": settings["seed"],
        "inputs": inputs,
        "lr_decay": 1.0,
        "decay_epochs": [],
        "loss": "mse" if stage == "pretrain_weights" else "bce",
    } | own
    ids = [tasks.index(task) for task in trained]
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
            targets = _weights_targets(model, task_weights or {}, trained)
            pairs = TensorDataset(torch.tensor(ids), targets)
            batch = own.get("batch_size", 1)
            datamodule = L.LightningDataModule.from_datasets(pairs, pairs, batch_size=batch)
            module: L.LightningModule = WeightsRegression(model, hparams)
            callbacks: list[L.Callback] = []
        else:
            preprocess = MapProcessing(hparams["preprocess"])
            data_stage = own | {"workers": settings.get("workers", 0)}
            datamodule = MultitaskData(
                data_dir, trained, ids, data_stage, settings["seed"], preprocess
            )
            module = SaliencyModule(model, hparams)
            encoder, shared = own.get("freeze_encoder_epochs", 0), _frozen_epochs(stage, own)
            callbacks = [Freezing(encoder, shared)] if encoder or shared else []
            callbacks.append(MapsToTensorBoard())
        if own.get("checkpoint_every"):
            callbacks.append(periodic_checkpoints(run_dir, own["checkpoint_every"]))
        return recipe.Training(
            module, datamodule, own["epochs"], ("loss",), "loss", "min", callbacks, loggers
        )

    recipe.train(data_dir, run_dir, settings, build, hparams=hparams)
    [model] = models
    best = safe_torch_load(run_dir / "checkpoints" / "best.ckpt")["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in best.items()})
    export = run_dir / "export.pt"
    save_export(export, model, {k: settings[k] for k in ("tasks", "model")})
    return export
