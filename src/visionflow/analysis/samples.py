"""A trained model with a fixed, seeded sample of its data, preprocessed as for its evaluation:
what every analysis (RSM, Shapley, attributions) measures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from visionflow.data.miniimagenet import PackedImages
from visionflow.data.store import sample_per_class
from visionflow.engine.classifier import ImageClassifier
from visionflow.experiments.cornet import evaluation as cornet
from visionflow.experiments.cornet.training import eval_transform
from visionflow.experiments.grasp import evaluation as grasp
from visionflow.experiments.grasp.data import TURNS, task_datasets
from visionflow.io import BadInputError
from visionflow.metrics.classification import topk_correct
from visionflow.metrics.grasp import class_accuracy, grasp_accuracy

# The layers the original analyses: AlexnetMap's RGB conv and the four convs after it.
GRASP_LAYERS = ("rgb_features.0", "features.0", "features.4", "features.7", "features.10")
# CORnet's areas; V1, V2 and V4 as on the last pass of the feedback loop.
CORNET_LAYERS = ("V1", "V2", "V4", "IT")


@dataclass
class ModelSample:
    """A model in eval mode, sampled inputs (in class blocks), their labels and class names.

    `accuracy` scores the model's outputs on `inputs` with the run's own task metric;
    `masks` are the samples' object masks where the dataset has them (Jacquard).
    """

    model: nn.Module
    inputs: Tensor
    labels: np.ndarray
    classes: list[str]
    layers: tuple[str, ...]
    accuracy: Callable[[Tensor], float]
    masks: np.ndarray | None = None


def grasp_sample(
    ckpt: Path,
    data_dir: Path,
    split: str,
    per_class: int,
    seed: int,
    task: str | None = None,
    rotations: bool = True,
) -> ModelSample:
    """An AlexnetMap run (a checkpoint, or an original .pth of `task`) with `per_class`
    samples of every class: (view, rotation) pairs as the original's id list, or views at
    rotation 0 only without `rotations`; RGB-D input as in evaluation."""
    module = grasp.load(ckpt, task)
    [dataset] = task_datasets(data_dir, module.hparams.task, (split,))
    views = dataset.source
    candidates = np.arange(0, len(dataset), 1 if rotations else TURNS)
    labels = views.labels[candidates // TURNS]
    picks = candidates[sample_per_class(labels, per_class, seed, views.classes)]
    items = [dataset[int(i)] for i in picks]
    inputs = torch.stack([item[0] for item in items])
    labels = views.labels[picks // TURNS]
    masks = np.stack([np.rot90(views[int(i) // TURNS]["mask"], i % TURNS) for i in picks])
    if module.hparams.task == "cls":
        accuracy = partial(class_accuracy, labels=torch.from_numpy(labels))
    else:
        grasps = [g[~torch.isnan(g[:, 0])].numpy() for *_, g in items]
        accuracy = partial(grasp_accuracy, gt_rectangles=grasps)
    classes = [views.classes[label] for label in sorted(views.classes)]
    return ModelSample(module.model.eval(), inputs, labels, classes, GRASP_LAYERS, accuracy, masks)


def cornet_sample(ckpt: Path, data_dir: Path, split: str, per_class: int, seed: int) -> ModelSample:
    """A CORnet run with `per_class` images of every class, resized and centre-cropped."""
    images = PackedImages(data_dir, split)
    model, hparams = cornet.load(ckpt, images.num_classes)
    transform = eval_transform(hparams["resize_size"], hparams["crop_size"])
    picks = images.sample_per_class(per_class, seed)
    raw = torch.stack([transform(images.image(i)) for i in picks])
    labels = images.labels[picks]
    classifier = ImageClassifier(model, {})  # normalises as in training and testing
    inputs, _ = classifier.on_after_batch_transfer((raw, torch.from_numpy(labels)), 0)
    targets = torch.from_numpy(labels)

    def accuracy(logits: Tensor) -> float:
        return float(topk_correct(logits, targets, (1,))[0]) / len(targets)

    return ModelSample(model.eval(), inputs, labels, list(images.classes), CORNET_LAYERS, accuracy)


def model_sample(
    experiment: str,
    ckpt: Path,
    data_dir: Path,
    split: str,
    per_class: int,
    seed: int,
    task: str | None = None,
    rotations: bool = True,
) -> ModelSample:
    """The analysed run of `experiment` with its seeded per-class sample of `split`
    (`task` and `rotations`: Jacquard only, see `grasp_sample`)."""
    try:
        if experiment == "grasp":
            return grasp_sample(ckpt, data_dir, split, per_class, seed, task, rotations)
        return cornet_sample(ckpt, data_dir, split, per_class, seed)
    except ValueError as exc:  # a class with fewer than `per_class` images
        raise BadInputError(data_dir, f"split {split}: {exc}") from exc
