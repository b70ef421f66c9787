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

import functools
import json
import math
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any
from xml.parsers.expat import ErrorString

import pandas as pd
from tqdm import tqdm

from visionflow.data.conversion import POLICIES, Problem, reject
from visionflow.io import BadInputError, atomic_directory, write_json, write_table

COLUMNS = [
    "task", "frame", "image", "width", "height", "label",
    "xmin", "ymin", "xmax", "ymax", "attributes",
]  # fmt: skip
DTYPES = {"frame": "int64", "width": "int64", "height": "int64"} | dict.fromkeys(
    ("xmin", "ymin", "xmax", "ymax"), "float64"
)
SOURCES = ("auto", "xml", "coco", "mongo")
XML_FILE, COCO_FILE, IMAGES = "annotations.xml", "annotations.json", "images"
CLIP_TOLERANCE = 1.0  # px a box may stick out of its image and still be clipped to it
MAX_SIDE = 1 << 20  # px; larger image sizes are taken as corrupt
BACKGROUND = {"label": None, "attributes": "{}"} | dict.fromkeys(
    ("xmin", "ymin", "xmax", "ymax"), math.nan
)
COORDS = ("xtl", "ytl", "xbr", "ybr")
Row = dict[str, Any]


def _int(value: Any) -> int | None:
    """`value` as an int if it is one (or its decimal text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _floats(values: Iterable[Any]) -> list[float] | None:
    """The values as floats, or None if any is not a number."""
    values = list(values)
    if any(isinstance(v, bool) for v in values):
        return None
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


def _task_problem(task: Any) -> str | None:
    """Why `task` cannot name a folder directly under the raw root, or None."""
    if not isinstance(task, str) or task in ("", ".", "..") or "/" in task or "\\" in task:
        return f"task name {task!r} is not a single folder name"
    return None


def _name_problem(name: str) -> str | None:
    """Why image `name` cannot be used as a path inside a task's images folder, or None."""
    parts = name.replace("\\", "/").split("/")
    if not name or "\0" in name or parts[-1] in ("", ".", ".."):
        return f"image name {name!r} is not a file name"
    if not parts[0] or ".." in parts or re.match(r"[A-Za-z]:", name):
        return f"image name {name!r} leaves the task's images folder"
    return None


def _frame_base(
    task: str, frame: Any, name: Any, width: Any, height: Any, seen: dict[int, str]
) -> Row | str:
    """The image columns of a frame, or why the frame is unusable; records it in `seen`."""
    frame_id, w, h = _int(frame), _int(width), _int(height)
    if frame_id is None or not 0 <= frame_id < 1 << 62:
        return f"image id {frame!r} is not a non-negative integer"
    if frame_id in seen:
        return f"duplicate image id {frame_id} (also used by {seen[frame_id]!r})"
    if not isinstance(name, str):
        return f"image name {name!r} is not text"
    if problem := _name_problem(name):
        return problem
    if w is None or h is None or not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        return f"image size {width!r} x {height!r} is not two integers in 1..{MAX_SIDE}"
    seen[frame_id] = name
    image = f"{task}/{IMAGES}/{name}"
    return {"task": task, "frame": frame_id, "image": image, "width": w, "height": h}


