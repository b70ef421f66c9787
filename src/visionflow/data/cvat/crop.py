"""The original's crop of 4K frames to their bottom centre full-HD part.

A 3840 x 2160 frame keeps rows 1080:2160 and columns 960:2880 (the top half and the side
quarters go). Its boxes reaching less than MARGIN px into the crop are dropped; the rest
are shifted and clamped, the right and bottom edges to the last pixel index (1919, 1079),
as create_weed_dataset_od.py:PickledWeedOD.purge_bboxes does. The image itself is cut
when it is loaded (weed_data_class_od.py:WeedDataOD.crop_img): a 3840 x 2160 image whose
table row says 1920 x 1080 is the crop; a 1920 x 1080 one is taken as cropped already.
"""

from __future__ import annotations

import json
from itertools import groupby
from operator import itemgetter
from pathlib import Path

import numpy as np

from visionflow.data.conversion import Problem
from visionflow.data.cvat.rows import BACKGROUND, Row
from visionflow.data.cvat.shapes import ROTATION, SHAPE_KEY
from visionflow.io import BadInputError

FULL = (3840, 2160)  # width, height of the frames the crop applies to
CROPPED = (1920, 1080)
LEFT, TOP, RIGHT = 960, 1080, 2880  # int(3840 * 0.25), int(2160 * 0.5), 3840 - 960
MARGIN = 30  # px a box must reach into the crop to be kept


def crop_box(xmin: float, ymin: float, xmax: float, ymax: float) -> list[float] | None:
    """A 4K frame's box in the crop's coordinates, or None if the original dropped it."""
    width, height = CROPPED
    # the original's crop index frame: xmin 959, xmax 2879, ymin 1079
    if ymax <= TOP - 1 + MARGIN or xmin >= RIGHT - 1 - MARGIN or xmax <= LEFT - 1 + MARGIN:
        return None
    left = 0.0 if xmin < LEFT else xmin - LEFT
    top = 0.0 if ymin < height else ymin - TOP  # the original compares with the new height
    right = width - 1.0 if xmax >= RIGHT else xmax - LEFT
    bottom = min(ymax - TOP, height - 1.0)
    return [left, top, right, bottom]


def _cropped(row: Row) -> Row | None:
    """A 4K frame's row in the crop (a box row None if dropped)."""
    row = row | {"width": CROPPED[0], "height": CROPPED[1]}
    if row["label"] is None:
        return row
    box = crop_box(row["xmin"], row["ymin"], row["xmax"], row["ymax"])
    if box is None:
        return None
    attributes = json.loads(row["attributes"])
    for kept in (SHAPE_KEY, ROTATION):  # the shape as read is in the uncropped frame
        attributes.pop(kept, None)
    corners = dict(zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True))
    return row | corners | {"attributes": json.dumps(attributes, sort_keys=True)}


def crop_4k(rows: list[Row], sources: dict[str, str], skipped: list[Problem]) -> list[Row]:
    """The rows with every 3840 x 2160 frame cropped; dropped boxes are recorded in
    `skipped` and a frame left without boxes keeps one background row."""
    out: list[Row] = []
    for (task, frame), group in groupby(rows, key=itemgetter("task", "frame")):
        group = list(group)
        if (group[0]["width"], group[0]["height"]) != FULL:
            out += group
            continue
        kept = []
        for row in group:
            cropped = _cropped(row)
            if cropped is not None:
                kept.append(cropped)
                continue
            box = ", ".join(f"{row[k]:g}" for k in ("xmin", "ymin", "xmax", "ymax"))
            reason = (
                f"task {task!r}, frame {frame}: box {row['label']!r} ({box}) reaches less "
                f"than {MARGIN} px into the 4K crop (not imported)"
            )
            skipped.append((sources[task], reason))
        boxes = [row for row in kept if row["label"] is not None]
        out += boxes or [group[0] | {"width": CROPPED[0], "height": CROPPED[1]} | BACKGROUND]
    return out


def crop_rectangle(image_size: tuple[int, int], annotated: tuple[int, int]) -> tuple | None:
    """(left, top, right, bottom) of the crop if an image of `image_size` (width, height) is
    the 4K frame of a table row of `annotated` size, else None."""
    if image_size == FULL and annotated == CROPPED:
        return (LEFT, TOP, RIGHT, FULL[1])
    return None


def as_annotated(image: np.ndarray, annotated: tuple[int, int], path: Path) -> np.ndarray:
    """An (H, W, C) image as its table row describes it: the crop of a 4K image the row
    gives as cropped; any other size mismatch is bad input."""
    size = (image.shape[1], image.shape[0])
    if size == annotated:
        return image
    rectangle = crop_rectangle(size, annotated)
    if rectangle is None:
        expected = f"{annotated[0]} x {annotated[1]}"
        raise BadInputError(path, f"image is {size[0]} x {size[1]}, its annotations say {expected}")
    left, top, right, bottom = rectangle
    return image[top:bottom, left:right]
