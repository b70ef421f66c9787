"""`visionflow jacquard <verb>`: convert Jacquard, and look at a stored view's grasp map."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common
from visionflow.data.jacquard import DEFAULT_CLASSES, SPLITS


def _prepare(args: argparse.Namespace) -> None:
    from visionflow.data.jacquard.prepare import prepare

    prepare(
        args.root,
        args.out,
        args.classes,
        args.size,
        args.on_bad_sample,
        args.workers,
        args.relabel,
        args.splits,
    )


def _show(args: argparse.Namespace) -> None:
    from visionflow.data.jacquard.store import view_rectangles
    from visionflow.experiments.grasp.figures import plot_grasp_rectangles

    rgb, corners, split = view_rectangles(
        args.data, args.object, args.view, args.rotation, args.threshold
    )
    title = (
        f"{args.object} ({split}), rotated {90 * args.rotation} deg: "
        f"{len(corners)} rectangles from the map"
    )
    plot_grasp_rectangles(rgb, args.out, corners, title=title)


def register(areas: common.Areas) -> None:
    """`visionflow jacquard ...`."""
    verbs = common.add_area(areas, "jacquard", "Jacquard grasping dataset")
    p = common.add_verb(verbs, "prepare", _prepare, "resize, build grasp maps, pack")
    p.add_argument("--root", type=Path, required=True, help="folder with train/ and test/")
    p.add_argument("--out", type=Path, required=True, help="prepared store directory")
    p.add_argument(
        "--classes",
        nargs="+",
        default=list(DEFAULT_CLASSES),
        help=f"class folders (default {' '.join(DEFAULT_CLASSES)})",
    )
    p.add_argument(
        "--splits",
        nargs="+",
        default=list(SPLITS),
        help="split folders read; others are named in a warning (default train test)",
    )
    p.add_argument("--size", type=int, default=224, help="stored side in pixels (default 224)")
    p.add_argument("--relabel", type=Path, help="edited relabel CSV (id, new_class)")
    common.add_conversion(p)
    p = common.add_verb(verbs, "show", _show, "draw a stored map's rectangles on its RGB")
    p.add_argument("object", help="object id (or a unique prefix of it)")
    common.add_data(p, "prepared Jacquard store")
    p.add_argument("--view", type=int, help="view number n of the object (default: its first)")
    p.add_argument(
        "--rotation", type=int, choices=range(4), default=0, help="quarter turns (default 0)"
    )
    p.add_argument(
        "--threshold", type=float, default=0.5, help="minimum map coverage (default 0.5)"
    )
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
