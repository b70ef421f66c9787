"""The NeuroVis LightningModule: AlexnetMap with the double-log loss, CLS or GRASP accuracy."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from visionflow.engine.module import MetricModule, with_step_lr
from visionflow.metrics.grasp import class_accuracy, double_log_loss, grasp_accuracy


class MapModule(MetricModule):
    """AlexnetMap with the double-log loss; accuracy is CLS or GRASP accuracy by `task`."""

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, float], int]:
        rgbd, target, labels, grasps = batch
        pred = self(rgbd).float()
        if self.hparams.task == "cls":
            accuracy = class_accuracy(pred.detach(), labels)
        else:
            candidates = [g[~torch.isnan(g[:, 0])].cpu().numpy() for g in grasps]
            accuracy = grasp_accuracy(pred.detach().cpu(), candidates)
        return double_log_loss(pred, target), {"accuracy": accuracy}, len(labels)

    def on_train_epoch_start(self) -> None:
        """Train the AlexNet layers too from `unfreeze_epoch` (1-based) on, as the original."""
        start = self.hparams.get("unfreeze_epoch")
        self.model.set_backbone_trainable(start is not None and self.current_epoch + 1 >= start)

    def configure_optimizers(self) -> dict[str, Any]:
        """Adam over every parameter (frozen ones get no gradient) and a per-epoch StepLR."""
        return with_step_lr(torch.optim.Adam(self.parameters(), lr=self.hparams.lr), self.hparams)
