"""The saliency experiment's training stages: a hypernetwork over a MobileNetV2 saliency net
trained on several tasks at once, stage after stage, each exporting its model for the next."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from visionflow.data.saliency import SaliencyStore
from visionflow.io import BadInputError, safe_torch_load, save_torch, sha256_file, write_text
from visionflow.models.hypernet import HyperNetwork
from visionflow.models.saliency_net import SaliencyNet, load_imagenet_encoder
from visionflow.train import engine
from visionflow.train.module import MetricModule
from visionflow.train.multitask import MultitaskBatchSampler
from visionflow.train.sampling import loader_kwargs

STAGES = ("pretrain_weights", "pretrain_one_task", "train_catchup", "train")


def build_model(model: dict[str, Any], tasks: int, imagenet: bool = True) -> HyperNetwork:
    """The hypernetwork and main network a `model` config section describes; the encoder
    gets the ImageNet weights of `model.weights` unless `imagenet` is off (trained weights
    follow)."""
    net = SaliencyNet(model["encoder_cutoff"], model["decoder_channels"])
    if imagenet:
        load_imagenet_encoder(net.encoder, model.get("weights"))
    hnet = model["hnet"]
    return HyperNetwork(net, model["generated"], tasks, hnet["task_embedding"],
                        hnet["chunk_size"], hnet["chunk_embedding"], hnet["hidden"])  # fmt: skip


def save_export(path: Path, model: nn.Module, settings: dict[str, Any]) -> None:
    """The stage's model as weights plus the settings that rebuild it (loaded weights-only)."""
    save_torch(path, {"state_dict": model.state_dict(), "settings": settings})


def load_export(path: str | Path) -> tuple[HyperNetwork, dict[str, Any]]:
    """A stage's exported hypernetwork and its settings."""
    export = safe_torch_load(path)
    if not {"state_dict", "settings"} <= set(export):
        raise BadInputError(path, "not a saliency stage export (state_dict and settings)")
    settings = export["settings"]
    model = build_model(settings["model"], len(settings["tasks"]), imagenet=False)
    model.load_state_dict(export["state_dict"])
    return model, settings


class TaskMaps(Dataset):
    """(model task id, uint8 image, float map in [0, 1]) of the store's images that have the
    task's map; keys are the sampler's (task, position, epoch), task counting the store's."""

    def __init__(self, store: SaliencyStore, ids: Sequence[int]) -> None:
        self.store, self.ids = store, list(ids)
        self.indices = [np.flatnonzero(store.has[:, k]) for k in range(len(store.tasks))]

    def sizes(self) -> list[int]:
        return [len(i) for i in self.indices]

    def __len__(self) -> int:
        return sum(self.sizes())

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[int, Tensor, Tensor]:
        task, position, _ = key
        image, maps, _ = self.store[int(self.indices[task][position])]
        target = maps[self.store.tasks[task]].float().div_(255).unsqueeze(0)
        return self.ids[task], image, target


class SaliencyModule(MetricModule):
    """BCE of the predicted map, one task per batch; Adam over every parameter so that
    freezing callbacks can switch parts on and off. The original's LrDecay action is an
    epoch schedule: the rate is multiplied by `lr_decay` at each of `decay_epochs` (0-based)."""

    def forward(self, task: Tensor, x: Tensor) -> Tensor:
        return self.model(task, x)

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        task, images, target = batch
        logits = self(task, images)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target)
        return loss, {}, len(images)

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
        decay, epochs = self.hparams.lr_decay, self.hparams.decay_epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda epoch: decay ** sum(e <= epoch for e in epochs)
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": schedule, "interval": "epoch"},
        }


class WeightsRegression(MetricModule):
    """pretrain_weights: the hypernetwork's output for each task regressed (MSE) onto given
    per-task weights of the main network."""

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        tasks, targets = batch
        outputs = torch.stack([self.model.flat_weights(int(t)) for t in tasks])
        return F.mse_loss(outputs, targets), {}, len(tasks)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


class FreezeShared(L.Callback):
    """The original's FreezeEncoder: shared parameters under `prefix` frozen for the first
    `epochs` epochs. Decided from the epoch alone, so a resumed run agrees."""

    def __init__(self, prefix: str, epochs: int) -> None:
        self.prefix, self.epochs = prefix, epochs

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.model.freeze_shared(self.prefix, trainer.current_epoch < self.epochs)


class MapsToTensorBoard(L.Callback):
    """The original's RunProgressTracker: after each validation, the predicted maps of the
    first validation images of every task go to TensorBoard (images tab)."""

    def __init__(self, images: int = 4) -> None:
        self.images = images

    @torch.no_grad()
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        boards = [log for log in trainer.loggers if isinstance(log, TensorBoardLogger)]
        data = trainer.datamodule.val if boards and not trainer.sanity_checking else None
        if data is None:
            return
        for position, task_id in enumerate(data.ids):
            picked = data.indices[position][: self.images]
            images = torch.stack([data.store[int(i)][0] for i in picked]).to(pl_module.device)
            maps = torch.sigmoid(pl_module(task_id, images))
            task = data.store.tasks[position]
            boards[0].experiment.add_images(f"maps/{task}", maps, trainer.current_epoch)


