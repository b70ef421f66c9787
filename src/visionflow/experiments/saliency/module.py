"""The saliency stages' LightningModules and callbacks: BCE of maps per task, regression onto
given weights, the frozen encoder, maps to TensorBoard."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from visionflow.engine.module import MetricModule


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
