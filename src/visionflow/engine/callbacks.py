"""Callbacks shared by every experiment."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from visionflow.io import write_table

DATA_KEY = "data_fingerprint"  # the checkpoint entry DataFingerprint writes


class CsvRowsWriter(L.Callback):
    """Keeps rows of a CSV file at `path` in the checkpoint and writes them (rank zero), so a
    resumed run rewrites exactly the rows of the epochs it kept and continues from there."""

    def __init__(self, path: str | Path, columns: Sequence[str] | None = None) -> None:
        self.path = Path(path)
        self.columns = None if columns is None else list(columns)
        self.rows: list[dict[str, Any]] = []

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state_dict["rows"]]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # A resumed run's rows, at once: a killed job's outputs are gone, and a run that
        # had finished its epochs records nothing more.
        if self.rows:
            self._write(trainer)

    def _write(self, trainer: L.Trainer) -> None:
        if trainer.is_global_zero:
            write_table(self.path, pd.DataFrame(self.rows, columns=self.columns))


class EpochMetricsWriter(CsvRowsWriter):
    """Writes metrics.csv, one row per epoch and split; epoch 0 is validation before training.

    Columns: epoch, split, the logged `metrics` (`<split>/<name>`), the lr the epoch trained
    with, duration. `splits` are the rows of an epoch (epoch 0: all but train).
    """

    def __init__(
        self, path: str | Path, metrics: Sequence[str], splits: Sequence[str] = ("train", "val")
    ) -> None:
        self.metrics, self.splits = tuple(metrics), tuple(splits)
        super().__init__(path, ["epoch", "split", *self.metrics, "lr", "duration"])
        self._started: dict[str, float] = {}
        self._durations: dict[str, float] = {}
        self._lr = float("nan")

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Read now: epoch-interval schedulers step before on_train_epoch_end runs.
        self._lr = trainer.optimizers[0].param_groups[0]["lr"]
        self._started["train"] = time.perf_counter()

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        now = time.perf_counter()
        if "train" in self._started:
            self._durations["train"] = now - self._started.pop("train")
        self._started["val"] = now

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._durations["val"] = time.perf_counter() - self._started.pop("val")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING:
            self._record(trainer, 0, [s for s in self.splits if s != "train"])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record(trainer, trainer.current_epoch + 1, list(self.splits))

    def _record(self, trainer: L.Trainer, epoch: int, splits: list[str]) -> None:
        metrics = trainer.callback_metrics
        lr = self._lr if epoch > 0 else float("nan")
        self.rows = [r for r in self.rows if r["epoch"] < epoch]
        for split in splits:
            row = {"epoch": epoch, "split": split, "lr": lr}
            row |= {k: float(metrics[f"{split}/{k}"]) for k in self.metrics}
            row["duration"] = self._durations.get(split, float("nan"))
            self.rows.append(row)
        self._write(trainer)


class StepWindowLogger(CsvRowsWriter):
    """Every `every` optimizer steps, the sample-weighted means of the training loss and
    metrics over the batches since the previous row (reset when an epoch starts): to the
    loggers as `train_step/<name>` and to `path` (step, epoch, samples, names), written at
    the end of each epoch.

    The module's training_step returns {"loss", "values": {name: value}, "size"}.
    """

    def __init__(self, path: str | Path, every: int = 10) -> None:
        super().__init__(path)
        self.every = every
        self._sums: dict[str, float] = {}
        self._samples = 0
        self._step = 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._sums, self._samples, self._step = {}, 0, trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        size = int(outputs["size"])
        for name, value in outputs["values"].items():
            self._sums[name] = self._sums.get(name, 0.0) + float(value) * size
        self._samples += size
        stepped, self._step = trainer.global_step != self._step, trainer.global_step
        if stepped and self._step % self.every == 0:
            means = {name: total / self._samples for name, total in self._sums.items()}
            for logger in trainer.loggers:
                logger.log_metrics({f"train_step/{k}": v for k, v in means.items()}, self._step)
            row = {"step": self._step, "epoch": trainer.current_epoch + 1}
            self.rows.append(row | {"samples": self._samples} | means)
            self._sums, self._samples = {}, 0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Once an epoch, not at every row: the file grows through the whole run.
        if self.rows:
            self._write(trainer)


class RngStateKeeper(L.Callback):
    """Stores the torch RNG states in every checkpoint and restores them on resume.

    Data order and augmentation have their own per-epoch seeds; this keeps the stream
    that layers such as dropout draw from continuous across an interruption.
    """

    def state_dict(self) -> dict[str, Any]:
        state = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["cpu"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class DataFingerprint(L.Callback):
    """Writes the training data's fingerprint into every checkpoint (`DATA_KEY`), so a restart
    resumes only over the data the checkpoint was trained on."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[DATA_KEY] = self.fingerprint


class PeriodicCheckpoint(Checkpoint):
    """Keeps `checkpoint_<epoch>.ckpt` (epochs counted from 1) every `every` epochs, after the
    last epoch and when training stops early.

    As a Checkpoint, Lightning runs it after EarlyStopping has had its say for the epoch.
    """

    def __init__(self, dirpath: str | Path, every: int) -> None:
        self.dirpath, self.every = Path(dirpath), every

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every == 0 or epoch == trainer.max_epochs or trainer.should_stop:
            trainer.save_checkpoint(self.dirpath / f"checkpoint_{epoch:03d}.ckpt")


class EpochCountCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose `{epoch}` in file names counts finished epochs (from 1), as
    metrics.csv and PeriodicCheckpoint do; Lightning's own counts from 0."""

    def format_checkpoint_name(
        self,
        metrics: dict[str, Any],
        filename: str | None = None,
        ver: int | None = None,
        prefix: str | None = None,
    ) -> str:
        counted = {**metrics, "epoch": metrics["epoch"] + 1} if "epoch" in metrics else metrics
        return super().format_checkpoint_name(counted, filename, ver, prefix)
