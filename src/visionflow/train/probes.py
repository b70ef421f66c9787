"""A trained model with a fixed, seeded sample of inputs, preprocessed as for its evaluation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from visionflow.data.jacquard import PackedJacquard
from visionflow.data.miniimagenet import PackedImages
from visionflow.io import BadInputError, safe_torch_load
from visionflow.metrics.classification import topk_correct
from visionflow.metrics.grasp import class_accuracy, grasp_accuracy
from visionflow.models.cornet import load_cornet_weights
from visionflow.train import cornet, grasp
from visionflow.train.classifier import ImageClassifier

# The layers the original analyses: AlexnetMap's RGB conv and the four convs after it.
GRASP_LAYERS = ("rgb_features.0", "features.0", "features.4", "features.7", "features.10")
# CORnet's areas; V1, V2 and V4 as on the last pass of the feedback loop.
CORNET_LAYERS = ("V1", "V2", "V4", "IT")


@dataclass
class Probe:
    """A model in eval mode, sampled inputs (in class blocks), their labels and class names.

    `accuracy` scores the model's outputs on `inputs` with the run's own task metric.
    """

    model: nn.Module
    inputs: Tensor
    labels: np.ndarray
    classes: list[str]
    layers: tuple[str, ...]
    accuracy: Callable[[Tensor], float]


def grasp_probe(ckpt: Path, data_dir: Path, split: str, per_class: int, seed: int) -> Probe:
    """An AlexnetMap run with `per_class` views of every class (rotation 0, RGB-D input)."""
    module = grasp.load_module(ckpt)
    views = PackedJacquard(data_dir, split)
    picks = views.sample_per_class(per_class, seed)
    inputs = torch.stack([grasp.rgbd_input(views[i]["rgb"], views[i]["depth"]) for i in picks])
    labels = views.labels[picks]
    if module.hparams.task == "cls":
        accuracy = partial(class_accuracy, labels=torch.from_numpy(labels))
    else:
        accuracy = partial(grasp_accuracy, gt_rectangles=[views.grasps[i] for i in picks])
    classes = [views.classes[label] for label in sorted(views.classes)]
    return Probe(module.model.eval(), inputs, labels, classes, GRASP_LAYERS, accuracy)


def cornet_probe(ckpt: Path, data_dir: Path, split: str, per_class: int, seed: int) -> Probe:
    """A CORnet run with `per_class` images of every class, resized and centre-cropped."""
    hparams = dict(safe_torch_load(ckpt).get("hyper_parameters", {}))
    if "outer_times" not in hparams:
        raise BadInputError(ckpt, "not a visionflow CORnet checkpoint (no model settings)")
    images = PackedImages(data_dir, split)
    model = cornet.build_model(hparams | {"num_classes": images.num_classes})
    load_cornet_weights(model, ckpt)
    transform = cornet.eval_transform(hparams["resize_size"], hparams["crop_size"])
    picks = images.sample_per_class(per_class, seed)
    raw = torch.stack([transform(images.image(i)) for i in picks])
    labels = images.labels[picks]
    classifier = ImageClassifier(model, {})  # normalises as in training and testing
    inputs, _ = classifier.on_after_batch_transfer((raw, torch.from_numpy(labels)), 0)
    targets = torch.from_numpy(labels)

    def accuracy(logits: Tensor) -> float:
        return float(topk_correct(logits, targets, (1,))[0]) / len(targets)

    return Probe(model.eval(), inputs, labels, list(images.classes), CORNET_LAYERS, accuracy)


PROBES = {"grasp": grasp_probe, "cornet": cornet_probe}
