"""The saliency stages' LightningModules and callbacks: a loss of maps per task, regression onto
given weights, the freezing schedules, maps to TensorBoard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torch import Tensor

from visionflow.engine.module import MetricModule

Loss = Callable[[Tensor, Tensor], Tensor]
# The original's BCELoss, L1Loss, MSELoss and HuberLoss (torch defaults: mean, delta 1).
REGRESSION: dict[str, Loss] = {"l1": F.l1_loss, "mse": F.mse_loss, "huber": F.huber_loss}


def map_loss(name: str, logits: Tensor, target: Tensor) -> Tensor:
    """The stage's loss of predicted maps: BCE on logits (deviation 5), the regression losses
    on the sigmoid probabilities the original's model outputs."""
    if name == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    return REGRESSION[name](torch.sigmoid(logits), target)


class _Adam(MetricModule):
    """Adam over every parameter (freezing callbacks switch parts on and off). The original's
    LrDecay action is an epoch schedule: the rate is multiplied by `lr_decay` at each of
    `decay_epochs` (0-based)."""

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


class SaliencyModule(_Adam):
    """The stage's loss (`loss`) of the predicted map, one task per batch."""

    def forward(self, task: Tensor, x: Tensor) -> Tensor:
        return self.model(task, x)

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        task, images, target = batch
        loss = map_loss(self.hparams.loss, self(task, images).float(), target)
        return loss, {}, len(images)


class WeightsRegression(_Adam):
    """pretrain_weights: the hypernetwork's output for each task regressed (`loss`, the
    original's MSELoss by default) onto given per-task weights of the main network."""

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        tasks, targets = batch
        outputs = torch.stack([self.model.flat_weights(int(t)) for t in tasks])
        return REGRESSION[self.hparams.loss](outputs, targets), {}, len(tasks)


class Freezing(L.Callback):
    """The original's FreezeEncoder and FreezeHNETShared: the shared encoder frozen for the
    first `encoder_epochs` epochs, everything but the task parameters for the first
    `shared_epochs`. Decided from the epoch alone, so a resumed run agrees."""

    def __init__(self, encoder_epochs: int, shared_epochs: int) -> None:
        self.encoder_epochs, self.shared_epochs = encoder_epochs, shared_epochs

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        model, epoch = pl_module.model, trainer.current_epoch
        model.freeze_for_catchup(epoch < self.shared_epochs)
        if epoch < self.encoder_epochs and model.shared_parameters("encoder"):
            model.freeze_shared("encoder")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.model.freeze_for_catchup(False)


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
