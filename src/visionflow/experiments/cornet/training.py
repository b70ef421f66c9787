"""Training of CORnet-S100 on the prepared MiniImageNet store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torchvision.transforms import v2

from visionflow.data.miniimagenet import PackedImages
from visionflow.engine import recipe
from visionflow.engine.classifier import ImageClassifier
from visionflow.engine.datamodule import ImageDataModule
from visionflow.engine.sampling import SeededImageDataset
from visionflow.models.cornet import CORnetS100, load_cornet_weights


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
    seed = settings["seed"]

    def build(hparams: dict[str, Any]) -> recipe.Training:
        model = build_model(hparams)
        if settings.get("pretrained"):
            load_cornet_weights(model, settings["pretrained"])
        crop = settings["crop_size"]
        datamodule = ImageDataModule(
            SeededImageDataset(
                train_images, train_transform(crop, settings["min_crop_scale"]), seed
            ),
            SeededImageDataset(val_images, eval_transform(settings["resize_size"], crop), seed),
            batch_size=settings["batch_size"],
            workers=settings["workers"],
            seed=seed,
        )
        return recipe.Training(
            ImageClassifier(model, hparams),
            datamodule,
            settings["epochs"],
            ("loss", "top1", "top5"),
            best_by="top1",
        )

    return recipe.train(run_dir, settings, build, {"num_classes": train_images.num_classes})
