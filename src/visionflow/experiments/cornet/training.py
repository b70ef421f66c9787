"""Training of a CORnet (S100 by default) on the prepared MiniImageNet store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torchvision.transforms import v2

from visionflow.data.miniimagenet import PackedImages
from visionflow.engine import recipe
from visionflow.engine.callbacks import PeriodicCheckpoint
from visionflow.engine.classifier import ImageClassifier
from visionflow.engine.datamodule import ImageDataModule
from visionflow.engine.sampling import SeededImageDataset
from visionflow.models.cornet_zoo import build, load_cornet_weights

# Settings that shape the model besides its name, width and classes (run.py --outer_times, --times).
MODEL_OPTIONS = ("outer_times", "times")


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


def build_model(hparams: dict[str, Any]) -> nn.Module:
    """The run's CORnet for its classes and width (and feedback passes or time steps)."""
    options = {k: hparams[k] for k in MODEL_OPTIONS if k in hparams}
    return build(hparams["model"], hparams["num_classes"], hparams["width"], **options)


def train(data_dir: Path, run_dir: Path, settings: dict[str, Any]) -> Path:
    """Train one CORnet run into `run_dir` (resumable); returns the published best.ckpt.

    With `save_model_epochs` k, checkpoints/checkpoint_<epoch>.ckpt is kept every k epochs.
    """
    train_images = PackedImages(data_dir, "train")
    val_images = PackedImages(data_dir, "val")
    seed = settings["seed"]
    derived = {"num_classes": train_images.num_classes}
    hparams = recipe.hyperparameters(settings, exclude=("save_model_epochs",)) | derived

    def build_run(hparams: dict[str, Any]) -> recipe.Training:
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
            batch_key="cornet.batch_size",
        )
        every = settings.get("save_model_epochs")
        callbacks = [PeriodicCheckpoint(run_dir / "checkpoints", every)] if every else []
        return recipe.Training(
            ImageClassifier(model, hparams),
            datamodule,
            settings["epochs"],
            ("loss", "top1", "top5"),
            best_by="top1",
            callbacks=callbacks,
        )

    return recipe.train(data_dir, run_dir, settings, build_run, derived, hparams)
