"""The layout of every active data root and its first samples, read by the package's own
readers: each problem is one line naming the config key and the file."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from visionflow.data.conversion import Problem
from visionflow.io import BadInputError
from visionflow.preflight import DATASETS


@dataclass
class Found:
    """What reading a data root found: problems (the conversion would stop) and notes
    (samples the conversion would skip); `read`: how many samples were read."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    read: int = 0


def _decoded(path: Path) -> str | None:
    """Why the image at `path` does not decode in full to RGB, or None."""
    try:
        with Image.open(path) as image:
            image.convert("RGB")
    except Exception as exc:  # PIL raises many types for foreign or damaged files
        return f"corrupt or unreadable image ({type(exc).__name__}: {exc})"
    return None


def miniimagenet(config: Mapping[str, Any], n: int, found: Found) -> None:
    """train/ and val/ class folders listed; the first `n` images decoded."""
    from visionflow.data.miniimagenet import scan_root

    skipped: list[Problem] = []
    items = scan_root(Path(config["miniimagenet"]["root"]), config["on_bad_sample"], skipped)
    found.notes += skipped
    for source in items["source"][:n]:
        if why := _decoded(source):
            found.problems.append((str(source), why))
    found.read = min(n, len(items))


def jacquard(config: Mapping[str, Any], n: int, found: Found) -> None:
    """Split, class and object folders listed; the first `n` views' RGB, depth TIFF, mask and
    grasp file read and checked against each other."""
    from visionflow.data.jacquard.raw import load_sample, scan

    section = config["jacquard"]
    skipped: list[Problem] = []
    rows = scan(Path(section["root"]), section["classes"], config["on_bad_sample"], skipped)
    found.notes += skipped
    for stem in rows["stem"][:n]:
        try:
            load_sample(stem, section["size"])
        except BadInputError as exc:
            found.problems.append((exc.path, exc.problem))
    found.read = min(n, len(rows))


def wlasl_items(config: Mapping[str, Any], skipped: list[Problem]) -> Any:
    """The instances of the largest split the SLR runs train on (index or split file)."""
    from visionflow.data.wlasl_index import split_items, split_size

    section, root = config["wlasl"], Path(config["wlasl"]["root"])
    split = max((run["split"] for run in config["slr"]["runs"]), key=split_size)
    split_file = section["split_file"]
    if split_file:
        split_file = root / split_file.replace("{n}", split.removeprefix("asl"))
    glosses = split_size(split)
    return split_items(root / section["index"], split_file, glosses, config["on_bad_sample"],
                       skipped)  # fmt: skip


def wlasl(config: Mapping[str, Any], n: int, found: Found) -> None:
    """The index (and split file) parsed; the first `n` videos opened and decoded. A video
    that does not decode is skipped by the conversion, so it is a note, not a problem."""
    from visionflow.data.wlasl import decode_clip

    section = config["wlasl"]
    items = wlasl_items(config, found.notes)
    videos = Path(section["root"]) / section["videos"]
    for row in items.to_dict("records")[:n]:
        video = videos / f"{row['video_id']}.mp4"
        task = (video, row, section["size"], section["min_frames"], section["crop"])
        clip, why = decode_clip(task)
        if clip is None:
            found.notes.append((str(video), f"skipped by the conversion: {why}"))
    found.read = min(n, len(items))


def cvat(config: Mapping[str, Any], n: int, found: Found) -> None:
    """Every task's annotation file parsed and checked; the first `n` frames' images decoded."""
    from visionflow.data.cvat.table import build_table

    section = config["cvat"]
    if section["source"] == "mongo":
        found.notes.append((section["mongo"]["uri"], "annotations in MongoDB, not read"))
        return
    root = Path(section["root"])
    table, _, skipped = build_table(root, section["annotations_list"], section["labels"],
                                    config["on_bad_sample"])  # fmt: skip
    found.notes += skipped
    frames = table.drop_duplicates(["task", "frame"])[:n]
    for image in frames["image"]:
        path = root / image
        if why := _decoded(path):
            found.problems.append((str(path), why))
    found.read = len(frames)


def saliency(config: Mapping[str, Any], n: int, found: Found) -> None:
    """images/ and saliencies/<task>/ listed; the first `n` images and their maps read."""
    from visionflow.data.saliency import convert_image, scan_root

    skipped: list[Problem] = []
    root = Path(config["saliency"]["root"])
    images, _, maps, _ = scan_root(root, config["on_bad_sample"], skipped)
    found.notes += skipped
    for image in images[:n]:
        _, _, problems, _ = convert_image((image, maps[image.stem], (1, 1)))
        found.problems += problems
    found.read = min(n, len(images))


READERS: dict[str, Callable[[Mapping[str, Any], int, Found], None]] = {
    "miniimagenet": miniimagenet,
    "jacquard": jacquard,
    "wlasl": wlasl,
    "cvat": cvat,
    "saliency": saliency,
}


def check_roots(config: Mapping[str, Any]) -> dict[str, Found]:
    """What reading each active study's existing data root found, by dataset."""
    n = config["preflight"]["samples"]
    results = {}
    for study, dataset in DATASETS.items():
        if study in config["experiments"] and os.path.isdir(config[dataset]["root"]):
            found = results[dataset] = Found()
            try:
                READERS[dataset](config, n, found)
            except BadInputError as exc:
                found.problems.append((exc.path, exc.problem))
    return results
