"""The training recipe every experiment shares: record the settings, seed, build, fit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import yaml
from lightning.pytorch.loggers import Logger

from visionflow.engine.trainer import data_fingerprint, fit, parallelism
from visionflow.io import write_text
from visionflow.settings import EXECUTION_KEYS, PRECISIONS


@dataclass
class Training:
    """What an experiment builds for one run: module, data and how `fit` judges the epochs."""

    module: L.LightningModule
    datamodule: L.LightningDataModule
    epochs: int
    metrics: Sequence[str]
    best_by: str | None
    best_mode: str = "max"
    callbacks: Sequence[L.Callback] = ()
    loggers: Sequence[Logger] = ()
    accumulate_grad_batches: int = 1
    splits: Sequence[str] = ("train", "val")  # the rows of each epoch in metrics.csv


def hyperparameters(settings: dict[str, Any], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The settings a run computes from: all but the execution keys and `exclude`."""
    return {k: v for k, v in settings.items() if k not in (*EXECUTION_KEYS, *exclude)}


def train(
    data_dir: Path,
    run_dir: Path,
    settings: dict[str, Any],
    build: Callable[[dict[str, Any]], Training],
    derived: dict[str, Any] | None = None,
    hparams: dict[str, Any] | None = None,
) -> Path:
    """Train one run on the prepared store `data_dir` into `run_dir` (resumable over the same
    settings and store); returns the published checkpoint.

    Writes config.yaml (the settings and the `derived` values, such as the class count),
    seeds every generator with `settings["seed"]`, then `build`s the run from its
    hyperparameters (`hparams`, by default the settings without execution keys plus
    `derived`; always with the `precision` setting, fp32 by default) and fits it with the
    parallelism and precision the settings ask for.
    """
    derived = derived or {}
    if hparams is None:
        hparams = hyperparameters(settings) | derived
    hparams = hparams | {"precision": settings.get("precision", PRECISIONS[0])}
    write_text(run_dir / "config.yaml", yaml.safe_dump(settings | derived, sort_keys=True))
    L.seed_everything(settings["seed"], workers=True, verbose=False)
    plan = build(hparams)
    return fit(
        plan.module,
        plan.datamodule,
        run_dir,
        data=data_fingerprint(data_dir),
        epochs=plan.epochs,
        metrics=plan.metrics,
        best_by=plan.best_by,
        best_mode=plan.best_mode,
        callbacks=plan.callbacks,
        loggers=plan.loggers,
        accumulate_grad_batches=plan.accumulate_grad_batches,
        precision=hparams["precision"],
        splits=plan.splits,
        **parallelism(settings),
    )


def run_history(run_dirs: Sequence[Path], label: Callable[[dict], str]) -> dict[str, pd.DataFrame]:
    """metrics.csv of each trained run directory, keyed by `label` of its config.yaml settings."""
    runs = {}
    for run_dir in map(Path, run_dirs):
        settings = yaml.safe_load((run_dir / "config.yaml").read_text())
        runs[label(settings)] = pd.read_csv(run_dir / "metrics.csv")
    return runs
