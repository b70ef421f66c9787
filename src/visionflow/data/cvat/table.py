"""CVAT box annotations (XML for images 1.1, COCO JSON or obdb's MongoDB) into one table.

Every source becomes the same row dicts, one per box plus one background row (label None,
NaN box) per frame without boxes; `build_table` checks them against the images and the
configured labels and `prepare` writes annotations.parquet, labels.json, skipped.csv and
info.json. Boxes sticking out of the image by at most CLIP_TOLERANCE px are clipped to it;
boxes further out are rejected. A rejected frame is dropped whole; a rejected box drops only
that box (a frame left without boxes stays as a background frame). Image names that would
leave the task's images folder (`../x.jpg`, `/etc/passwd`) are always rejected and never
touched on disk.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd

from visionflow.data.conversion import POLICIES, Problem, reject
from visionflow.data.cvat import crop
from visionflow.data.cvat.coco import read_coco
from visionflow.data.cvat.cvat_xml import read_cvat_xml
from visionflow.data.cvat.mongo import mongo_settings, read_mongo, redact
from visionflow.data.cvat.rows import BACKGROUND, COLUMNS, DTYPES, Row, frame_rows, task_problem
from visionflow.io import BadInputError, atomic_directory, write_json, write_table
from visionflow.progress import progress_bar

SOURCES = ("auto", "xml", "coco", "mongo")
XML_FILE, COCO_FILE = "annotations.xml", "annotations.json"
CLIP_TOLERANCE = 1.0  # px a box may stick out of its image and still be clipped to it


def _box_problem(row: Row, labels: set[str]) -> str | None:
    """Why a box row cannot be kept, or None."""
    xmin, ymin, xmax, ymax = (row[k] for k in ("xmin", "ymin", "xmax", "ymax"))
    width, height = row["width"], row["height"]
    if not (
        math.isfinite(xmin) and math.isfinite(ymin) and math.isfinite(xmax) and math.isfinite(ymax)
    ):
        return "has a non-finite coordinate"
    if not isinstance(row["label"], str) or (labels and row["label"] not in labels):
        return f"label {row['label']!r} is not one of the configured labels {sorted(labels)}"
    if xmax <= xmin or ymax <= ymin:
        return "has zero or negative size"
    tol = CLIP_TOLERANCE
    if xmin < -tol or ymin < -tol or xmax > width + tol or ymax > height + tol:
        return f"sticks out of the {width} x {height} image by more than {tol:g} px"
    if xmin >= width or ymin >= height or xmax <= 0 or ymax <= 0:
        return f"lies outside the {width} x {height} image"
    return None


def _clipped(row: Row) -> Row:
    """The box row with its box clipped to the image."""
    width, height = row["width"], row["height"]
    return row | {
        "xmin": max(row["xmin"], 0.0),
        "ymin": max(row["ymin"], 0.0),
        "xmax": min(row["xmax"], float(width)),
        "ymax": min(row["ymax"], float(height)),
    }


def _checked(
    rows: list[Row],
    root: Path,
    labels: set[str],
    sources: Mapping[str, str],
    on_bad_sample: str,
    skipped: list[Problem],
) -> list[Row]:
    """The rows whose image exists and whose boxes are valid (clipped); the rest rejected."""
    kept, folder = [], str(root)
    frames = groupby(rows, key=itemgetter("task", "frame"))
    for (task, frame), group in progress_bar(frames, desc="checking frames", unit="frame"):
        rows_of_frame = list(group)
        where = f"task {task!r}, frame {frame}"
        image = rows_of_frame[0]["image"]
        if not os.path.isfile(os.path.join(folder, image)):
            reject(root / image, f"{where}: image file does not exist", on_bad_sample, skipped)
            continue
        boxes = []
        for row in rows_of_frame:
            if row["label"] is None and math.isnan(row["xmin"]):
                continue
            if problem := _box_problem(row, labels):
                box = ", ".join(f"{row[k]:g}" for k in ("xmin", "ymin", "xmax", "ymax"))
                reason = f"{where}: box {row['label']!r} ({box}) {problem}"
                reject(sources[task], reason, on_bad_sample, skipped)
                continue
            inside = row["xmin"] >= 0 and row["ymin"] >= 0
            inside = inside and row["xmax"] <= row["width"] and row["ymax"] <= row["height"]
            boxes.append(row if inside else _clipped(row))
        kept += frame_rows(rows_of_frame[0] | BACKGROUND, boxes)
    return kept


def _task_names(root: Path, tasks: Sequence[str]) -> list[str]:
    """The listed tasks (each must have a folder under `root`), or every task folder."""
    if not root.is_dir():
        raise BadInputError(root, "CVAT raw folder does not exist")
    if not tasks:
        names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not names:
            raise BadInputError(root, "holds no task folder")
        return names
    if len(set(tasks)) < len(tasks):
        raise ValueError(f"tasks lists a task twice: {list(tasks)}")
    for task in tasks:
        if problem := task_problem(task):
            raise BadInputError(root, problem)
        if not (root / task).is_dir():
            raise BadInputError(root / task, f"task {task!r} has no folder under {root}")
    return list(tasks)


def _reader(folder: Path, source: str) -> tuple[Path, Callable[..., list[Row]]]:
    """The annotation file of a task folder and its reader."""
    xml, coco = folder / XML_FILE, folder / COCO_FILE
    if source == "xml" or (source == "auto" and xml.is_file()):
        return xml, read_cvat_xml
    if source == "coco" or coco.is_file():
        return coco, read_coco
    raise BadInputError(folder, f"task {folder.name!r} has neither {XML_FILE} nor {COCO_FILE}")


def _file_rows(
    root: Path, tasks: Sequence[str], source: str, on_bad_sample: str, skipped: list[Problem]
) -> tuple[list[Row], dict[str, str]]:
    """Rows of every task's annotation file, and each task's file as a message source."""
    rows, sources = [], {}
    for task in progress_bar(_task_names(root, tasks), desc="reading CVAT tasks", unit="task"):
        try:
            path, read = _reader(root / task, source)
            sources[task] = str(path)
            rows += read(path, task, on_bad_sample, skipped)
        except BadInputError as exc:  # the whole file is unusable
            reject(exc.path, exc.problem, on_bad_sample, skipped)
    return rows, sources


def _table(rows: list[Row]) -> pd.DataFrame:
    """The rows as the normalised table: COLUMNS, fixed dtypes, sorted by task, frame, box."""
    rows.sort(key=itemgetter("task", "frame"))  # stable: boxes keep their file order
    return pd.DataFrame(rows, columns=COLUMNS).astype(DTYPES)


def build_table(
    root: str | Path,
    tasks: Sequence[str],
    labels: Sequence[str],
    on_bad_sample: str = "error",
    source: str = "auto",
    mongo: Mapping[str, Any] | None = None,
    crop_4k: bool = False,
) -> tuple[pd.DataFrame, list[str], list[Problem]]:
    """(annotation table, class names, skipped (source, reason) pairs) of the CVAT tasks.

    `source` "auto" reads MongoDB if `mongo` ({uri, database, collection, meta_collection,
    client}) is given, else each task's annotations.xml or, failing that, annotations.json.
    Empty `tasks` means all; empty `labels` means every label found, sorted. `crop_4k`
    crops 3840 x 2160 frames as the original did (crop.py).
    """
    if on_bad_sample not in POLICIES:
        raise ValueError(f"on_bad_sample must be one of {POLICIES}, got {on_bad_sample!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if len(set(labels)) < len(labels):
        raise ValueError(f"labels lists a class twice: {list(labels)}")
    root, skipped = Path(root), []
    if source == "mongo" or (source == "auto" and mongo is not None):
        if mongo is None:
            raise ValueError("source 'mongo' needs the mongo settings (uri, database, collection)")
        settings = mongo_settings(mongo)
        rows = read_mongo(
            settings["uri"], settings["database"], settings["collection"], tasks,
            settings["client"], meta_collection=settings["meta_collection"],
            username=settings["username"], password=settings["password"],
            on_bad_sample=on_bad_sample, skipped=skipped,
        )  # fmt: skip
        where = f"{redact(settings['uri'])}/{settings['database']}.{settings['collection']}"
        sources = {row["task"]: where for row in rows}
    else:
        rows, sources = _file_rows(root, tasks, source, on_bad_sample, skipped)
    if crop_4k:
        rows = crop.crop_4k(rows, sources, skipped)
    rows = _checked(rows, root, set(labels), sources, on_bad_sample, skipped)
    if not rows:
        raise BadInputError(root, f"no usable frame in tasks {list(tasks) or 'all'}")
    table = _table(rows)
    names = list(labels) or sorted(table["label"].dropna().unique().tolist())
    return table, names, skipped


def prepare(
    root: str | Path,
    out_dir: str | Path,
    tasks: Sequence[str],
    labels: Sequence[str],
    on_bad_sample: str = "error",
    mongo: Mapping[str, Any] | None = None,
    source: str = "auto",
    crop_4k: bool = False,
) -> pd.DataFrame:
    """Build the table and write annotations.parquet, labels.json, skipped.csv, info.json.

    The folder `out_dir` appears complete or not at all.
    """
    table, names, skipped = build_table(root, tasks, labels, on_bad_sample, source, mongo, crop_4k)
    boxes = table.dropna(subset=["label"])
    frames = table.drop_duplicates(["task", "frame"])
    counts = {
        "frames": len(frames),
        "boxes": len(boxes),
        "background_frames": int(table["label"].isna().sum()),
        "skipped": len(skipped),
        "boxes_per_label": {name: int((boxes["label"] == name).sum()) for name in names},
    }
    mongo_info = None
    if mongo is not None:
        settings = mongo_settings(mongo)
        mongo_info = {k: settings[k] for k in ("database", "collection", "meta_collection")}
        mongo_info["uri"] = redact(settings["uri"])
    info = {
        "root": str(root),
        "tasks": frames["task"].unique().tolist(),
        "labels": names,
        "on_bad_sample": on_bad_sample,
        "crop_4k": crop_4k,
        "mongo": mongo_info,
        "counts": counts,
    }
    with atomic_directory(out_dir) as staging:
        write_table(staging / "annotations.parquet", table)
        write_json(staging / "labels.json", names)
        write_table(staging / "skipped.csv", pd.DataFrame(skipped, columns=["source", "reason"]))
        write_json(staging / "info.json", info)
    return table
