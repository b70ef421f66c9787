"""Rows of a COCO instances JSON: CVAT's COCO 1.0 export or a plain COCO file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visionflow.data.conversion import Problem, reject
from visionflow.data.cvat.geometry import rotated_box_extent
from visionflow.data.cvat.rows import Row, as_floats, as_int, box, frame_base, frame_rows
from visionflow.data.cvat.shapes import BOX, ROTATION, SHAPE_KEY
from visionflow.io import BadInputError


class _Crowd(ValueError):
    """An `iscrowd: 1` region: valid COCO, but not one object's box (recorded)."""


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


def _rotated(corners: list[float], attributes: dict[str, Any]) -> tuple[list[float], dict]:
    """The box and attributes of a bbox with CVAT's `rotation` attribute (its unrotated box)."""
    rotation = as_floats([attributes.get(ROTATION, 0)])
    if not rotation or not rotation[0]:
        return corners, attributes
    shape = {"type": "box"} | {k: f"{v:.2f}" for k, v in zip(BOX, corners, strict=True)}
    extra = {ROTATION: rotation[0], SHAPE_KEY: shape}
    return rotated_box_extent(corners, rotation[0]), attributes | extra


def _coco_box(annotation: Any, frames: Mapping[int, int], names: Mapping[int, str]) -> Any:
    """(frame, label, coords, attributes) of a COCO annotation, or why it is unusable."""
    if not isinstance(annotation, dict):
        return "annotation is not an object"
    missing = [k for k in ("image_id", "category_id", "bbox") if k not in annotation]
    if missing:
        return f"annotation lacks {', '.join(missing)}"
    image_id, category = as_int(annotation["image_id"]), as_int(annotation["category_id"])
    if image_id not in frames:
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
    if annotation.get("iscrowd") in (1, True):
        raise _Crowd(f"{names[category]!r} is a crowd region (iscrowd 1), not one object's box")
    if "score" in annotation:
        attributes = attributes | {"score": annotation["score"]}
    x, y, w, h = xywh
    coords, attributes = _rotated([x, y, x + w, y + h], attributes)
    return frames[image_id], names[category], coords, json.dumps(attributes, sort_keys=True)


def _frames(
    path: Path, task: str, images: list[Any], on_bad_sample: str, skipped: list[Problem]
) -> tuple[dict[int, Row], dict[int, int], set]:
    """(frame -> image columns, image id -> frame, rejected image ids); frame = position of
    the image among the file's usable image ids in increasing order."""
    usable: dict[int, dict] = {}
    rejected = set()
    for image in images:
        image = image if isinstance(image, dict) else {}
        image_id = as_int(image.get("id"))
        problem = None
        if image_id is None:
            problem = f"image id {image.get('id')!r} is not an integer"
        elif image_id in usable:
            other = usable[image_id].get("file_name")
            problem = f"duplicate image id {image_id} (also used by {other!r})"
        if problem:
            rejected.add(image_id)
            reject(
                path,
                f"task {task!r}, image id {image.get('id')!r}: {problem}",
                on_bad_sample,
                skipped,
            )
            continue
        usable[image_id] = image
    bases: dict[int, Row] = {}
    ids: dict[int, int] = {}
    seen: dict[int, str] = {}
    for frame, image_id in enumerate(sorted(usable)):
        image = usable[image_id]
        fields = (image.get(k) for k in ("file_name", "width", "height"))
        base = frame_base(task, frame, *fields, seen)
        if isinstance(base, str):
            rejected.add(image_id)
            reject(path, f"task {task!r}, frame {frame}: {base}", on_bad_sample, skipped)
            continue
        bases[frame], ids[image_id] = base, frame
    return bases, ids, rejected


def read_coco(
    path: str | Path, task: str, on_bad_sample: str = "error", skipped: list[Problem] | None = None
) -> list[Row]:
    """Rows of a COCO instances JSON (bbox [x, y, w, h]; CVAT's `rotation` attribute turns it).

    Frame = position of the image's id among the file's ids in increasing order: CVAT's
    export numbers its frames' images 1, 2, ..., so its frames keep their XML ids; a plain
    COCO file may start at 0 or skip ids. Crowd regions (`iscrowd: 1`) are recorded in
    `skipped` and not imported.
    """
    path, skipped = Path(path), [] if skipped is None else skipped
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BadInputError(path, f"task {task!r}: annotation file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"task {task!r}: malformed JSON ({exc})") from None
    if isinstance(data, list):
        problem = "a COCO results list (detections), not an instances file"
        raise BadInputError(path, f"task {task!r}: {problem}")
    keys = ("images", "annotations", "categories")
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in keys):
        raise BadInputError(path, f"task {task!r}: expected COCO lists {', '.join(keys)}")
    names = _coco_categories(path, task, data["categories"])
    bases, frames, rejected = _frames(path, task, data["images"], on_bad_sample, skipped)
    boxes: dict[int, list[Row]] = {frame: [] for frame in bases}
    for number, annotation in enumerate(data["annotations"]):
        where = f"task {task!r}, annotation {number}"
        try:
            found = _coco_box(annotation, frames, names)
        except _Crowd as exc:
            skipped.append((str(path), f"{where}: {exc} (not imported)"))
            continue
        if isinstance(found, str):
            if not (
                isinstance(annotation, dict) and as_int(annotation.get("image_id")) in rejected
            ):
                reject(path, f"{where}: {found}", on_bad_sample, skipped)
            continue
        frame, label, coords, attributes = found
        boxes[frame].append(box(bases[frame], label, coords, attributes))
    return [row for frame, base in bases.items() for row in frame_rows(base, boxes[frame])]