def _box(base: Row, label: str, coords: Sequence[float], attributes: str) -> Row:
    """One box row of the frame `base`; `attributes` is JSON object text."""
    xmin, ymin, xmax, ymax = coords
    box = {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
    return {**base, "label": label, **box, "attributes": attributes}


def _extent(points: Sequence[float]) -> list[float]:
    """[xmin, ymin, xmax, ymax] of a flat x, y, x, y, ... point list."""
    xs, ys = points[0::2], points[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


def _frame_rows(base: Row, boxes: list[Row]) -> list[Row]:
    """The frame's box rows, or its single background row if it has none."""
    return boxes or [base | BACKGROUND]


def _xml_shape(element: ET.Element) -> tuple[list[float] | None, str | None]:
    """(box, None) of a <box> or <polygon>, or (None, why it is unusable)."""
    attrib = element.attrib
    if element.tag == "box":
        try:
            return [float(attrib[k]) for k in COORDS], None
        except KeyError:
            return None, f"<box> lacks {', '.join(k for k in COORDS if k not in attrib)}"
        except ValueError:
            return None, f"<box> coordinates {[attrib[k] for k in COORDS]} are not all numbers"
    pairs = [p.split(",") for p in element.get("points", "").split(";")]
    points = _floats(v for pair in pairs for v in pair)
    if not points or len(points) < 6 or any(len(pair) != 2 for pair in pairs):
        return None, f"<polygon> points {element.get('points')!r} are not 3 or more x,y pairs"
    return _extent(points), None


@functools.lru_cache(maxsize=1024)
def _xml_attributes(
    occluded: str | None, z_order: str | None, children: tuple[tuple[str, str], ...]
) -> str:
    """JSON text of a shape's occluded and z_order (as bool and int) and <attribute> children.

    Cached: almost every shape of an export has one of a few combinations.
    """
    attributes: dict[str, Any] = dict(children)
    if occluded is not None:
        value = _int(occluded)
        attributes["occluded"] = bool(value) if value is not None else occluded
    if z_order is not None:
        value = _int(z_order)
        attributes["z_order"] = value if value is not None else z_order
    return json.dumps(attributes, sort_keys=True)


def _xml_frame(
    path: Path,
    task: str,
    image: ET.Element,
    seen: dict[int, str],
    on_bad_sample: str,
    skipped: list[Problem],
) -> list[Row]:
    """The rows of one <image> element (empty if the frame is rejected)."""
    get = image.attrib.get
    where = f"task {task!r}, frame {get('id')}"
    base = _frame_base(task, get("id"), get("name"), get("width"), get("height"), seen)
    if isinstance(base, str):
        reject(path, f"{where}: {base}", on_bad_sample, skipped)
        return []
    boxes = []
    for number, shape in enumerate(e for e in image if e.tag in ("box", "polygon")):
        coords, problem = _xml_shape(shape)
        attrib = shape.attrib
        if coords is None or "label" not in attrib:
            reason = problem or f"<{shape.tag}> lacks label"
            reject(path, f"{where}, shape {number}: {reason}", on_bad_sample, skipped)
            continue
        children = tuple((a.get("name", ""), a.text or "") for a in shape if a.tag == "attribute")
        attributes = _xml_attributes(attrib.get("occluded"), attrib.get("z_order"), children)
        boxes.append(_box(base, attrib["label"], coords, attributes))
    return _frame_rows(base, boxes)


def read_cvat_xml(
    path: str | Path, task: str, on_bad_sample: str = "error", skipped: list[Problem] | None = None
) -> list[Row]:
    """Rows of a CVAT for images 1.1 XML export (boxes; polygons as their bounding box).

    Frames or shapes with missing or malformed fields follow `on_bad_sample`; a file that is
    missing or not well-formed XML raises BadInputError naming the line.
    """
    path, skipped = Path(path), [] if skipped is None else skipped
    if not path.is_file():
        raise BadInputError(path, f"task {task!r}: annotation file does not exist")
    rows: list[Row] = []
    seen: dict[int, str] = {}
    try:
        events = ET.iterparse(path, events=("start", "end"))
        _, root = next(events)
        if root.tag != "annotations":
            raise BadInputError(path, f"task {task!r}: root is <{root.tag}>, not <annotations>")
        for event, element in events:
            if event == "start":
                continue
            if element.tag == "image":
                rows += _xml_frame(path, task, element, seen, on_bad_sample, skipped)
                root.clear()  # frees the parsed frames: memory stays flat on big exports
            elif element.tag == "version" and (element.text or "").strip() != "1.1":
                problem = f"task {task!r}: version {element.text!r}, expected CVAT for images 1.1"
                raise BadInputError(path, problem)
            elif element.tag == "track":
                problem = f"task {task!r}: holds <track> (CVAT for video); export CVAT for images"
                raise BadInputError(path, problem)
    except ET.ParseError as exc:
        line, column = exc.position
        problem = f"task {task!r}: malformed XML at line {line}, column {column}"
        raise BadInputError(path, f"{problem} ({ErrorString(exc.code)})") from None
    return rows


def _coco_categories(path: Path, task: str, categories: list[Any]) -> dict[int, str]:
    """Category id -> name; a malformed category makes the whole file unusable."""
    names = {}
    for category in categories:
        if not isinstance(category, dict) or _int(category.get("id")) is None:
            raise BadInputError(path, f"task {task!r}: category {category!r} lacks an integer id")
        if not isinstance(category.get("name"), str):
            raise BadInputError(path, f"task {task!r}: category {category['id']} lacks a name")
        names[_int(category["id"])] = category["name"]
    return names


def _coco_box(annotation: Any, frames: Mapping[int, Row], names: Mapping[int, str]) -> Any:
    """(frame id, label, coords, attributes) of a COCO annotation, or why it is unusable."""
    if not isinstance(annotation, dict):
        return "annotation is not an object"
    missing = [k for k in ("image_id", "category_id", "bbox") if k not in annotation]
    if missing:
        return f"annotation lacks {', '.join(missing)}"
    image_id, category = _int(annotation["image_id"]), _int(annotation["category_id"])
    if image_id is None or image_id - 1 not in frames:
        return f"annotation refers to image_id {annotation['image_id']!r}, not in images"
    if category not in names:
        return f"annotation refers to category_id {annotation['category_id']!r}, not in categories"
    bbox = annotation["bbox"]
    xywh = _floats(bbox) if isinstance(bbox, list) and len(bbox) == 4 else None
    if xywh is None:
        return f"bbox {bbox!r} is not [x, y, width, height]"
    attributes = annotation.get("attributes", {})
    if not isinstance(attributes, dict):
        return f"attributes {attributes!r} is not an object"
    x, y, w, h = xywh
    return (
        image_id - 1,
        names[category],
        (x, y, x + w, y + h),
        json.dumps(attributes, sort_keys=True),
    )


def read_coco(
    path: str | Path, task: str, on_bad_sample: str = "error", skipped: list[Problem] | None = None
) -> list[Row]:
    """Rows of a COCO instances JSON (bbox [x, y, w, h]); frame = image id - 1.

    CVAT's COCO export numbers images from 1, so frames match its XML export's image ids.
    """
    path, skipped = Path(path), [] if skipped is None else skipped
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BadInputError(path, f"task {task!r}: annotation file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"task {task!r}: malformed JSON ({exc})") from None
    keys = ("images", "annotations", "categories")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in keys):
        raise BadInputError(path, f"task {task!r}: expected COCO lists {', '.join(keys)}")
    names = _coco_categories(path, task, data["categories"])
    frames: dict[int, Row] = {}
    boxes: dict[int, list[Row]] = {}
    seen: dict[int, str] = {}
    rejected = set()
    for image in data["images"]:
        image = image if isinstance(image, dict) else {}
        image_id = _int(image.get("id"))
        fields = (image.get(k) for k in ("file_name", "width", "height"))
        if image_id is None or image_id < 1:
            base: Row | str = f"image id {image.get('id')!r} is not a positive integer"
        else:
            base = _frame_base(task, image_id - 1, *fields, seen)
        if isinstance(base, str):
            rejected.add(image_id)
            where = f"task {task!r}, frame {image_id - 1 if image_id else image.get('id')}"
            reject(path, f"{where}: {base}", on_bad_sample, skipped)
            continue
        frames[base["frame"]], boxes[base["frame"]] = base, []
    for number, annotation in enumerate(data["annotations"]):
        found = _coco_box(annotation, frames, names)
        if isinstance(found, str):
            if not (isinstance(annotation, dict) and _int(annotation.get("image_id")) in rejected):
                where = f"task {task!r}, annotation {number}"
                reject(path, f"{where}: {found}", on_bad_sample, skipped)
            continue
        frame, label, coords, attributes = found
        boxes[frame].append(_box(frames[frame], label, coords, attributes))
    return [row for frame, base in frames.items() for row in _frame_rows(base, boxes[frame])]


def _redact(uri: str) -> str:
    """`uri` without its user:password part, fit for messages and files."""
    return re.sub(r"//[^@/]*@", "//", uri)


MONGO_DEFAULTS = {  # obdb's names; client (a MongoClient to use) is for tests
    "database": "annotations",
    "collection": "annotation_data",
    "meta_collection": "meta",
    "username": None,
    "password": None,
    "client": None,
}


def _mongo_settings(mongo: Mapping[str, Any]) -> dict[str, Any]:
    """`mongo` (uri plus any of MONGO_DEFAULTS' keys) completed with the defaults."""
    unknown = set(mongo) - set(MONGO_DEFAULTS) - {"uri"}
    if "uri" not in mongo or unknown:
        raise ValueError(f"mongo settings need a uri and only {sorted(MONGO_DEFAULTS)}")
    return MONGO_DEFAULTS | dict(mongo)


def _mongo_task(
    task: str,
    meta: list[dict[str, Any]],
    annotations: Iterable[dict[str, Any]],
    sources: tuple[str, str],
    on_bad_sample: str,
    skipped: list[Problem],
) -> list[Row]:
    """Rows of one task from its meta documents and its annotation documents."""
    meta_source, source = sources
    frames = meta[0].get("frames") if len(meta) == 1 else None
    if not isinstance(frames, list):
        problem = f"task {task!r}: needs one meta document with a frames list, found {len(meta)}"
        reject(meta_source, problem, on_bad_sample, skipped)
        return []
    bases: dict[str, Row] = {}
    seen: dict[int, str] = {}
    for index, entry in enumerate(frames):
        entry = entry if isinstance(entry, dict) else {}
        fields = (entry.get(k) for k in ("name", "width", "height"))
        base = _frame_base(task, index, *fields, seen)
        if isinstance(base, str):
            reject(meta_source, f"task {task!r}, frame {index}: {base}", on_bad_sample, skipped)
            continue
        bases[entry["name"]] = base
    names = {entry.get("name") for entry in frames if isinstance(entry, dict)}
    boxes: dict[str, list[Row]] = {name: [] for name in bases}
    for doc in annotations:
        where = f"task {task!r}, annotation {doc.get('_id')}"
        missing = [k for k in ("img_path", "object_class", "points") if k not in doc]
        points = _floats(doc["points"]) if isinstance(doc.get("points"), list) else None
        if missing or not isinstance(doc["img_path"], str) or doc["img_path"] not in names:
            reason = f"lacks {', '.join(missing)}" if missing else "frame not in the task's meta"
            reject(source, f"{where} ({doc.get('img_path')!r}): {reason}", on_bad_sample, skipped)
        elif doc["img_path"] not in bases:
            continue  # its frame was rejected whole
        elif points is None or not (
            len(points) == 4 or (len(points) >= 6 and len(points) % 2 == 0)
        ):
            reason = f"points {doc['points']!r} are neither a box (4) nor a polygon (x, y pairs)"
            frame = bases[doc["img_path"]]["frame"]
            reject(source, f"task {task!r}, frame {frame}: {reason}", on_bad_sample, skipped)
        else:
            coords = points if len(points) == 4 else _extent(points)
            boxes[doc["img_path"]].append(
                _box(bases[doc["img_path"]], doc["object_class"], coords, "{}")
            )
    return [row for name, base in bases.items() for row in _frame_rows(base, boxes[name])]


def read_mongo(
    uri: str,
    database: str,
    collection: str,
    tasks: Sequence[str],
    client: Any = None,
    *,
    meta_collection: str = "meta",
    username: str | None = None,
    password: str | None = None,
    on_bad_sample: str = "error",
    skipped: list[Problem] | None = None,
) -> list[Row]:
    """Rows of the CVAT annotations obdb stored in MongoDB (its `annotations` database).

    `meta_collection` holds one document per task, {task_name, frames: [{name, width,
    height}, ...]} (frame id = list position); `collection` (obdb: annotation_data) one per
    shape, {task_name, img_path (a frame name), object_class, points}: 4 points are
    [xmin, ymin, xmax, ymax], more are a flat x, y polygon taken as its bounding box.
    Empty `tasks` means every task in the meta collection. Credentials authenticate
    against `database`, as obdb's did.
    """
    import pymongo
    from pymongo.errors import PyMongoError

    skipped = [] if skipped is None else skipped
    sources = (
        f"{_redact(uri)}/{database}.{meta_collection}",
        f"{_redact(uri)}/{database}.{collection}",
    )
    own = client is None
    if own:
        login = {"username": username, "password": password, "authSource": database}
        try:
            client = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=10_000, **(login if username else {})
            )
        except (PyMongoError, ValueError) as exc:  # pymongo raises ValueError for bad URIs
            raise BadInputError(sources[1], f"not a usable MongoDB URI ({exc})") from None
    try:
        meta, shapes = client[database][meta_collection], client[database][collection]
        names = list(tasks) or sorted(meta.distinct("task_name"))
        for task in names:
            if problem := _task_problem(task):
                raise BadInputError(sources[0], problem)
        found = set(meta.distinct("task_name", {"task_name": {"$in": names}}))
        if missing := [t for t in names if t not in found]:
            raise BadInputError(sources[0], f"task(s) {missing} not found")
        rows = []
        for task in tqdm(names, desc="reading MongoDB tasks", unit="task", file=sys.stderr):
            docs = list(meta.find({"task_name": task}))
            annotations = shapes.find({"task_name": task}).sort("_id", 1)
            rows += _mongo_task(task, docs, annotations, sources, on_bad_sample, skipped)
    except PyMongoError as exc:
        raise BadInputError(sources[1], f"MongoDB read failed ({exc})") from None
    finally:
        if own:
            client.close()
    return rows


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
    for (task, frame), group in tqdm(frames, desc="checking frames", unit="frame", file=sys.stderr):
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
        kept += _frame_rows(rows_of_frame[0] | BACKGROUND, boxes)
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
        if problem := _task_problem(task):
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
    for task in tqdm(
        _task_names(root, tasks), desc="reading CVAT tasks", unit="task", file=sys.stderr
    ):
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
) -> tuple[pd.DataFrame, list[str], list[Problem]]:
    """(annotation table, class names, skipped (source, reason) pairs) of the CVAT tasks.

    `source` "auto" reads MongoDB if `mongo` ({uri, database, collection, meta_collection,
    client}) is given, else each task's annotations.xml or, failing that, annotations.json.
    Empty `tasks` means all; empty `labels` means every label found, sorted.
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
        settings = _mongo_settings(mongo)
        rows = read_mongo(
            settings["uri"], settings["database"], settings["collection"], tasks,
            settings["client"], meta_collection=settings["meta_collection"],
            username=settings["username"], password=settings["password"],
            on_bad_sample=on_bad_sample, skipped=skipped,
        )  # fmt: skip
        where = f"{_redact(settings['uri'])}/{settings['database']}.{settings['collection']}"
        sources = {row["task"]: where for row in rows}
    else:
        rows, sources = _file_rows(root, tasks, source, on_bad_sample, skipped)
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
) -> pd.DataFrame:
    """Build the table and write annotations.parquet, labels.json, skipped.csv, info.json.

    The folder `out_dir` appears complete or not at all.
    """
    table, names, skipped = build_table(root, tasks, labels, on_bad_sample, source, mongo)
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
        settings = _mongo_settings(mongo)
        mongo_info = {k: settings[k] for k in ("database", "collection", "meta_collection")}
        mongo_info["uri"] = _redact(settings["uri"])
    info = {
        "root": str(root),
        "tasks": frames["task"].unique().tolist(),
        "labels": names,
        "on_bad_sample": on_bad_sample,
        "mongo": mongo_info,
        "counts": counts,
    }
    with atomic_directory(out_dir) as staging:
        write_table(staging / "annotations.parquet", table)
        write_json(staging / "labels.json", names)
        write_table(staging / "skipped.csv", pd.DataFrame(skipped, columns=["source", "reason"]))
        write_json(staging / "info.json", info)
    return table
