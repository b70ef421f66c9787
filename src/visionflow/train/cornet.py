"""The CORnet-100 experiment: S100 on the prepared MiniImageNet store."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
import yaml
from torchvision.transforms import v2

from visionflow.data.miniimagenet import PackedImages
from visionflow.io import BadInputError, safe_torch_load, write_text
from visionflow.models.cornet import CORnetS100, load_cornet_weights
from visionflow.train import engine
from visionflow.train.classifier import ImageClassifier
from visionflow.train.datamodule import ImageDataModule, eval_loader
from visionflow.train.sampling import SeededImageDataset

log = logging.getLogger(__name__)


def train_transform(crop_size: int, min_crop_scale: float) -> v2.Compose:
    """RandomResizedCrop + horizontal flip on uint8 images (normalised later, on the device)."""
    return v2.Compose(
        [
            v2.RandomResizedCrop(crop_size, scale=(min_crop_scale, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    )


def eval_transform(resize_size: int, crop_size: int) -> v2.Compose:
    """Resize (short side) + CenterCrop on uint8 images."""
    return v2.Compose([v2.Resize(resize_size, antialias=True), v2.CenterCrop(crop_size)])


def build_model(hparams: dict[str, Any]) -> CORnetS100:
    """S100 with the run's classes, feedback passes and width."""
    return CORnetS100(hparams["num_classes"], hparams["outer_times"], hparams["width"])


def train(data_dir: Path, run_dir: Path, settings: dict[str, Any]) -> Path:
    """Train one S100 run into `run_dir` (resumable); returns the published best.ckpt."""
    train_images = PackedImages(data_dir, "train")
    val_images = PackedImages(data_dir, "val")
    hparams = {k: v for k, v in settings.items() if k not in engine.EXECUTION_KEYS}
    hparams["num_classes"] = train_images.num_classes
    write_text(run_dir / "config.yaml", yaml.safe_dump(settings | hparams, sort_keys=True))

    L.seed_everything(settings["seed"], workers=True, verbose=False)
    model = build_model(hparams)
    if settings.get("pretrained"):
        load_cornet_weights(model, settings["pretrained"])
    seed = settings["seed"]
    datamodule = ImageDataModule(
        SeededImageDataset(
            train_images, train_transform(settings["crop_size"], settings["min_crop_scale"]), seed
        ),
        SeededImageDataset(
            val_images, eval_transform(settings["resize_size"], settings["crop_size"]), seed
        ),
        batch_size=settings["batch_size"],
        workers=settings["workers"],
        seed=seed,
    )
    module = ImageClassifier(model, hparams)
    return engine.fit(
        module,
        datamodule,
        run_dir,
        epochs=settings["epochs"],
        metrics=("loss", "top1", "top5"),
        best_by="top1",
        **engine.parallelism(settings),
    )


def test(
    ckpt: Path, data_dir: Path, split: str, batch_size: int, workers: int, **overrides: Any
) -> dict[str, float]:
    """top1/top5/loss of a checkpoint on a prepared split (the original `run.py test`).

    visionflow checkpoints carry their model settings; for an original CORnet file give
    `outer_times` and `width` in `overrides`.
    """
    images = PackedImages(data_dir, split)
    hparams = dict(safe_torch_load(ckpt).get("hyper_parameters", {}))
    hparams |= {k: v for k, v in overrides.items() if v is not None}
    hparams.setdefault("num_classes", images.num_classes)
    hparams.setdefault("width", 1.0)
    if "outer_times" not in hparams:
        raise BadInputError(ckpt, "no model settings stored; pass --outer-times (and --width)")
    if hparams["num_classes"] != images.num_classes:
        raise BadInputError(
            ckpt, f"trained for {hparams['num_classes']} classes, data has {images.num_classes}"
        )
    model = build_model(hparams)
    load_cornet_weights(model, ckpt)
    dataset = SeededImageDataset(
        images,
        eval_transform(hparams.get("resize_size", 256), hparams.get("crop_size", 224)),
        seed=0,
    )
    module = ImageClassifier(model, {})
    metrics = engine.evaluate(module, eval_loader(dataset, batch_size, workers))
    return metrics | {"samples": len(images), "checkpoint": str(ckpt), "split": split}
