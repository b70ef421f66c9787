"""The SLR experiment: a torchvision video classifier on one prepared WLASL split."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
import yaml
from lightning.pytorch.callbacks import EarlyStopping

from visionflow.data.wlasl import PackedClips
from visionflow.io import BadInputError, write_json, write_text
from visionflow.models import video
from visionflow.train import engine
from visionflow.train.callbacks import PeriodicCheckpoint
from visionflow.train.clips import ClipSource, eval_transform, train_transform
from visionflow.train.datamodule import ImageDataModule
from visionflow.train.sampling import SeededImageDataset
from visionflow.train.video_classifier import VideoClassifier

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
            data_dir, f"frames are stored at {clips['train'].size} px, less than frame_size"
            f" {data['frame_size']}; prepare the split with a larger wlasl.size"
        )  # fmt: skip
    hparams = {k: v for k, v in settings.items() if k not in (*engine.EXECUTION_KEYS, "save_every")}
    hparams["num_classes"] = clips["train"].num_classes
    write_text(run_dir / "config.yaml", yaml.safe_dump(settings | hparams, sort_keys=False))
    write_json(run_dir / "data_info.json", data)

    L.seed_everything(settings["seed"], workers=True, verbose=False)
    model = build_model(hparams)
    seed, crop = settings["seed"], data["frame_size"]
    datamodule = ImageDataModule(
        SeededImageDataset(
            ClipSource(clips["train"], data["num_frames"]), train_transform(crop), seed
        ),
        SeededImageDataset(
            ClipSource(clips["val"], data["num_frames"]), eval_transform(crop), seed
        ),
        batch_size=settings["training"]["batch_size"],
        workers=settings["workers"],
        seed=seed,
    )
    module = VideoClassifier(
        model,
        video.head_of(model, settings["model"]),
        hparams,
        video.normalisation(settings["model"]),
    )
    stopping = settings.get("early_stopping")
    callbacks: list[L.Callback] = [EarlyStopping(**stopping)] if stopping else []
    callbacks.append(PeriodicCheckpoint(run_dir / "checkpoints", settings["save_every"]))
    return engine.fit(
        module,
        datamodule,
        run_dir,
        epochs=settings["training"]["max_epoch"],
        metrics=("loss", "top1", "top5"),
        best_by="loss",
        best_mode="min",
        **engine.parallelism(settings),
        callbacks=callbacks,
        accumulate_grad_batches=settings["training"].get("update_per_step", 1),
    )


def clean_checkpoints(run_dir: Path, dry_run: bool = False) -> list[Path]:
    """Delete every checkpoint of a run but best.ckpt and last.ckpt (which resume needs)."""
    kept = {"best.ckpt", "last.ckpt"}
    doomed = sorted(p for p in (Path(run_dir) / "checkpoints").glob("*.ckpt") if p.name not in kept)
    for path in doomed:
        log.info("%s %s", "would delete" if dry_run else "deleting", path)
        if not dry_run:
            path.unlink()
    return doomed


def summarize(run_dirs: list[Path]) -> pd.DataFrame:
    """One row per run: settings, the best epoch's val numbers and the full test results."""
    rows = []
    for run_dir in map(Path, run_dirs):
        settings = yaml.safe_load((run_dir / "config.yaml").read_text())
        result = json.loads((run_dir / "results" / "best_val_loss.json").read_text())
        test, shuffled = result["test"], result["test_shuff"]
        rows.append(
            {
                "run": f"{settings['model']}_{settings['exp']:03d}",
                "split": settings["split"],
                "best_epoch": result["best_val_epoch"],
                "val_top1": result["best_val_acc"],
                "val_loss": result["best_val_loss"],
                **{f"test_top{k}": test["top_k_per_instance_acc"][f"top{k}"] for k in (1, 5, 10)},
                "test_class_top1": test["top_k_average_per_class_acc"]["top1"],
                "test_loss": test["average_loss"],
                "shuffled_top1": shuffled["top_k_per_instance_acc"]["top1"],
                "shuffle_entropy": shuffled["shannon_entropy"],
            }
        )
    return pd.DataFrame(rows)
