"""`visionflow cvat <verb>`: CVAT annotations into one table, the train/val split, its map."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common


def _prepare(args: argparse.Namespace) -> None:
    from visionflow.data.cvat.mongo import with_env_credentials
    from visionflow.data.cvat.table import prepare

    mongo = with_env_credentials(args.mongo) if args.source == "mongo" else None
    source = "mongo" if args.source == "mongo" else "auto"
    prepare(
        args.root, args.out, args.tasks, args.labels, args.on_bad_sample, mongo, source,
        args.crop_4k,
    )  # fmt: skip


def _split(args: argparse.Namespace) -> None:
    import pandas as pd

    from visionflow.data.cvat.splits import make_split, write_split

    split = make_split(pd.read_parquet(args.table), args.method, args.root, args.options)
    write_split(args.out_dir, split)
    counts = split["split"].value_counts()
    print(f"{counts.get('train', 0)} train and {counts.get('val', 0)} val frames ({args.method})")


def _plot_split(args: argparse.Namespace) -> None:
    from visionflow.data.cvat.splits import read_feature_split
    from visionflow.experiments.detection.figures import plot_tsne_split

    plot_tsne_split(
        read_feature_split(args.split), args.out, title="Frames in feature space (t-SNE)"
    )


def register(areas: common.Areas) -> None:
    """`visionflow cvat ...`."""
    verbs = common.add_area(areas, "cvat", "CVAT annotations of the detection experiment")
    p = common.add_verb(verbs, "prepare", _prepare, "one annotation table from CVAT/COCO/MongoDB")
    p.add_argument("--root", type=Path, required=True, help="one folder per task")
    p.add_argument("--out", type=Path, required=True, help="folder for annotations.parquet")
    p.add_argument(
        "--tasks",
        type=common.json_value,
        default=[],
        help="JSON list of task names (default [], all)",
    )
    p.add_argument(
        "--labels",
        type=common.json_value,
        default=[],
        help="JSON list of class names (default [], all found)",
    )
    p.add_argument(
        "--source",
        choices=["files", "mongo"],
        default="files",
        help="task folders' exports, or a MongoDB collection (default files)",
    )
    p.add_argument(
        "--mongo",
        type=common.json_object,
        default={},
        help="JSON {uri, database, collection} for --source mongo (default {}; uri is needed)",
    )
    p.add_argument(
        "--on-bad-sample",
        choices=["error", "skip"],
        default="error",
        help="stop at a bad annotation, or skip and record it (default error)",
    )
    p.add_argument(
        "--crop-4k",
        action="store_true",
        help="crop 3840 x 2160 frames to their bottom centre 1920 x 1080, as the original",
    )
    p = common.add_verb(verbs, "split", _split, "train/val split of the frames")
    p.add_argument("--table", type=Path, required=True, help="annotations.parquet")
    p.add_argument("--root", type=Path, required=True, help="raw CVAT folder (the frames)")
    p.add_argument(
        "--method",
        choices=["every_nth", "list", "feature_space"],
        required=True,
        help="how frames are chosen",
    )
    p.add_argument(
        "--options",
        type=common.json_object,
        default={},
        help="JSON options of the method (default {}; `list` needs path, `feature_space`"
        " clusters, val_fraction and seed)",
    )
    p.add_argument("--out-dir", type=Path, required=True, help="for split.csv, clusters.csv")
    p = common.add_verb(verbs, "plot-split", _plot_split, "t-SNE scatter of a feature-space split")
    p.add_argument("--split", type=Path, required=True, help="split.csv of a feature-space split")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
