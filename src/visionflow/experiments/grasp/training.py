"""Training of AlexnetMap on a prepared Jacquard store, for CLS or GRASP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionflow.engine import recipe
from visionflow.engine.datamodule import ImageDataModule
from visionflow.experiments.grasp.data import task_datasets
from visionflow.experiments.grasp.module import MapModule
from visionflow.models.grasp import AlexnetMap, load_alexnet_features


def build_model(hparams: dict[str, Any]) -> AlexnetMap:
    """AlexnetMap with the configured dropout; AlexNet weights from a local file if given."""
    model = AlexnetMap(dropout=hparams["dropout"])
    load_alexnet_features(model, hparams.get("alexnet_weights"))
    return model


def train(data_dir: Path, run_dir: Path, settings: dict[str, Any]) -> Path:
    """Train one task into `run_dir` (resumable); returns the final epoch's final.ckpt.

    The original reports its last epoch; every epoch is scored on the test split, so
    picking a "best" epoch by it would select on test data.
    """
    train_set, test_set = task_datasets(data_dir, settings["task"], ("train", "test"))

    def build(hparams: dict[str, Any]) -> recipe.Training:
        datamodule = ImageDataModule(
            train_set,
            test_set,
            batch_size=settings["batch_size"],
            workers=settings["workers"],
            seed=settings["seed"],
            batch_key="grasp.batch_size",
        )
        module = MapModule(build_model(hparams), hparams)
        return recipe.Training(
            module, datamodule, settings["epochs"], ("loss", "accuracy"), best_by=None
        )

    return recipe.train(run_dir, settings, build)
