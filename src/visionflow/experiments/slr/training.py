"""Training of a torchvision video classifier on one prepared WLASL split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping

from visionflow.data.wlasl import PackedClips
from visionflow.engine import recipe
from visionflow.engine.callbacks import PeriodicCheckpoint
from visionflow.engine.datamodule import ImageDataModule
from visionflow.engine.sampling import SeededImageDataset
from visionflow.experiments.slr.clips import ClipSource, eval_transform, train_transform
from visionflow.experiments.slr.module import VideoClassifier
from visionflow.io import BadInputError, write_json
from visionflow.models import video

log = logging.getLogger(__name__)


def build_model(hparams: dict[str, Any]) -> Any:
    """The run's architecture with its head sized to the split (Kinetics weights if given)."""
    return video.build(
        hparams["model"],
        hparams["num_classes"],
        hparams["model_params"].get("drop_p"),
        hparams.get("pretrained"),
    )


def train(data_dir: Path, run_dir: Path, settings: dict[str, Any]) -> Path:
    """Train one SLR run into `run_dir` (resumable); returns best.ckpt (lowest val loss).

    Also writes data_info.json (frames and crop size, what testing needs), config.yaml and
    checkpoint_<epoch>.ckpt every `save_every` epochs.
    """
    clips = {split: PackedClips(data_dir, split) for split in ("train", "val")}
    data = settings["data"]
    video.check_input(settings["model"], data["num_frames"], data["frame_size"])
    if data["frame_size"] > clips["train"].size:
        raise BadInputError(
            data_dir,
            f"frames are stored at {clips['train'].size} px, less than frame_size"
            f" {data['frame_size']}; prepare the split with a larger wlasl.size",
        )
    derived = {"num_classes": clips["train"].num_classes}
    hparams = recipe.hyperparameters(settings, exclude=("save_every",)) | derived
    write_json(run_dir / "data_info.json", data)
    seed, crop, frames = settings["seed"], data["frame_size"], data["num_frames"]

    def build(hparams: dict[str, Any]) -> recipe.Training:
        model = build_model(hparams)
        datamodule = ImageDataModule(
            SeededImageDataset(ClipSource(clips["train"], frames), train_transform(crop), seed),
            SeededImageDataset(ClipSource(clips["val"], frames), eval_transform(crop), seed),
            batch_size=settings["training"]["batch_size"],
            workers=settings["workers"],
            seed=seed,
            batch_key="slr.runs.training.batch_size",
        )
        name = settings["model"]
        module = VideoClassifier(
            model, video.head_of(model, name), hparams, video.normalisation(name)
        )
        stopping = settings.get("early_stopping")
        callbacks: list[L.Callback] = [EarlyStopping(**stopping)] if stopping else []
        callbacks.append(PeriodicCheckpoint(run_dir / "checkpoints", settings["save_every"]))
        return recipe.Training(
            module,
            datamodule,
            settings["training"]["max_epoch"],
            ("loss", "top1", "top5"),
            best_by="loss",
            best_mode="min",
            callbacks=callbacks,
            accumulate_grad_batches=settings["training"].get("update_per_step", 1),
        )

    return recipe.train(run_dir, settings, build, derived, hparams)


def clean_checkpoints(run_dir: Path, dry_run: bool = False) -> list[Path]:
    """Delete every checkpoint of a run but best.ckpt and last.ckpt (which resume needs)."""
    kept = {"best.ckpt", "last.ckpt"}
    doomed = sorted(p for p in (Path(run_dir) / "checkpoints").glob("*.ckpt") if p.name not in kept)
    for path in doomed:
        log.info("%s %s", "would delete" if dry_run else "deleting", path)
        if not dry_run:
            path.unlink()
    return doomed
