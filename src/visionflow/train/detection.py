"""The detection experiment: Faster R-CNN on the frames of the CVAT annotation table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import optuna
import pandas as pd
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import Dataset
from tqdm import tqdm

from visionflow.io import BadInputError, safe_torch_load, write_text
from visionflow.models.detection import build_detector
from visionflow.train import engine
from visionflow.train import hpo as hpo_module
from visionflow.train.datamodule import ImageDataModule, eval_loader
from visionflow.train.module import MetricModule, with_step_lr
from visionflow.train.sampling import sample_seed

LOSSES = ("loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg")
# Keys of a run's settings that set the model, the rest set optimisation and data.
MODEL_KEYS = ("backbone", "num_classes", "image_size", "trainable_layers")


def read_labels(path: str | Path) -> list[str]:
    """The class names of labels.json, in class-id order (id = position + 1)."""
    return json.loads(Path(path).read_text())


def split_frames(table: pd.DataFrame, split_table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of `table` whose (task, frame) the split table puts in `split`."""
    keys = split_table.loc[split_table["split"] == split, ["task", "frame"]]
    return table.merge(keys, on=["task", "frame"], how="inner")


class DetectionFrames(Dataset):
    """Frames of an annotation table as (float RGB image, target) pairs.

    With `flip_seed` set, each frame is mirrored left-right with probability 1/2, decided by
    (seed, epoch, index) so a resumed run sees the same flips.
    """

    def __init__(
        self, table: pd.DataFrame, root: str | Path, labels: Sequence[str], flip_seed=None
    ) -> None:
        self.root, self.flip_seed = Path(root), flip_seed
        class_ids = {name: i + 1 for i, name in enumerate(labels)}
        self.frames = []
        for (task, frame), rows in table.groupby(["task", "frame"], sort=True):
            boxes = rows.dropna(subset=["label"])
            self.frames.append(
                {
                    "task": task,
                    "frame": int(frame),
                    "image": rows["image"].iloc[0],
                    "boxes": boxes[["xmin", "ymin", "xmax", "ymax"]].to_numpy(np.float32),
                    "labels": boxes["label"].map(class_ids).to_numpy(np.int64),
                }
            )

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, dict[str, Tensor]]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        frame = self.frames[index]
        path = self.root / frame["image"]
        try:
            with Image.open(path) as handle:
                image = np.array(handle.convert("RGB"))
        except OSError as exc:
            raise BadInputError(path, f"cannot read frame {frame['frame']}: {exc}") from None
        boxes = frame["boxes"].copy()
        flip = self.flip_seed is not None and sample_seed(self.flip_seed, epoch, index) % 2
        if flip:
            image = image[:, ::-1]
            boxes[:, [0, 2]] = image.shape[1] - boxes[:, [2, 0]]
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
        return tensor, {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.tensor(frame["labels"]),
        }


def collate(batch: list) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """Images and targets as lists: frames differ in size and box count."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)


def _losses_mode(model: nn.Module) -> None:
    """Training mode, which makes torchvision detectors return losses, but BatchNorm in eval."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


class Detector(MetricModule):
    """Faster R-CNN trained with SGD + StepLR on the sum of its four losses.

    Validation computes the same losses (torchvision only returns them in training mode)
    with BatchNorm statistics left untouched, as the original judged its runs by them.
    """

    def compute(self, batch: Any) -> tuple[Tensor, dict[str, Tensor], int]:
        images, targets = batch
        if not self.training:
            _losses_mode(self.model)
        losses = self.model(images, targets)
        if not self.training:
            self.model.eval()
        total = sum(losses.values())
        return total, {name: losses[name].detach() for name in LOSSES}, len(images)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        parameters = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(
            parameters, lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
        )
        return with_step_lr(optimizer, hp)


def detector_for(hparams: dict[str, Any], weights: str | None = None) -> nn.Module:
    """The detector a run's settings describe."""
    return build_detector(
        hparams["backbone"],
        hparams["num_classes"],
        hparams["image_size"],
        weights,
        hparams["trainable_layers"],
    )


def fit(
    table: pd.DataFrame,
    split_table: pd.DataFrame,
    labels: Sequence[str],
    root: str | Path,
    run_dir: Path,
    settings: dict[str, Any],
    callbacks: Sequence[L.Callback] = (),
) -> Path:
    """Train one detector into `run_dir` (resumable); returns the published best.ckpt.

    `settings` hold the model keys, the optimiser's (lr, momentum, weight_decay, step_size,
    gamma), epochs, batch sizes, seed and, optionally, max_plateau_count for early stopping.
    """
    hparams = {k: v for k, v in settings.items() if k not in (*engine.EXECUTION_KEYS, "weights")}
    hparams["num_classes"] = len(labels)
    write_text(run_dir / "config.yaml", yaml.safe_dump(settings | hparams, sort_keys=True))
    L.seed_everything(settings["seed"], workers=True, verbose=False)
    train = DetectionFrames(
        split_frames(table, split_table, "train"), root, labels, flip_seed=settings["seed"]
    )
    val = DetectionFrames(split_frames(table, split_table, "val"), root, labels)
    if not len(train) or not len(val):
        raise BadInputError("split.csv", f"{len(train)} train and {len(val)} val frames; need both")
    datamodule = ImageDataModule(
        train,
        val,
        batch_size=settings["batch_size"],
        workers=settings["workers"],
        seed=settings["seed"],
        collate_fn=collate,
    )
    stopping = []
    if settings.get("max_plateau_count"):
        patience = settings["max_plateau_count"]
        stopping = [EarlyStopping(monitor="val/loss", mode="min", patience=patience)]
    module = Detector(detector_for(hparams, settings.get("weights")), hparams)
    return engine.fit(
        module,
        datamodule,
        run_dir,
        epochs=settings["epochs"],
        metrics=("loss", *LOSSES),
        best_by="loss",
        best_mode="min",
        callbacks=[*stopping, *callbacks],
        **engine.parallelism(settings),
    )


