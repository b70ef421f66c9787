"""`visionflow miniimagenet prepare`: decode, resize and pack MiniImageNet once."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common


def _prepare(args: argparse.Namespace) -> None:
    from visionflow.data.miniimagenet import prepare

    prepare(args.root, args.out, args.short_side, args.on_bad_sample, args.workers)


def register(areas: common.Areas) -> None:
    """`visionflow miniimagenet ...`."""
    verbs = common.add_area(areas, "miniimagenet", "MiniImageNet dataset")
    p = common.add_verb(verbs, "prepare", _prepare, "decode, resize and pack once")
    p.add_argument("--root", type=Path, required=True, help="folder with train/ and val/")
    p.add_argument("--out", type=Path, required=True, help="prepared store directory")
    p.add_argument(
        "--short-side", type=int, default=256, help="stored short side in pixels (default 256)"
    )
    common.add_conversion(p)
