"""`visionflow wlasl prepare`: decode, crop, resize and pack one WLASL split."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common
from visionflow.data import WLASL_CROPS


def _prepare(args: argparse.Namespace) -> None:
    from visionflow.data.wlasl import prepare

    prepare(
        args.index,
        args.videos,
        args.out,
        args.split,
        args.size,
        args.min_frames,
        args.on_bad_sample,
        args.workers,
        args.split_file,
        args.crop,
    )


def register(areas: common.Areas) -> None:
    """`visionflow wlasl ...`."""
    verbs = common.add_area(areas, "wlasl", "WLASL sign-language video dataset")
    p = common.add_verb(verbs, "prepare", _prepare, "decode, crop, resize and pack one split")
    p.add_argument("--index", type=Path, required=True, help="WLASL index JSON")
    p.add_argument("--videos", type=Path, required=True, help="folder of <video_id>.mp4")
    p.add_argument("--out", type=Path, required=True, help="prepared store directory")
    p.add_argument("--split", required=True, help="aslN: the first N glosses of the index")
    p.add_argument(
        "--split-file",
        type=Path,
        help="an I3D split file (nslt_N.json) choosing the instances; the index names the glosses",
    )
    p.add_argument(
        "--crop",
        choices=WLASL_CROPS,
        default="none",
        help="none: the centre square of each frame (default, as SLR); bbox: a square around"
        " the index's bbox",
    )
    p.add_argument(
        "--size", type=int, default=256, help="side of the stored square frames (default 256)"
    )
    p.add_argument(
        "--min-frames", type=int, default=10, help="shorter clips are skipped (default 10)"
    )
    common.add_conversion(p)
