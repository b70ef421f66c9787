"""The start-up check of the workflow: every active study's data root exists (unless its demo
generates it there) and every file the config names exists; all problems at once, one line
each with its key."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from visionflow.config import ConfigError, source_of
from visionflow.experiments.saliency import task_weights_path
from visionflow.preflight import DATASETS

Named = tuple[str, list[Any], Any]  # (study, key path, path the config names)


def demo_generates(config: Mapping[str, Any], dataset: str) -> bool:
    """Whether the dataset's demo writes the configured root (so it need not exist yet)."""
    section = config[dataset]
    demo = section.get("demo")
    return bool(demo) and os.path.normpath(section["root"]) == os.path.normpath(demo["out"])


def data_roots(config: Mapping[str, Any]) -> Iterator[Named]:
    """(study, key, root) of every active study's raw dataset."""
    for study, dataset in DATASETS.items():
        if study in config["experiments"]:
            yield study, [dataset, "root"], config[dataset]["root"]


def named_files(config: Mapping[str, Any]) -> Iterator[Named]:
    """(study, key, path) of every weights file, table or folder the config names."""
    yield "cornet", ["cornet", "pretrained"], config["cornet"]["pretrained"]
    yield "grasp", ["grasp", "alexnet_weights"], config["grasp"]["alexnet_weights"]
    for task, path in config["grasp"]["weights"].items():
        yield "grasp", ["grasp", "weights", task], path
    yield "grasp", ["jacquard", "relabel"], config["jacquard"]["relabel"]
    if isinstance(config["slr"]["pretrained"], str):
        yield "slr", ["slr", "pretrained"], config["slr"]["pretrained"]
    for index, variant in enumerate(config["detection"]["variants"]):
        yield "detection", ["detection", "variants", index, "weights"], variant.get("weights")
    split = config["cvat"]["split"]
    yield "detection", ["cvat", "split", "embedding_weights"], split["embedding_weights"]
    if split["method"] == "list":
        yield "detection", ["cvat", "split", "list"], split["list"]
    saliency = config["saliency"]
    yield "saliency", ["saliency", "model", "weights"], saliency["model"]["weights"]
    yield "saliency", ["saliency", "run", "images"], saliency["run"]["images"]
    yield "saliency", ["saliency", "load_model"], saliency["load_model"]
    if "pretrain_weights" not in saliency["skip"] and saliency["weights_dir"]:
        for task in saliency["pretrain_weights"]["tasks"] or saliency["tasks"]:
            path = task_weights_path(saliency["weights_dir"], task)
            yield "saliency", ["saliency", "weights_dir"], path
    alexnet = config["analysis"]["rsm"]["reference"]["alexnet"]
    yield "analysis", ["analysis", "rsm", "reference", "alexnet"], alexnet
    clip = config["analysis"]["clip"]
    yield "analysis", ["analysis", "clip", "weights"], clip["weights"]
    yield "analysis", ["analysis", "clip", "arch_config"], clip["arch_config"]


def unset_files(config: Mapping[str, Any]) -> Iterator[tuple[str, list[Any], str]]:
    """(study, key, why) of every weights file the config must name but leaves unset."""
    saliency = config["saliency"]
    if not demo_generates(config, "saliency") and not saliency["model"]["weights"]:
        yield "saliency", ["saliency", "model", "weights"], (
            "real data needs the torchvision MobileNetV2 ImageNet state dict the original"
            " always starts from (mobilenet_v2-b0353104.pth)")  # fmt: skip
    grasp = config["grasp"]
    trained = [task for task in grasp["tasks"] if not grasp["weights"].get(task)]
    if trained and grasp["unfreeze_epoch"] is not None and not grasp["alexnet_weights"]:
        yield "grasp", ["grasp", "alexnet_weights"], (
            "must name torchvision's AlexNet state dict when unfreeze_epoch is set (the frozen"
            " layers start at ImageNet's weights)")  # fmt: skip


def problems(config: Mapping[str, Any]) -> list[tuple[list[Any], str]]:
    """(key path, problem) of every missing root, missing named file and unset required
    weights file of the active studies."""
    found = []
    for _, key, root in data_roots(config):
        demo = config[key[0]].get("demo")
        if not os.path.exists(root) and not demo_generates(config, key[0]):
            hint = (
                demo and f" (the demo dataset is {demo['out']}; root must be that path to use it)"
            )
            found.append((key, f"{root} does not exist" + (hint or "")))
    for study, key, path in named_files(config):
        if study in config["experiments"] and path and not os.path.exists(path):
            found.append((key, f"{path} does not exist"))
    active = config["experiments"]
    return found + [(key, why) for study, key, why in unset_files(config) if study in active]


def check(config: Mapping[str, Any], files: Sequence[str], overrides: Mapping[str, Any]) -> None:
    """ConfigError listing every problem, one line each: the file (or --config) the key came
    from, the key and what is wrong."""
    lines = [
        f"{source_of(key, files, overrides)}: {'.'.join(map(str, key))}: {problem}"
        for key, problem in problems(config)
    ]
    if lines:
        raise ConfigError("\n".join(lines))
