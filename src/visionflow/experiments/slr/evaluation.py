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

import pandas as pd
import torch
import yaml
from torch.nn import functional as F

from visionflow.data.wlasl import PackedClips
from visionflow.engine.datamodule import eval_loader
from visionflow.engine.sampling import SeededImageDataset
from visionflow.experiments.slr import checkpoints
from visionflow.experiments.slr.checkpoints import checkpoint_path
from visionflow.experiments.slr.clips import ClipSource, eval_transform, shuffle_permutation
from visionflow.experiments.slr.module import VideoClassifier
from visionflow.experiments.slr.training import build_model
from visionflow.io import BadInputError, safe_torch_load
from visionflow.metrics.classification import confusion_counts, precision_recall_f1, topk_accuracy
from visionflow.metrics.entropy import shannon_entropy
from visionflow.models import video

SETS = ("test", "val", "train")
TOP_K = (1, 5, 10)
SHUFFLE_SEED = 42  # the original's fixed seed, so shuffled results compare across projects
Loaded = tuple[torch.nn.Module, dict[str, Any]]  # a checkpoint's model and its run settings


def run_label(settings: dict[str, Any]) -> str:
    """How figures and tables name a run of the queue."""
    return f"{settings['model']}_{settings['exp']:03d} ({settings['split']})"


def result_files(checkpoint: str, set_name: str, shuffle: bool = False) -> tuple[str, str]:
    """(JSON file name, figure stem) of a test under results/, as the original names them:
    <checkpoint>_<set>-top-k[_shuffled].json and <checkpoint>_<set>[_shuffled]-<graph>.png."""
    base = f"{checkpoint.removesuffix('.ckpt').removesuffix('.pth')}_{set_name}"
    suffix = "_shuffled" if shuffle else ""
    return f"{base}-top-k{suffix}.json", base + suffix


def load(ckpt: Path, model: str | None = None) -> tuple[torch.nn.Module, dict[str, Any], int]:
    """(model in eval mode, its run settings, 0-based epoch it was saved at) from a checkpoint;
    an original .pth (of architecture `model`, by default as its run names) has epoch -1."""
    if Path(ckpt).suffix == ".pth":
        return *checkpoints.load_original(ckpt, model), -1
    state = safe_torch_load(ckpt)
    hparams = dict(state.get("hyper_parameters", {}))
    if "model" not in hparams:
        raise BadInputError(ckpt, "not a visionflow SLR checkpoint (no model settings)")
    net = build_model(hparams | {"pretrained": None})
    net.load_state_dict({k.removeprefix("model."): v for k, v in state["state_dict"].items()})
    return net.eval(), hparams, int(state.get("epoch", -1))


@torch.inference_mode()
def predict(
    model: torch.nn.Module,
    name: str,
    source: ClipSource,
    crop: int,
    batch_size: int,
    workers: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, labels) of every sample of `source`, centre-cropped, in stored order, in fp32."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    module = VideoClassifier(model, video.head_of(model, name), {}, video.normalisation(name))
    module = module.to(device).eval()
    dataset = SeededImageDataset(source, eval_transform(crop), seed=0)
    outputs, labels = [], []
    for batch in eval_loader(dataset, batch_size, workers):
        clips, target = module.on_after_batch_transfer([t.to(device) for t in batch], 0)
        outputs.append(module(clips).cpu())  # fp32 on every device, as the original scores
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
    """What the per-class figures show: confusion counts and precision/recall/F1 per class
    (a (C, 3) array)."""
    matrix = confusion_counts(logits.argmax(dim=1), labels, num_classes)
    return {"matrix": matrix, "scores": precision_recall_f1(matrix)}


def sizes(run_dir: Path, num_frames: int | None, frame_size: int | None) -> tuple[int, int]:
    """(frames, crop size) to test with: the given ones, the rest from data_info.json."""
    if num_frames is None or frame_size is None:
        info = json.loads(_required(Path(run_dir) / "data_info.json").read_text())
        num_frames, frame_size = num_frames or info["num_frames"], frame_size or info["frame_size"]
    return num_frames, frame_size


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
    model: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """BaseRes (ShuffRes with `shuffle`) of one checkpoint on one set, its per-class data
    and the class names.

    `checkpoint` may be an original .pth (`model` names its architecture if its run
    directory does not); `loaded` is the checkpoint's (model, settings) when the caller
    has read it already.
    """
    if set_name not in SETS:
        raise ValueError(f"set must be one of {SETS}, got {set_name!r}")
    num_frames, frame_size = sizes(run_dir, num_frames, frame_size)
    net, hparams = loaded or load(checkpoint_path(run_dir, checkpoint), model)[:2]
    clips = PackedClips(data_dir, set_name)
    if clips.num_classes != hparams["num_classes"]:
        raise BadInputError(
            data_dir, f"has {clips.num_classes} classes, the model {hparams['num_classes']}"
        )
    permutation = shuffle_permutation(num_frames, SHUFFLE_SEED) if shuffle else None
    source = ClipSource(clips, num_frames, permutation)
    logits, labels = predict(net, hparams["model"], source, frame_size, batch_size, workers)
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


def _best(run_dir: Path, model: str | None) -> tuple[Loaded, int | None, float, float]:
    """The best checkpoint of a run, its 1-based epoch (None for an original run's best.pth)
    and the val top-1 and loss the training run recorded for it."""
    original = Path(run_dir) / "checkpoints" / "best.pth"
    if original.is_file() and not (Path(run_dir) / "checkpoints" / "best.ckpt").exists():
        net, hparams, _ = load(original, model)
        return (net, hparams), None, *checkpoints.original_best(run_dir)
    net, hparams, epoch = load(checkpoint_path(run_dir, "best"))
    return (net, hparams), epoch + 1, *training_best(run_dir, epoch)


def evaluate(
    run_dir: Path,
    data_dir: Path,
    batch_size: int = 8,
    workers: int = 0,
    num_frames: int | None = None,
    frame_size: int | None = None,
    model: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """CompRes of the best checkpoint: test, val and shuffled test beside the training run's
    best validation numbers; with the test set's per-class data and the class names.

    The best checkpoint is checkpoints/best.ckpt, or an original run's best.pth, whose best
    validation numbers come from its newest checkpoint_EEE.pth as the original reads them.
    """
    run_dir = Path(run_dir)
    loaded, best_epoch, best_acc, best_loss = _best(run_dir, model)
    options = {"batch_size": batch_size, "workers": workers, "loaded": loaded,
               "num_frames": num_frames, "frame_size": frame_size}  # fmt: skip
    test, classes, names = evaluate_set(run_dir, data_dir, "test", **options)
    val, _, _ = evaluate_set(run_dir, data_dir, "val", **options)
    shuffled, _, _ = evaluate_set(run_dir, data_dir, "test", shuffle=True, **options)
    report = {
        "check_name": "best_val",
        "best_val_epoch": best_epoch,
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
