"""The NeuroVis LightningModule: AlexnetMap with the double-log loss, CLS or GRASP accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from visionflow.engine.module import MetricModule, with_step_lr
from visionflow.metrics.grasp import class_accuracy, double_log_loss, grasp_accuracy


class MapModule(MetricModule):
    """AlexnetMap with the double-log loss; accuracy is CLS or GRASP accuracy by `task`.

    Training logs the loss of the training batches (train mode, as the original's train
    loss); each validation dataloader is scored in eval mode under its name in
    `eval_splits`. The one named "train" gives the train accuracy, as the original scores
    the training data in eval mode.
    """

    def __init__(
        self, model: nn.Module, hparams: dict[str, Any], eval_splits: Sequence[str] = ("val",)
    ) -> None:
        super().__init__(model, hparams)
        self.eval_splits = tuple(eval_splits)

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, float], int]:
        rgbd, target, labels, grasps = batch
        pred = self(rgbd).float()
        if self.hparams.task == "cls":
            accuracy = class_accuracy(pred.detach(), labels)
        else:
            candidates = [g[~torch.isnan(g[:, 0])].cpu().numpy() for g in grasps]
            accuracy = grasp_accuracy(pred.detach().cpu(), candidates)
        return double_log_loss(pred, target), {"accuracy": accuracy}, len(labels)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        rgbd, target = batch[:2]
        loss = double_log_loss(self(rgbd).float(), target)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(rgbd),
                 sync_dist=True)  # fmt: skip
        self.log("train_loss", loss, prog_bar=True, on_step=True, logger=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        split = self.eval_splits[dataloader_idx]
        loss, metrics, size = self.compute(batch)
        values = {f"{split}/{name}": torch.as_tensor(v) for name, v in metrics.items()}
        if split != "train":  # the train row's loss is that of the training batches
            values[f"{split}/loss"] = loss
        self.log_dict(values, on_step=False, on_epoch=True, batch_size=size, sync_dist=True,
                      add_dataloader_idx=False)  # fmt: skip

    def on_train_epoch_start(self) -> None:
        """Train the AlexNet layers too from `unfreeze_epoch` (1-based) on, as the original."""
        start = self.hparams.get("unfreeze_epoch")
        self.model.set_backbone_trainable(start is not None and self.current_epoch + 1 >= start)

    def configure_optimizers(self) -> dict[str, Any]:
        """Adam over every parameter (frozen ones get no gradient) and a per-epoch StepLR."""
        return with_step_lr(torch.optim.Adam(self.parameters(), lr=self.hparams.lr), self.hparams)
