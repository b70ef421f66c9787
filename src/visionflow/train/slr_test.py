"""SLR's testing: top-k per instance and per class, loss, shuffled frames, the full report.

`partial` tests one checkpoint on one set; `full` tests the best checkpoint on test, val and
shuffled test and sets the training run's own best validation numbers beside them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from visionflow import plots
from visionflow.data.wlasl import PackedClips
from visionflow.io import BadInputError, safe_torch_load, write_json
from visionflow.metrics.classification import confusion_counts, precision_recall_f1, topk_accuracy
from visionflow.metrics.permutation import shannon_entropy
from visionflow.models import video
from visionflow.train.clips import ClipSource, eval_transform, shuffle_permutation
from visionflow.train.datamodule import eval_loader
from visionflow.train.sampling import SeededImageDataset
from visionflow.train.slr import build_model
from visionflow.train.video_classifier import VideoClassifier

SETS = ("test", "val", "train")
GRAPHS = ("bargraph", "confmat", "heatmap")
TOP_K = (1, 5, 10)
SHUFFLE_SEED = 42  # the original's fixed seed, so shuffled results compare across projects


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """checkpoints/<name>.ckpt of a run (name like best, last or checkpoint_010)."""
    path = Path(run_dir) / "checkpoints" / f"{name.removesuffix('.ckpt')}.ckpt"
    if not path.is_file():
        raise BadInputError(path, "checkpoint does not exist")
    return path


def load_model(ckpt: Path) -> tuple[torch.nn.Module, dict[str, Any], int]:
    """(model in eval mode, its run settings, 0-based epoch it was saved at) from a checkpoint."""
    state = safe_torch_load(ckpt)
    hparams = dict(state.get("hyper_parameters", {}))
    if "model" not in hparams:
        raise BadInputError(ckpt, "not a visionflow SLR checkpoint (no model settings)")
    model = build_model(hparams | {"pretrained": None})
    weights = {k.removeprefix("model."): v for k, v in state["state_dict"].items()}
    model.load_state_dict(weights)
    return model.eval(), hparams, int(state.get("epoch", -1))


@torch.inference_mode()
def predict(
    model: torch.nn.Module, name: str, source: ClipSource, crop: int, batch_size: int, workers: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) of every sample of `source`, centre-cropped, in stored order."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = VideoClassifier(model, video.head_of(model, name), {}, video.normalisation(name))
    module = module.to(device).eval()
    dataset = SeededImageDataset(source, eval_transform(crop), seed=0)
    outputs, labels = [], []
    for batch in eval_loader(dataset, batch_size, workers):
        clips, target = module.on_after_batch_transfer([t.to(device) for t in batch], 0)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            outputs.append(module(clips).float().cpu())
        labels.append(target.cpu())
    return torch.cat(outputs), torch.cat(labels)


def base_result(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """SLR's BaseRes: per-class average and per-instance top-1/5/10, mean loss over samples."""
    per_instance, per_class = topk_accuracy(logits, labels, num_classes, TOP_K)
    return {
        "top_k_average_per_class_acc": per_class,
        "top_k_per_instance_acc": per_instance,
        "average_loss": float(F.cross_entropy(logits, labels)),
    }


def draw_graphs(
    logits: torch.Tensor, labels: torch.Tensor, classes: list[str], stem: Path, graphs: list[str]
) -> list[Path]:
    """The chosen per-class figures of one test, as <stem>-<graph>.png; returns their paths."""
    matrix = confusion_counts(logits.argmax(dim=1), labels, len(classes))
    counts = matrix.sum(axis=1)
    accuracy = np.divide(np.diag(matrix), counts, out=np.zeros(len(classes)), where=counts > 0)
    title = stem.name
    paths = []
    for graph in graphs:
        path = stem.with_name(f"{stem.name}-{graph}.png")
        if graph == "bargraph":
            plots.plot_class_accuracy(classes, accuracy, counts, path, f"{title}: per-class top-1")
        elif graph == "confmat":
            plots.plot_confusion_matrix(matrix, classes, path, title=f"{title}: confusion")
        else:
            scores = precision_recall_f1(matrix)
            plots.plot_class_report(classes, scores, path, f"{title}: per-class scores")
        paths.append(path)
    return paths


