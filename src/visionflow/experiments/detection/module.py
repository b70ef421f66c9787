"""The detection LightningModule: a detector trained with SGD + StepLR on its summed losses."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from visionflow.engine.module import MetricModule, with_step_lr


def _losses_mode(model: nn.Module) -> None:
    """Training mode, which makes torchvision detectors return losses, but BatchNorm in eval."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


class Detector(MetricModule):
    """A detector trained with SGD + StepLR on the sum of its losses (models.detection).

    Validation computes the same losses (torchvision only returns them in training mode)
    with BatchNorm statistics left untouched, as the original judged its runs by them.
    """

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        images, targets = batch
        if not self.training:
            _losses_mode(self.model)
        losses = self.model(images, targets)
        if not self.training:
            self.model.eval()
        total = sum(losses.values())
        return total, {name: value.detach() for name, value in losses.items()}, len(images)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        parameters = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(
            parameters, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
        )
        return with_step_lr(optimizer, hp)
