"""The row model every CVAT reader produces, and the frame and name checks they share."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from visionflow.data.conversion import is_plain_name

COLUMNS = [
    "task", "frame", "image", "width", "height", "label",
    "xmin", "ymin", "xmax", "ymax", "attributes",
]  # fmt: skip
DTYPES = {"frame": "int64", "width": "int64", "height": "int64"} | dict.fromkeys(
    ("xmin", "ymin", "xmax", "ymax"), "float64"
)
IMAGES = "images"
MAX_SIDE = 1 << 20  # px; larger image sizes are taken as corrupt
BACKGROUND = {"label": None, "attributes": "{}"} | dict.fromkeys(
    ("xmin", "ymin", "xmax", "ymax"), math.nan
)
Row = dict[str, Any]


def as_int(value: Any) -> int | None:
    """`value` as an int if it is one (or its decimal text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def as_floats(values: Iterable[Any]) -> list[float] | None:
    """The values as floats, or None if any is not a number."""
    values = list(values)
    if any(isinstance(v, bool) for v in values):
        return None
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        return None


def task_problem(task: Any) -> str | None:
    """Why `task` cannot name a folder directly under the raw root, or None."""
    if not isinstance(task, str) or not is_plain_name(task):
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


def frame_base(
    task: str, frame: Any, name: Any, width: Any, height: Any, seen: dict[int, str]
) -> Row | str:
    """The image columns of a frame, or why the frame is unusable; records it in `seen`."""
    frame_id, w, h = as_int(frame), as_int(width), as_int(height)
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


def box(base: Row, label: str, coords: Sequence[float], attributes: str) -> Row:
    """One box row of the frame `base`; `attributes` is JSON object text."""
    xmin, ymin, xmax, ymax = coords
    corners = {"xmin": xmin, "ymin": ymin, "xmax": xmax, "ymax": ymax}
    return {**base, "label": label, **corners, "attributes": attributes}


def frame_rows(base: Row, boxes: list[Row]) -> list[Row]:
    """The frame's box rows, or its single background row if it has none."""
    return boxes or [base | BACKGROUND]
