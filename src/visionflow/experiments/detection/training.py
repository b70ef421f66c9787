"""Training of a detector variant, and the Optuna search of its optimiser settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import pandas as pd
from lightning.pytorch.callbacks import EarlyStopping
from torch import nn

from visionflow.engine import hpo, recipe
from visionflow.engine.datamodule import ImageDataModule
from visionflow.experiments.detection import SEARCH_SPACE
from visionflow.experiments.detection.frames import DetectionFrames, collate, prepared, split_frames
from visionflow.experiments.detection.module import Detector
from visionflow.io import BadInputError
from visionflow.models.detection import build_detector, loss_names
from visionflow.settings import EXECUTION_KEYS

# Keys of a run's settings that set the model, the rest set optimisation and data.
MODEL_KEYS = ("backbone", "num_classes", "image_size", "trainable_layers")


def build_model(hparams: dict[str, Any], weights: str | None = None) -> nn.Module:
    """The detector a run's settings describe."""
    return build_detector(
        hparams["backbone"],
        hparams["num_classes"],
        hparams["image_size"],
        weights,
        hparams["trainable_layers"],
        hparams.get("max_image_size"),
    )


def train(
    data_dir: Path,
    run_dir: Path,
    settings: dict[str, Any],
    root: Path,
    callbacks: Sequence[L.Callback] = (),
) -> Path:
    """Train one detector on a prepared CVAT store (frames under the raw `root`) into
    `run_dir` (resumable); returns the published best.ckpt.

    `settings` hold the model keys, the optimiser's (lr, momentum, weight_decay, step_size,
    gamma), epochs, batch sizes, seed and, optionally, max_plateau_count for early stopping.
    """
    table, split_table, labels = prepared(data_dir)
    derived = {"num_classes": len(labels)}
    hparams = recipe.hyperparameters(settings, exclude=("weights",)) | derived
    seed = settings["seed"]

    def build(hparams: dict[str, Any]) -> recipe.Training:
        train_frames = split_frames(table, split_table, "train")
        photometric = settings.get("photometric_distort", False)
        train = DetectionFrames(train_frames, root, labels, seed, photometric)
        val = DetectionFrames(split_frames(table, split_table, "val"), root, labels)
        if not len(train) or not len(val):
            raise BadInputError(
                data_dir / "split" / "split.csv",
                f"{len(train)} train and {len(val)} val frames; need both",
            )
        datamodule = ImageDataModule(
            train,
            val,
            batch_size=settings["batch_size"],
            workers=settings["workers"],
            seed=seed,
            collate_fn=collate,
            batch_key="detection.batch_size",
        )
        stopping = []
        if settings.get("max_plateau_count"):
            patience = settings["max_plateau_count"]
            stopping = [EarlyStopping(monitor="val/loss", mode="min", patience=patience)]
        module = Detector(build_model(hparams, settings.get("weights")), hparams)
        return recipe.Training(
            module,
            datamodule,
            settings["epochs"],
            ("loss", *loss_names(hparams["backbone"])),
            best_by="loss",
            best_mode="min",
            callbacks=[*stopping, *callbacks],
        )

    return recipe.train(data_dir, run_dir, settings, build, derived, hparams)


def search(
    data_dir: Path, hpo_dir: Path, settings: dict[str, Any], root: Path, job: int, jobs: int
) -> list[dict[str, Any]]:
    """Run search job `job` of `jobs`: trials of the variant's study, each training
    `search_epochs` into hpo/trial<N>/ and scored by its lowest validation loss."""
    search = settings["hpo"]
    seed = settings["seed"] * 1000 + job
    study = hpo.open_study(
        hpo_dir / "study.journal", study_name(settings), search["num_initial_data_points"], seed
    )
    run_settings = {k: v for k, v in settings.items() if k != "hpo"}
    run_settings |= {"epochs": search["search_epochs"], "max_plateau_count": None}

    def objective(trial: optuna.Trial, params: dict[str, Any]) -> float:
        run_dir = hpo_dir / f"trial{trial.number:03d}"
        pruning = hpo.PruningCallback(trial)
        train(data_dir, run_dir, run_settings | params, root, [pruning])
        history = pd.read_csv(run_dir / "metrics.csv")
        trained = history[(history["split"] == "val") & (history["epoch"] > 0)]
        return float(trained["loss"].min())

    return hpo.run_worker(
        study, objective, SEARCH_SPACE, search["parameters"], search["max_num_trials"], job, jobs
    )


def study_name(settings: dict[str, Any]) -> str:
    """The study of a variant's search settings (and everything else its trials train with)."""
    computed = {k: v for k, v in settings.items() if k not in EXECUTION_KEYS}
    return hpo.study_name(settings["variant"], computed)


def optimal(hpo_dir: Path, settings: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """The best settings of a variant's finished study (the original's optimal_hpo_settings)
    and its trial table."""
    study = hpo.open_study(
        hpo_dir / "study.journal",
        study_name(settings),
        settings["hpo"]["num_initial_data_points"],
        settings["seed"],
    )
    return hpo.optimal_settings(study), hpo.trials_table(study)