class MultitaskData(L.LightningDataModule):
    """Training and validation batches of the stage's tasks from the prepared store."""

    def __init__(
        self, store_dir: Path, tasks: Sequence[str], ids: Sequence[int], stage: dict, seed: int
    ) -> None:
        super().__init__()
        self.train = TaskMaps(SaliencyStore(store_dir, "train", tasks), ids)
        self.val = TaskMaps(SaliencyStore(store_dir, "val", tasks), ids)
        self.stage, self.seed = stage, seed

    def _loader(self, data: TaskMaps, batches: int, consecutive: int, train: bool) -> DataLoader:
        sampler = MultitaskBatchSampler(data.sizes(), self.stage["batch_size"], batches,
                                        consecutive, self.seed, shuffle=train)  # fmt: skip
        return DataLoader(data, batch_sampler=sampler, **loader_kwargs(self.stage["workers"]))

    def train_dataloader(self) -> DataLoader:
        consecutive = self.stage["consecutive_batches_per_task"]
        return self._loader(self.train, self.stage["batches_per_task_train"], consecutive, True)

    def val_dataloader(self) -> DataLoader:
        # Validation order does not change its mean loss: one task after another.
        return self._loader(self.val, self.stage["batches_per_task_val"], 1, False)


def wandb_logger(run_dir: Path, wandb: dict[str, Any] | None) -> list[Logger]:
    """A Weights & Biases logger when `wandb.project` is set (offline unless `mode: online`:
    `wandb sync` uploads later); none otherwise."""
    if not wandb or not wandb.get("project"):
        return []
    if importlib.util.find_spec("wandb") is None:
        raise BadInputError("saliency.wandb", "a project is set but wandb is not installed")
    name = f"{run_dir.parent.name}-{run_dir.name}"
    return [WandbLogger(project=wandb["project"], name=name, save_dir=run_dir / "logs",
                        offline=wandb.get("mode", "offline") != "online")]  # fmt: skip


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


def train_stage(
    stage: str,
    store_dir: Path,
    run_dir: Path,
    settings: dict[str, Any],
    previous: Path | None = None,
    task_weights: dict[str, str] | None = None,
) -> Path:
    """Run one training stage into `run_dir` (resumable) and write its export.pt.

    `settings`: `tasks` (all the model serves), `model`, `seed` and the stage's own section
    under `stage` (epochs, lr, ...). The model starts from `previous`'s export, or fresh.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; training stages are {', '.join(STAGES)}")
    own = settings[stage]
    tasks = settings["tasks"]
    write_text(run_dir / "config.yaml", yaml.safe_dump(settings, sort_keys=True))
    L.seed_everything(settings["seed"], workers=True, verbose=False)
    if previous is None:
        model = build_model(settings["model"], len(tasks))
    else:
        model, before = load_export(previous)
        if before["tasks"] != tasks or before["model"] != settings["model"]:
            raise BadInputError(previous, "exported for other tasks or another model")
    # Everything the stage computes from, its inputs by digest: a run with other settings or
    # a retrained predecessor starts fresh instead of resuming stale state.
    inputs = {"previous": previous and sha256_file(previous)}
    inputs |= {task: sha256_file(path) for task, path in (task_weights or {}).items()}
    hparams = {"stage": stage, "tasks": tasks, "model": settings["model"],
               "seed": settings["seed"], "inputs": inputs,
               "lr_decay": 1.0, "decay_epochs": []} | own  # fmt: skip
    callbacks: list[L.Callback] = []
    if stage == "pretrain_weights":
        targets = _weights_targets(model, task_weights or {}, tasks)
        pairs = TensorDataset(torch.arange(len(tasks)), targets)
        datamodule = L.LightningDataModule.from_datasets(pairs, pairs, batch_size=len(tasks))
        module: MetricModule = WeightsRegression(model, hparams)
    else:
        trained = [own["task"]] if stage == "pretrain_one_task" else tasks
        if not set(trained) <= set(tasks):
            raise ValueError(f"{stage}: task {own['task']!r} is not one of {tasks}")
        data_stage = own | {"workers": settings.get("workers", 0)}
        ids = [tasks.index(task) for task in trained]
        datamodule = MultitaskData(store_dir, trained, ids, data_stage, settings["seed"])
        if stage == "train_catchup":
            model.freeze_for_catchup()
        elif own.get("freeze_encoder_epochs") and model.shared_parameters("encoder"):
            callbacks.append(FreezeShared("encoder", own["freeze_encoder_epochs"]))
        if own.get("checkpoint_every"):
            callbacks.append(periodic_checkpoints(run_dir, own["checkpoint_every"]))
        callbacks.append(MapsToTensorBoard())
        module = SaliencyModule(model, hparams)
    engine.fit(module, datamodule, run_dir, epochs=own["epochs"], metrics=("loss",),
               best_by="loss", best_mode="min", callbacks=callbacks,
               loggers=wandb_logger(run_dir, settings.get("wandb")))  # fmt: skip
    best = safe_torch_load(run_dir / "checkpoints" / "best.ckpt")["state_dict"]
    model.load_state_dict({k.removeprefix("model."): v for k, v in best.items()})
    export = run_dir / "export.pt"
    save_export(export, model, {k: settings[k] for k in ("tasks", "model")})
    return export