def load_detector(ckpt: str | Path) -> nn.Module:
    """The trained detector of a visionflow checkpoint, in eval mode."""
    state = safe_torch_load(ckpt)
    hparams = state.get("hyper_parameters", {})
    if not set(MODEL_KEYS) <= set(hparams):
        raise BadInputError(ckpt, "not a visionflow detection checkpoint (no model settings)")
    model = detector_for(hparams)
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    model.load_state_dict(weights)
    return model.eval()


@torch.no_grad()
def predict(
    ckpt: str | Path,
    frames: pd.DataFrame,
    root: str | Path,
    labels: Sequence[str],
    batch_size: int,
    workers: int = 0,
) -> pd.DataFrame:
    """Detections of a checkpoint on the frames of an annotation table (the predictions table)."""
    model = load_detector(ckpt)
    dataset = DetectionFrames(frames, root, labels)
    rows = []
    loader = eval_loader(dataset, batch_size, workers, collate)
    done = 0
    for images, _ in tqdm(loader, desc="detect", unit="batch"):
        for output in model(images):
            frame = dataset.frames[done]
            done += 1
            for box, label, score in zip(
                output["boxes"].tolist(),
                output["labels"].tolist(),
                output["scores"].tolist(),
                strict=True,
            ):
                rows.append(
                    {
                        "task": frame["task"],
                        "frame": frame["frame"],
                        "label": labels[label - 1],
                        "score": score,
                        "xmin": box[0],
                        "ymin": box[1],
                        "xmax": box[2],
                        "ymax": box[3],
                    }
                )
    columns = ["task", "frame", "label", "score", "xmin", "ymin", "xmax", "ymax"]
    return pd.DataFrame(rows, columns=columns)


def search(
    table: pd.DataFrame,
    split_table: pd.DataFrame,
    labels: Sequence[str],
    root: str | Path,
    hpo_dir: Path,
    settings: dict[str, Any],
    worker: int,
    workers: int,
) -> list[dict[str, Any]]:
    """Run this worker's share of the variant's study; each trial trains `search_epochs`
    into hpo/trial<N>/ and scores its lowest validation loss."""
    hpo = settings["hpo"]
    name = hpo_study_name(settings)
    seed = settings["seed"] * 1000 + worker
    study = hpo_module.open_study(
        hpo_dir / "study.journal", name, hpo["num_initial_data_points"], seed
    )
    run_settings = {k: v for k, v in settings.items() if k != "hpo"}
    run_settings |= {"epochs": hpo["search_epochs"], "max_plateau_count": None}

    def objective(trial: optuna.Trial, params: dict[str, Any]) -> float:
        run_dir = hpo_dir / f"trial{trial.number:03d}"
        pruning = hpo_module.PruningCallback(trial)
        fit(table, split_table, labels, root, run_dir, run_settings | params, [pruning])
        history = pd.read_csv(run_dir / "metrics.csv")
        trained = history[(history["split"] == "val") & (history["epoch"] > 0)]
        return float(trained["loss"].min())

    return hpo_module.run_worker(
        study, objective, hpo["parameters"], hpo["max_num_trials"], worker, workers
    )


def hpo_study_name(settings: dict[str, Any]) -> str:
    """The study of a variant's search settings (and everything else its trials train with)."""
    computed = {k: v for k, v in settings.items() if k not in engine.EXECUTION_KEYS}
    return hpo_module.study_name(settings["variant"], computed)


def summarize(
    runs: dict[str, pd.DataFrame], grids: dict[str, pd.DataFrame], maps: dict[str, dict]
) -> pd.DataFrame:
    """One row per variant: epochs, best val loss and epoch, best F1 at IoU 0.5, COCO mAP."""
    rows = []
    for variant, history in runs.items():
        val = history[(history["split"] == "val") & (history["epoch"] > 0)]
        best = val.loc[val["loss"].idxmin()]
        grid = grids[variant]
        at_half = grid[np.isclose(grid["iou_threshold"], 0.5)]
        top = at_half.loc[at_half["f1"].idxmax()] if len(at_half) else None
        rows.append(
            {
                "variant": variant,
                "epochs": int(val["epoch"].max()),
                "best_val_loss": float(best["loss"]),
                "best_epoch": int(best["epoch"]),
                "f1_iou50": None if top is None else float(top["f1"]),
                "score_threshold": None if top is None else float(top["score_threshold"]),
                "map": maps[variant].get("map"),
                "map_50": maps[variant].get("map_50"),
            }
        )
    return pd.DataFrame(rows)
