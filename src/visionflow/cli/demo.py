"""`visionflow demo <dataset>`: small deterministic raw datasets in their real formats."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common
from visionflow.data.jacquard import DEFAULT_CLASSES


def _miniimagenet(args: argparse.Namespace) -> None:
    from visionflow.demo.miniimagenet import generate

    generate(args.out, args.classes, args.train_per_class, args.val_per_class, args.seed)


def _jacquard(args: argparse.Namespace) -> None:
    from visionflow.demo.jacquard import generate

    generate(
        args.out,
        args.classes,
        args.objects_per_class,
        args.views_per_object,
        size=args.size,
        seed=args.seed,
    )


def _wlasl(args: argparse.Namespace) -> None:
    from visionflow.demo.wlasl import generate

    per_split = {"train": args.train, "val": args.val, "test": args.test}
    generate(args.out, args.glosses, per_split, seed=args.seed)


def _cvat(args: argparse.Namespace) -> None:
    from visionflow.demo.cvat import generate

    generate(args.out, args.tasks, args.frames_per_task, args.size, args.seed, tuple(args.labels))


def _saliency(args: argparse.Namespace) -> None:
    from visionflow.demo.saliency import generate

    generate(args.out, images=args.images, size=args.size, seed=args.seed)


def _number(parser: argparse.ArgumentParser, flag: str, default: int, help: str) -> None:
    parser.add_argument(flag, type=int, default=default, help=f"{help} (default {default})")


def register(areas: common.Areas) -> None:
    """`visionflow demo ...`: one verb per dataset."""
    verbs = common.add_area(areas, "demo", "generate small raw datasets in their real formats")
    parsers = {
        "miniimagenet": common.add_verb(
            verbs, "miniimagenet", _miniimagenet, "MiniImageNet-style JPEG folders"
        ),
        "jacquard": common.add_verb(
            verbs, "jacquard", _jacquard, "Jacquard-style RGB/TIFF/mask/grasps folders"
        ),
        "wlasl": common.add_verb(verbs, "wlasl", _wlasl, "WLASL-style index JSON and mp4 videos"),
        "cvat": common.add_verb(verbs, "cvat", _cvat, "CVAT for images 1.1 tasks of simple shapes"),
        "saliency": common.add_verb(
            verbs, "saliency", _saliency, "images and per-task saliency maps"
        ),
    }
    for parser in parsers.values():
        parser.add_argument("--out", type=Path, required=True, help="folder to write")
        _number(parser, "--seed", 0, "random seed")
    p = parsers["miniimagenet"]
    _number(p, "--classes", 10, "classes")
    _number(p, "--train-per-class", 60, "train images per class")
    _number(p, "--val-per-class", 20, "val images per class")
    p = parsers["jacquard"]
    p.add_argument(
        "--classes",
        nargs="+",
        default=list(DEFAULT_CLASSES),
        help=f"class names (default {' '.join(DEFAULT_CLASSES)})",
    )
    _number(p, "--objects-per-class", 6, "objects per class")
    _number(p, "--views-per-object", 2, "views per object")
    _number(p, "--size", 256, "side of the raw images")
    p = parsers["wlasl"]
    _number(p, "--glosses", 10, "glosses")
    _number(p, "--train", 12, "train instances per gloss")
    _number(p, "--val", 3, "val instances per gloss")
    _number(p, "--test", 3, "test instances per gloss")
    p = parsers["cvat"]
    _number(p, "--tasks", 3, "tasks")
    _number(p, "--frames-per-task", 40, "frames per task")
    _number(p, "--size", 128, "frame side")
    p.add_argument(
        "--labels",
        nargs="+",
        default=["circle", "square", "triangle"],
        help="class names (default circle square triangle)",
    )
    p = parsers["saliency"]
    _number(p, "--images", 48, "images")
    _number(p, "--size", 96, "image side")
