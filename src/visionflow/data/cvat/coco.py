"""Rows of a COCO instances JSON export of a CVAT task."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionflow.data.conversion import Problem, reject
from visionflow.data.cvat.rows import Row, as_floats, as_int, box, frame_base, frame_rows
from visionflow.io import BadInputError


def _coco_categories(path: Path, task: str, categories: list[Any]) -> dict[int, str]:
    """Category id -> name; a malformed category makes the whole file unusable."""
    names = {}
    for category in categories:
        if not isinstance(category, dict) or as_int(category.get("id")) is None:
            raise BadInputError(path, f"task {task!r}: category {category!r} lacks an integer id")
        if not isinstance(category.get("name"), str):
            raise BadInputError(path, f"task {task!r}: category {category['id']} lacks a name")
        names[as_int(category["id"])] = category["name"]
    return names


def _coco_box(annotation: Any, frames: Mapping[int, Row], names: Mapping[int, str]) -> Any:
    """(frame id, label, coords, attributes) of a COCO annotation, or why it is unusable."""
    if not isinstance(annotation, dict):
        return "annotation is not an object"
    missing = [k for k in ("image_id", "category_id", "bbox") if k not in annotation]
    if missing:
        return f"annotation lacks {', '.join(missing)}"
    image_id, category = as_int(annotation["image_id"]), as_int(annotation["category_id"])
    if image_id is None or image_id - 1 not in frames:
        return f"annotation refers to image_id {annotation['image_id']!r}, not in images"
    if category not in names:
        return f"annotation refers to category_id {annotation['category_id']!r}, not in categories"
    bbox = annotation["bbox"]
    xywh = as_floats(bbox) if isinstance(bbox, list) and len(bbox) == 4 else None
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
        image_id = as_int(image.get("id"))
        fields = (image.get(k) for k in ("file_name", "width", "height"))
        if image_id is None or image_id < 1:
            base: Row | str = f"image id {image.get('id')!r} is not a positive integer"
        else:
            base = frame_base(task, image_id - 1, *fields, seen)
        if isinstance(base, str):
            rejected.add(image_id)
            where = f"task {task!r}, frame {image_id - 1 if image_id else image.get('id')}"
            reject(path, f"{where}: {base}", on_bad_sample, skipped)
            continue
        frames[base["frame"]], boxes[base["frame"]] = base, []
    for number, annotation in enumerate(data["annotations"]):
        found = _coco_box(annotation, frames, names)
        if isinstance(found, str):
            if not (
                isinstance(annotation, dict) and as_int(annotation.get("image_id")) in rejected
            ):
                where = f"task {task!r}, annotation {number}"
                reject(path, f"{where}: {found}", on_bad_sample, skipped)
            continue
        frame, label, coords, attributes = found
        boxes[frame].append(box(frames[frame], label, coords, attributes))
    return [row for frame, base in frames.items() for row in frame_rows(base, boxes[frame])]
