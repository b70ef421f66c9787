"""Training of a torchvision video classifier on one prepared WLASL split."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping

from visionflow.data.wlasl import PackedClips
from visionflow.engine import recipe
from visionflow.engine.callbacks import PeriodicCheckpoint, StepWindowLogger
from visionflow.engine.datamodule import ImageDataModule
from visionflow.engine.sampling import SeededImageDataset
from visionflow.experiments.slr import checkpoints
from visionflow.experiments.slr.clips import ClipSource, eval_transform, train_transform
from visionflow.experiments.slr.module import VideoClassifier
from visionflow.io import BadInputError, write_json
from visionflow.models import video

log = logging.getLogger(__name__)

STEP_LOG_EVERY = 10  # optimizer steps between step-level training logs, as the original


def build_model(hparams: dict[str, Any]) -> Any:
    """The run's architecture with its head sized to the split (Kinetics weights if given)."""
    return video.build(
        hparams["model"],
        hparams["num_classes"],
        hparams["model_params"].get("drop_p"),
        hparams.get("pretrained"),
    )


def warm_start(model: Any, name: str, path: Path, num_classes: int) -> None:
    """Load the weights a run starts from (the original's `-w`) into `model`; a head with
    fewer classes is extended (its rows first, as the labels of a smaller split are the
    first labels of a larger one), a head with more is refused."""
    weights = checkpoints.initial_weights(path, name)
    head = f"{video.ARCHS[name].head}.1"
    if f"{head}.bias" not in weights:
        raise BadInputError(path, f"no classification layer {head} for {name}")
    old = weights[f"{head}.bias"].shape[0]
    if old > num_classes:
        raise BadInputError(path, f"has {old} classes, more than the split's {num_classes}")
    if old < num_classes:
        log.info("%s: extending the head from %d to %d classes", path, old, num_classes)
        rows = video.extended_rows(weights[f"{head}.weight"], weights[f"{head}.bias"], num_classes)
        weights[f"{head}.weight"], weights[f"{head}.bias"] = rows
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise BadInputError(path, f"not {name} weights ({' '.join(str(exc).split())})") from None


def train(data_dir: Path, run_dir: Path, settings: dict[str, Any]) -> Path:
    """Train one SLR run into `run_dir` (resumable); returns best.ckpt (lowest val loss).

    Starts from the weights of `init_from` if set (see `warm_start`). Also writes
    data_info.json (frames and crop size, what testing needs), config.yaml,
    checkpoint_<epoch>.ckpt every `save_every` epochs and steps.csv (the training loss and
    top-1 every 10 optimizer steps, also in TensorBoard).
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
        if hparams.get("init_from"):
            warm_start(model, hparams["model"], hparams["init_from"], hparams["num_classes"])
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
        callbacks: list[L.Callback] = []
        if stopping:  # a NaN or infinite monitor is no improvement, as in the original
            callbacks.append(EarlyStopping(**stopping, check_finite=False))
        callbacks.append(PeriodicCheckpoint(run_dir / "checkpoints", settings["save_every"]))
        callbacks.append(StepWindowLogger(run_dir / "steps.csv", every=STEP_LOG_EVERY))
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

    return recipe.train(data_dir, run_dir, settings, build, derived, hparams)


def clean_checkpoints(run_dir: Path, dry_run: bool = False) -> list[Path]:
    """Delete every checkpoint of a run but best.ckpt and last.ckpt (which resume needs)."""
    kept = {"best.ckpt", "last.ckpt"}
    doomed = sorted(p for p in (Path(run_dir) / "checkpoints").glob("*.ckpt") if p.name not in kept)
    for path in doomed:
        log.info("%s %s", "would delete" if dry_run else "deleting", path)
        if not dry_run:
            path.unlink()
    return doomed
