"""LightningModule base of every experiment: logging of per-batch metrics, per-epoch StepLR."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn


class MetricModule(L.LightningModule):
    """Wraps `model`; `hparams` (plain values) go into every checkpoint and set the optimiser.

    Subclasses implement `compute(batch) -> (loss, {name: value}, batch size)`; this logs
    `<split>/loss` and `<split>/<name>` as epoch means, the names metrics.csv reads.
    """

    def __init__(self, model: nn.Module, hparams: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.save_hyperparameters(hparams)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor | float], int]:
        raise NotImplementedError

    def _step(self, batch: Any, split: str) -> dict[str, Any]:
        loss, metrics, size = self.compute(batch)
        values = {f"{split}/loss": loss}
        values |= {f"{split}/{name}": torch.as_tensor(v) for name, v in metrics.items()}
        self.log_dict(values, on_step=False, on_epoch=True, batch_size=size, sync_dist=True)
        self.log(f"{split}_loss", loss, prog_bar=True, on_step=split == "train", logger=False)
        batch_values = {"loss": loss, **metrics}
        detached = {name: torch.as_tensor(v).detach() for name, v in batch_values.items()}
        return {"loss": loss, "values": detached, "size": size}

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        """The loss, with the batch's loss and metrics and its size for step-level logs."""
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")


def with_step_lr(optimizer: torch.optim.Optimizer, hparams: Any) -> dict[str, Any]:
    """Lightning's optimiser config: `optimizer` with StepLR(step_size, gamma) every epoch."""
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=hparams.step_size, gamma=hparams.gamma
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
