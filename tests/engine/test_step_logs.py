"""Step-level training logs: window means every N optimizer steps (SLR logs every 10, as the
original logged to wandb)."""

import lightning as L
import pandas as pd
import pytest
import torch
from lightning.pytorch.loggers import Logger
from torch.utils.data import DataLoader

from visionflow.engine.callbacks import StepWindowLogger
from visionflow.engine.module import MetricModule


class Numbered(MetricModule):
    """A module whose loss on batch i is i and whose top-1 is 1 on even batches."""

    def compute(self, batch):
        value = batch.float().mean()
        loss = value + 0 * self.model.weight.sum()
        return loss, {"top1": (batch % 2 == 0).float().mean()}, len(batch)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


class Recorder(Logger):
    """Keeps every (step, metrics) it is given."""

    name, version = "recorder", 0

    def __init__(self):
        super().__init__()
        self.logged = []

    def log_hyperparams(self, params):
        pass

    def log_metrics(self, metrics, step):
        self.logged.append((step, metrics))


def test_step_logs_average_the_window_every_n_optimizer_steps(tmp_path):
    recorder = Recorder()
    trainer = L.Trainer(
        max_epochs=2,
        accumulate_grad_batches=2,  # 13 batches: steps after batch 2, 4, ..., 12 and 13
        callbacks=[StepWindowLogger(tmp_path / "steps.csv", every=3)],
        logger=[recorder],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    batches = DataLoader(torch.arange(13), batch_size=1)
    trainer.fit(Numbered(torch.nn.Linear(1, 1), {}), train_dataloaders=batches)
    rows = pd.read_csv(tmp_path / "steps.csv").to_dict("records")
    # Epoch 1 makes steps 1-7; the window restarts with epoch 2 (steps 8-14 after its
    # batches 2, 4, ...), so step 9 covers its batches 0-3 and step 12 its batches 4-9.
    assert rows == [
        {"step": 3, "epoch": 1, "samples": 6, "loss": 2.5, "top1": 0.5},
        {"step": 6, "epoch": 1, "samples": 6, "loss": 8.5, "top1": 0.5},
        {"step": 9, "epoch": 2, "samples": 4, "loss": 1.5, "top1": 0.5},
        {"step": 12, "epoch": 2, "samples": 6, "loss": 6.5, "top1": 0.5},
    ]
    steps = [(step, metrics) for step, metrics in recorder.logged if "train_step/loss" in metrics]
    assert [step for step, _ in steps] == [3, 6, 9, 12]
    assert steps[1][1] == {"train_step/loss": pytest.approx(8.5), "train_step/top1": 0.5}