def partial(
    run_dir: Path,
    data_dir: Path,
    set_name: str,
    checkpoint: str = "best",
    shuffle: bool = False,
    graphs: list[str] | None = None,
    num_frames: int | None = None,
    frame_size: int | None = None,
    batch_size: int = 8,
    workers: int = 0,
    loaded: tuple[torch.nn.Module, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """BaseRes (ShuffRes with `shuffle`) of one checkpoint on one set; saved with its graphs
    under <run>/results/ as <checkpoint>_<set>-top-k[_shuffled].json.

    `loaded` is the checkpoint's (model, settings) when the caller has read it already.
    """
    if set_name not in SETS:
        raise ValueError(f"set must be one of {SETS}, got {set_name!r}")
    run_dir = Path(run_dir)
    info = json.loads(_required(run_dir / "data_info.json").read_text())
    num_frames = num_frames or info["num_frames"]
    frame_size = frame_size or info["frame_size"]
    model, hparams = loaded or load_model(checkpoint_path(run_dir, checkpoint))[:2]
    clips = PackedClips(data_dir, set_name)
    if clips.num_classes != hparams["num_classes"]:
        raise BadInputError(
            data_dir, f"has {clips.num_classes} classes, the model {hparams['num_classes']}"
        )
    permutation = shuffle_permutation(num_frames, SHUFFLE_SEED) if shuffle else None
    source = ClipSource(clips, num_frames, permutation)
    logits, labels = predict(model, hparams["model"], source, frame_size, batch_size, workers)
    result = base_result(logits, labels, clips.num_classes)
    if permutation is not None:
        result |= {"perm": permutation, "shannon_entropy": shannon_entropy(permutation)}
    stem = run_dir / "results" / f"{checkpoint.removesuffix('.ckpt')}_{set_name}"
    suffix = "_shuffled" if shuffle else ""
    write_json(stem.with_name(f"{stem.name}-top-k{suffix}.json"), result)
    draw_graphs(logits, labels, clips.classes, stem.with_name(stem.name + suffix), graphs or [])
    return result


def training_best(run_dir: Path, epoch: int) -> tuple[float, float]:
    """(val top-1, val loss) metrics.csv recorded for the 0-based `epoch` a checkpoint is from."""
    history = pd.read_csv(_required(Path(run_dir) / "metrics.csv"))
    row = history[(history["epoch"] == epoch + 1) & (history["split"] == "val")]
    if row.empty:
        raise BadInputError(run_dir / "metrics.csv", f"no validation row for epoch {epoch + 1}")
    return float(row["top1"].iloc[0]), float(row["loss"].iloc[0])


def full(run_dir: Path, data_dir: Path, batch_size: int = 8, workers: int = 0) -> dict[str, Any]:
    """CompRes of checkpoints/best.ckpt: test, val and shuffled test beside the training run's
    best validation numbers; writes results/best_val_loss.json and the test set's graphs."""
    run_dir = Path(run_dir)
    model, hparams, epoch = load_model(checkpoint_path(run_dir, "best"))
    best_acc, best_loss = training_best(run_dir, epoch)
    options = {"batch_size": batch_size, "workers": workers, "loaded": (model, hparams)}
    result = {
        "check_name": "best_val",
        "best_val_epoch": epoch + 1,
        "best_val_acc": best_acc,
        "best_val_loss": best_loss,
        "test": partial(run_dir, data_dir, "test", graphs=list(GRAPHS), **options),
        "val": partial(run_dir, data_dir, "val", **options),
        "test_shuff": partial(run_dir, data_dir, "test", shuffle=True, **options),
    }
    write_json(run_dir / "results" / "best_val_loss.json", result)
    return result


def _required(path: Path) -> Path:
    if not path.is_file():
        raise BadInputError(path, "run file does not exist (was the run trained?)")
    return path
