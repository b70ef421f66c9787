"""LightningModule for video classification: CE loss, top-1/top-5, AdamW in backbone/head groups.

The scheduler is SLR's: cosine annealing (with or without warm restarts), reduce-on-plateau
on the validation loss, or warm-up only, each optionally behind a linear warm-up, stepped
once per epoch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import lr_scheduler

from visionflow.engine.module import MetricModule
from visionflow.metrics.classification import topk_correct


def _warmup(optimizer: torch.optim.Optimizer, scheduler: dict[str, Any]) -> Any:
    return lr_scheduler.LinearLR(
        optimizer,
        start_factor=scheduler["start_factor"],
        end_factor=scheduler["end_factor"],
        total_iters=scheduler["warmup_epochs"],
    )


def _main_scheduler(optimizer: torch.optim.Optimizer, scheduler: dict[str, Any]) -> Any:
    kind = scheduler["type"]
    if kind == "CosineAnnealingLR":
        return lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=scheduler["tmax"], eta_min=scheduler["eta_min"]
        )
    if kind == "CosineAnnealingWarmRestarts":
        return lr_scheduler.CosineAnnealingWarmRestarts(
            optimizer, T_0=scheduler["t0"], T_mult=scheduler["tmult"], eta_min=scheduler["eta_min"]
        )
    if kind == "ReduceLROnPlateau":
        keys = ("mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr")
        return lr_scheduler.ReduceLROnPlateau(
            optimizer, eps=scheduler.get("eps", 1e-8), **{k: scheduler[k] for k in keys}
        )
    raise ValueError(f"unknown scheduler type {kind!r}")


def scheduler_config(
    optimizer: torch.optim.Optimizer, scheduler: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Lightning scheduler configs (per epoch) for an SLR `scheduler` entry; none if it is null."""
    if not scheduler:
        return []
    warm = "warmup_epochs" in scheduler
    if scheduler["type"] == "WarmOnly":
        return [{"scheduler": _warmup(optimizer, scheduler), "interval": "epoch"}]
    main = _main_scheduler(optimizer, scheduler)
    if isinstance(main, lr_scheduler.ReduceLROnPlateau):
        # Plateau scaling multiplies onto the ramp, so both can step side by side.
        plateau = {"scheduler": main, "interval": "epoch", "monitor": "val/loss"}
        ramp = [{"scheduler": _warmup(optimizer, scheduler), "interval": "epoch"}] if warm else []
        return [*ramp, plateau]
    if warm:
        main = lr_scheduler.SequentialLR(
            optimizer,
            [_warmup(optimizer, scheduler), main],
            milestones=[scheduler["warmup_epochs"]],
        )
    return [{"scheduler": main, "interval": "epoch"}]


class VideoClassifier(MetricModule):
    """`model` on uint8 clips (B, T, 3, H, W), normalised and laid out (B, 3, T, H, W) on device.

    `head` is the model's freshly sized classification head; it trains with the classifier
    learning rate and weight decay, everything else with the backbone's.
    """

    def __init__(
        self,
        model: nn.Module,
        head: nn.Module,
        hparams: dict[str, Any],
        norm: tuple[tuple[float, ...], tuple[float, ...]],
    ) -> None:
        super().__init__(model, hparams)
        self.head_ids = {id(p) for p in head.parameters()}
        self.loss = nn.CrossEntropyLoss()
        mean, std = (torch.tensor(v).view(1, 1, -1, 1, 1) * 255 for v in norm)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        clips, labels = batch
        clips = clips.float().sub_(self.mean).div_(self.std)
        return clips.permute(0, 2, 1, 3, 4).contiguous(), labels

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        clips, labels = batch
        logits = self(clips)
        top1, top5 = topk_correct(logits, labels, (1, 5)).float() / len(labels)
        return self.loss(logits.float(), labels), {"top1": top1, "top5": top5}, len(labels)

    def configure_optimizers(self) -> dict[str, Any] | tuple[list, list]:
        opt = self.hparams["optimizer"]
        head = [p for p in self.parameters() if id(p) in self.head_ids]
        backbone = [p for p in self.parameters() if id(p) not in self.head_ids]
        optimizer = torch.optim.AdamW(
            [
                {
                    "params": backbone,
                    "lr": opt["backbone_init_lr"],
                    "weight_decay": opt["backbone_weight_decay"],
                },
                {
                    "params": head,
                    "lr": opt["classifier_init_lr"],
                    "weight_decay": opt["classifier_weight_decay"],
                },
            ],
            eps=opt["eps"],
        )
        return [optimizer], scheduler_config(optimizer, self.hparams.get("scheduler"))
