"""What a run prints: Lightning's progress bar in a terminal, one line per epoch in a log
file; Lightning's messages once, without its advertising tips, a parameter count without
FLOPs it never measured, and no known deprecation warnings of dependencies."""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities.model_summary import get_human_readable_count

log = logging.getLogger(__name__)

# (message regex, module regex) of warnings dependencies raise about each other or about
# choices made on purpose; each is filtered for that message from that module only.
KNOWN_WARNINGS = (
    # torch deprecated LeafSpec; Lightning 2.6 still builds one for every batch.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", r"lightning\.pytorch\.utilities"),
    # The modules augment on the device in on_after_batch_transfer, on purpose.
    (r"You have overridden `on_after_batch_transfer`", r"lightning\.pytorch\.trainer"),
    # On a machine with SLURM installed, every run is told to use srun, once per trainer;
    # a workflow job is one process whose devices Lightning starts itself.
    (r"The `srun` command is available", r"lightning\.fabric\.plugins\.environments\.slurm"),
)
TIP = "💡 Tip:"


def interactive() -> bool:
    """Whether a person watches the run in a terminal (a progress bar is then readable)."""
    return sys.stderr.isatty()


def quiet_dependencies() -> None:
    """Print each Lightning message once and drop its tips and the known warnings."""
    if logging.getLogger().handlers:
        # Lightning adds its own handler besides propagating to ours: every line twice.
        logging.getLogger("lightning").handlers.clear()
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTips) for f in logger.filters):
            logger.addFilter(_NoTips())
    for message, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)


class _NoTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TIP)


def callbacks(metrics: Sequence[str]) -> list[L.Callback]:
    """The parameter count, and one line per epoch where no progress bar is shown."""
    return [ParameterCount()] + ([] if interactive() else [EpochLines(metrics)])


def trainer_flags() -> dict[str, bool]:
    """Trainer arguments: the progress bar only in a terminal; Lightning's own model summary
    off (ParameterCount replaces it)."""
    return {"enable_progress_bar": interactive(), "enable_model_summary": False}


class ParameterCount(ModelSummary):
    """The model's top-level modules and parameter counts, in one line."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = dict(summary_data)
        modules = ", ".join(
            f"{name} ({kind}, {count.strip()})"
            for name, kind, count in zip(
                columns["Name"], columns["Type"], columns["Params"], strict=True
            )
        )
        frozen = total_parameters - trainable_parameters
        log.info(
            "%s; %s trainable and %s frozen parameters, %.1f MB",
            modules,
            get_human_readable_count(trainable_parameters).strip(),
            get_human_readable_count(frozen).strip(),
            model_size,
        )


class EpochLines(L.Callback):
    """Logs, after every epoch, its train and val metrics, how long it took and the time
    the remaining epochs will take at the average pace so far (validation before training
    gets a line of its own)."""

    def __init__(self, metrics: Sequence[str]) -> None:
        self.metrics = tuple(metrics)
        self._started = 0.0
        self._durations: list[float] = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == TrainerFn.VALIDATING and trainer.is_global_zero:
            log.info("before training: val %s", self._values(trainer, "val"))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self._durations.append(time.perf_counter() - self._started)
        done = trainer.current_epoch + 1
        remaining = trainer.max_epochs - done
        average = sum(self._durations) / len(self._durations)
        log.info(
            "epoch %d/%d: train %s | val %s | %s, ETA %s",
            done,
            trainer.max_epochs,
            self._values(trainer, "train"),
            self._values(trainer, "val"),
            duration(self._durations[-1]),
            duration(average * remaining),
        )

    def _values(self, trainer: L.Trainer, split: str) -> str:
        found = trainer.callback_metrics
        return " ".join(
            f"{name} {float(found[f'{split}/{name}']):.4g}"
            for name in self.metrics
            if f"{split}/{name}" in found
        )


def duration(seconds: float) -> str:
    """`seconds` for a person: 42 s, 3 min 05 s, 2 h 07 min."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
