"""Training of AlexnetMap on a prepared Jacquard store, for CLS or GRASP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from visionflow.data.jacquard.store import PackedJacquard
from visionflow.engine import recipe
from visionflow.engine.datamodule import ImageDataModule
from visionflow.experiments.grasp.data import JacquardTaskDataset, held_out_views
from visionflow.experiments.grasp.module import MapModule
from visionflow.io import BadInputError
from visionflow.models.grasp import AlexnetMap, load_alexnet_features

SCORED = ("val", "test", "train")  # the splits every epoch scores, in this order


def build_model(hparams: dict[str, Any]) -> AlexnetMap:
    """AlexnetMap with the configured dropout; AlexNet weights from a local file if given.

    A backbone that is unfrozen later (`unfreeze_epoch`) needs its ImageNet weights.
    """
    model = AlexnetMap(dropout=hparams["dropout"])
    weights = hparams.get("alexnet_weights")
    if hparams.get("unfreeze_epoch") is not None and not (weights and Path(weights).is_file()):
        raise BadInputError(
            weights or "grasp.alexnet_weights",
            "grasp.alexnet_weights must name torchvision's AlexNet state dict when"
            " grasp.unfreeze_epoch is set (the frozen layers are ImageNet's)",
        )
    load_alexnet_features(model, weights)
    return model


def datasets(data_dir: Path, settings: dict[str, Any]) -> dict[str, JacquardTaskDataset]:
    """The training part and the scored splits: the held-out part of the training split
    (`val_fraction` of its objects, if any), the test split and the training part itself."""
    train, test = PackedJacquard(data_dir, "train"), PackedJacquard(data_dir, "test")
    kept, held = held_out_views(train.rows["object_id"], settings["val_fraction"], settings["seed"])
    most = max(train.max_grasps, test.max_grasps)
    parts = {"train": JacquardTaskDataset(train, settings["task"], most, kept)}
    if len(held):
        parts["val"] = JacquardTaskDataset(train, settings["task"], most, held)
    parts["test"] = JacquardTaskDataset(test, settings["task"], most)
    return parts


def datamodule(parts: dict[str, JacquardTaskDataset], settings: dict[str, Any]) -> ImageDataModule:
    """Batches of the training part, then the scored splits (`SCORED` order) one after the
    other; the last training batch is kept whatever its size, as the original's loader."""
    return ImageDataModule(
        parts["train"],
        [parts[name] for name in SCORED if name in parts],
        batch_size=settings["batch_size"],
        workers=settings["workers"],
        seed=settings["seed"],
        batch_key="grasp.batch_size",
        drop_single_last=False,  # AlexnetMap has no BatchNorm
    )


def train(data_dir: Path, run_dir: Path, settings: dict[str, Any]) -> Path:
    """Train one task into `run_dir` (resumable); returns the final epoch's final.ckpt.

    Every epoch scores the held-out part, the test split and (in eval mode) the training
    part; the published model is the last epoch's, as the original reports it.
    """
    parts = datasets(data_dir, settings)
    scored = [name for name in SCORED if name in parts]

    def build(hparams: dict[str, Any]) -> recipe.Training:
        module = MapModule(build_model(hparams), hparams, eval_splits=scored)
        rows = ("train", *(name for name in scored if name != "train"))
        return recipe.Training(
            module, datamodule(parts, settings), settings["epochs"], ("loss", "accuracy"),
            best_by=None, splits=rows,
        )  # fmt: skip

    return recipe.train(data_dir, run_dir, settings, build)
