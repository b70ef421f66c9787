"""SLR's testing: top-k per instance and per class, loss, shuffled frames, the full report.

`evaluate_set` tests one checkpoint on one set (the original's partial test); `evaluate`
tests the best checkpoint on test, val and shuffled test and sets the training run's own
best validation numbers beside them (its full test). Both return data; the CLI writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml
from torch.nn import functional as F

from visionflow.data.wlasl import PackedClips
from visionflow.engine.datamodule import eval_loader
from visionflow.engine.sampling import SeededImageDataset
from visionflow.engine.trainer import lightning_precision
from visionflow.experiments.slr.clips import ClipSource, eval_transform, shuffle_permutation
from visionflow.experiments.slr.module import VideoClassifier
from visionflow.experiments.slr.training import build_model
from visionflow.io import BadInputError, safe_torch_load
from visionflow.metrics.classification import confusion_counts, precision_recall_f1, topk_accuracy
from visionflow.metrics.entropy import shannon_entropy
from visionflow.models import video
from visionflow.settings import PRECISIONS

SETS = ("test", "val", "train")
TOP_K = (1, 5, 10)
SHUFFLE_SEED = 42  # the original's fixed seed, so shuffled results compare across projects
Loaded = tuple[torch.nn.Module, dict[str, Any]]  # a checkpoint's model and its run settings


def run_label(settings: dict[str, Any]) -> str:
    """How figures and tables name a run of the queue."""
    return f"{settings['model']}_{settings['exp']:03d} ({settings['split']})"


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """checkpoints/<name>.ckpt of a run (name like best, last or checkpoint_010)."""
    path = Path(run_dir) / "checkpoints" / f"{name.removesuffix('.ckpt')}.ckpt"
    if not path.is_file():
        raise BadInputError(path, "checkpoint does not exist")
    return path


def result_files(checkpoint: str, set_name: str, shuffle: bool = False) -> tuple[str, str]:
    """(JSON file name, figure stem) of a test under results/, as the original names them:
    <checkpoint>_<set>-top-k[_shuffled].json and <checkpoint>_<set>[_shuffled]-<graph>.png."""
    base = f"{checkpoint.removesuffix('.ckpt')}_{set_name}"
    suffix = "_shuffled" if shuffle else ""
    return f"{base}-top-k{suffix}.json", base + suffix


def load(ckpt: Path) -> tuple[torch.nn.Module, dict[str, Any], int]:
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
    model: torch.nn.Module,
    name: str,
    source: ClipSource,
    crop: int,
    batch_size: int,
    workers: int,
    precision: str = PRECISIONS[0],
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) of every sample of `source`, centre-cropped, in stored order, in the
    run's `precision` (bf16 autocast only where the engine would train in bf16)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = lightning_precision(precision) == "bf16-mixed"
    module = VideoClassifier(model, video.head_of(model, name), {}, video.normalisation(name))
    module = module.to(device).eval()
    dataset = SeededImageDataset(source, eval_transform(crop), seed=0)
    outputs, labels = [], []
    for batch in eval_loader(dataset, batch_size, workers):
        clips, target = module.on_after_batch_transfer([t.to(device) for t in batch], 0)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
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


def per_class(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """What the per-class figures show: confusion counts, samples and top-1 per class, and
    precision/recall/F1 per class (a (C, 3) array)."""
    matrix = confusion_counts(logits.argmax(dim=1), labels, num_classes)
    counts = matrix.sum(axis=1)
    accuracy = np.divide(np.diag(matrix), counts, out=np.zeros(num_classes), where=counts > 0)
    return {
        "matrix": matrix,
        "counts": counts,
        "accuracy": accuracy,
        "scores": precision_recall_f1(matrix),
    }


def evaluate_set(
    run_dir: Path,
    data_dir: Path,
    set_name: str,
    checkpoint: str = "best",
    shuffle: bool = False,
    num_frames: int | None = None,
    frame_size: int | None = None,
    batch_size: int = 8,
    workers: int = 0,
    loaded: Loaded | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """BaseRes (ShuffRes with `shuffle`) of one checkpoint on one set, its per-class data
    and the class names.

    `loaded` is the checkpoint's (model, settings) when the caller has read it already.
    """
    if set_name not in SETS:
        raise ValueError(f"set must be one of {SETS}, got {set_name!r}")
    run_dir = Path(run_dir)
    info = json.loads(_required(run_dir / "data_info.json").read_text())
    num_frames = num_frames or info["num_frames"]
    frame_size = frame_size or info["frame_size"]
    model, hparams = loaded or load(checkpoint_path(run_dir, checkpoint))[:2]
    clips = PackedClips(data_dir, set_name)
    if clips.num_classes != hparams["num_classes"]:
        raise BadInputError(
            data_dir, f"has {clips.num_classes} classes, the model {hparams['num_classes']}"
        )
    permutation = shuffle_permutation(num_frames, SHUFFLE_SEED) if shuffle else None
    source = ClipSource(clips, num_frames, permutation)
    precision = hparams.get("precision", PRECISIONS[0])
    logits, labels = predict(
        model, hparams["model"], source, frame_size, batch_size, workers, precision
    )
    result = base_result(logits, labels, clips.num_classes)
    if permutation is not None:
        result |= {"perm": permutation, "shannon_entropy": shannon_entropy(permutation)}
    return result, per_class(logits, labels, clips.num_classes), clips.classes


def training_best(run_dir: Path, epoch: int) -> tuple[float, float]:
    """(val top-1, val loss) metrics.csv recorded for the 0-based `epoch` a checkpoint is from."""
    history = pd.read_csv(_required(Path(run_dir) / "metrics.csv"))
    row = history[(history["epoch"] == epoch + 1) & (history["split"] == "val")]
    if row.empty:
        raise BadInputError(run_dir / "metrics.csv", f"no validation row for epoch {epoch + 1}")
    return float(row["top1"].iloc[0]), float(row["loss"].iloc[0])


def evaluate(
    run_dir: Path, data_dir: Path, batch_size: int = 8, workers: int = 0
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """CompRes of checkpoints/best.ckpt: test, val and shuffled test beside the training run's
    best validation numbers; with the test set's per-class data and the class names."""
    run_dir = Path(run_dir)
    model, hparams, epoch = load(checkpoint_path(run_dir, "best"))
    best_acc, best_loss = training_best(run_dir, epoch)
    options = {"batch_size": batch_size, "workers": workers, "loaded": (model, hparams)}
    test, classes, names = evaluate_set(run_dir, data_dir, "test", **options)
    val, _, _ = evaluate_set(run_dir, data_dir, "val", **options)
    shuffled, _, _ = evaluate_set(run_dir, data_dir, "test", shuffle=True, **options)
    report = {
        "check_name": "best_val",
        "best_val_epoch": epoch + 1,
        "best_val_acc": best_acc,
        "best_val_loss": best_loss,
        "test": test,
        "val": val,
        "test_shuff": shuffled,
    }
    return report, classes, names


def report_parts(report: dict[str, Any]) -> list[tuple[str, bool, dict[str, Any]]]:
    """(set, shuffled, result) of each test in a full report, in the order it ran them."""
    return [
        ("test", False, report["test"]),
        ("val", False, report["val"]),
        ("test", True, report["test_shuff"]),
    ]


def summarize(run_dirs: Sequence[Path]) -> pd.DataFrame:
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


def _required(path: Path) -> Path:
    if not path.is_file():
        raise BadInputError(path, "run file does not exist (was the run trained?)")
    return path
