"""The box of each CVAT for images 1.1 shape element, and what to keep to write it back.

A box is the shape's axis-aligned extent: a rotated box's or ellipse's turned outline, a
mask's set pixels, the corners of a polygon, polyline, point set, cuboid or a skeleton's
visible points. Anything but an unrotated box keeps its element's tag and geometry, as the
file writes them, under SHAPE_KEY in the attributes (and a rotation under ROTATION), so
the XML writer can give CVAT back the same shape.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any

from visionflow.data.cvat.geometry import (
    ellipse_extent,
    extent,
    mask_extent,
    rotated_box_extent,
)
from visionflow.data.cvat.rows import as_floats, as_int

SHAPE_KEY = "cvat_shape"
ROTATION = "rotation"
BOX = ("xtl", "ytl", "xbr", "ybr")
ELLIPSE = ("cx", "cy", "rx", "ry")
CUBOID = tuple(f"{c}{k}{n}" for n in (1, 2) for k in ("tl", "bl", "tr", "br") for c in "xy")
MASK = ("rle", "left", "top", "width", "height")
SKELETON_POINT = ("label", "source", "outside", "occluded", "points")
Extra = dict[str, Any]


class UnusableShape(ValueError):
    """A shape element whose fields are missing or malformed: bad input."""


class NotABox(ValueError):
    """A valid shape without an area (a tag, one point, a line, an empty mask): recorded."""


def _numbers(element: ET.Element, names: Sequence[str]) -> list[float]:
    attrib = element.attrib
    missing = [k for k in names if k not in attrib]
    if missing:
        raise UnusableShape(f"<{element.tag}> lacks {', '.join(missing)}")
    numbers = as_floats(attrib[k] for k in names)
    if numbers is None:
        given = [attrib[k] for k in names]
        raise UnusableShape(f"<{element.tag}> coordinates {given} are not all numbers")
    return numbers


def _pairs(element: ET.Element, minimum: int) -> list[float]:
    """The flat x, y list of a `points="x0,y0;x1,y1"` attribute of at least `minimum` pairs."""
    text = element.get("points", "")
    pairs = [p.split(",") for p in text.split(";")]
    points = as_floats(v for pair in pairs for v in pair)
    if not points or len(points) < 2 * minimum or any(len(pair) != 2 for pair in pairs):
        raise UnusableShape(
            f"<{element.tag}> points {element.get('points')!r} are not {minimum} or more x,y pairs"
        )
    return points


def _with_area(coords: list[float], why: str) -> list[float]:
    if coords[2] <= coords[0] or coords[3] <= coords[1]:
        raise NotABox(why)
    return coords


def _rotation(element: ET.Element) -> float:
    if "rotation" not in element.attrib:
        return 0.0
    text = element.attrib["rotation"]
    rotation = as_floats([text])
    if rotation is None:
        raise UnusableShape(f"<{element.tag}> rotation {text!r} is not a number")
    return rotation[0]


def _kept(element: ET.Element, names: Sequence[str], rotation: float = 0.0) -> Extra:
    """The attributes' record of a shape: its tag and geometry, and its rotation if any."""
    extra: Extra = {SHAPE_KEY: {"type": element.tag} | {k: element.attrib[k] for k in names}}
    return extra | ({ROTATION: rotation} if rotation else {})


def _box(element: ET.Element) -> tuple[list[float], Extra]:
    corners, rotation = _numbers(element, BOX), _rotation(element)
    if not rotation:
        return corners, {}
    return rotated_box_extent(corners, rotation), _kept(element, BOX, rotation)


def _polygon(element: ET.Element) -> tuple[list[float], Extra]:
    return extent(_pairs(element, 3)), _kept(element, ("points",))


def _polyline(element: ET.Element) -> tuple[list[float], Extra]:
    coords = extent(_pairs(element, 2))
    return _with_area(coords, "is a horizontal or vertical line: no area"), _kept(
        element, ("points",)
    )


def _points(element: ET.Element) -> tuple[list[float], Extra]:
    points = _pairs(element, 1)
    if len(points) == 2:
        raise NotABox("is a single point: no box")
    coords = _with_area(extent(points), "lies on one horizontal or vertical line: no area")
    return coords, _kept(element, ("points",))


def _ellipse(element: ET.Element) -> tuple[list[float], Extra]:
    cx, cy, rx, ry = _numbers(element, ELLIPSE)
    rotation = _rotation(element)
    coords = ellipse_extent(cx, cy, rx, ry, rotation)
    return _with_area(coords, "has a zero radius: no area"), _kept(element, ELLIPSE, rotation)


def _cuboid(element: ET.Element) -> tuple[list[float], Extra]:
    return extent(_numbers(element, CUBOID)), _kept(element, CUBOID)


def _mask(element: ET.Element) -> tuple[list[float], Extra]:
    attrib = element.attrib
    missing = [k for k in MASK if k not in attrib]
    if missing:
        raise UnusableShape(f"<mask> lacks {', '.join(missing)}")
    runs = [as_int(v) for v in attrib["rle"].split(",")]
    place = [as_int(attrib[k]) for k in MASK[1:]]
    if None in runs or None in place or min(place) < 0 or min(place[2:]) < 1:
        given = {k: attrib[k][:40] for k in MASK}
        raise UnusableShape(f"<mask> {given} are not run lengths and a placement in pixels")
    try:
        coords = mask_extent(runs, *place)
    except ValueError as exc:
        raise UnusableShape(f"<mask> rle {exc}") from None
    if coords is None:
        raise NotABox("sets no pixel: no box")
    return coords, _kept(element, MASK)


def _skeleton(element: ET.Element) -> tuple[list[float], Extra]:
    parts = [p for p in element if p.tag == "points"]
    visible: list[float] = []
    for part in parts:
        points = _pairs(part, 1)
        if part.get("outside") != "1":
            visible += points
    elements = []
    for part in parts:
        record = {k: part.attrib[k] for k in SKELETON_POINT if k in part.attrib}
        children = {a.get("name", ""): a.text or "" for a in part if a.tag == "attribute"}
        elements.append(record | ({"attributes": children} if children else {}))
    if len(visible) < 4:
        raise NotABox("has fewer than two visible points: no box")
    coords = _with_area(extent(visible), "has its visible points on one line: no area")
    return coords, {SHAPE_KEY: {"type": "skeleton", "elements": elements}}


def _tag(element: ET.Element) -> tuple[list[float], Extra]:
    raise NotABox("is a frame-level label without geometry")


READERS: dict[str, Callable[[ET.Element], tuple[list[float], Extra]]] = {
    "box": _box,
    "polygon": _polygon,
    "polyline": _polyline,
    "points": _points,
    "ellipse": _ellipse,
    "cuboid": _cuboid,
    "mask": _mask,
    "skeleton": _skeleton,
    "tag": _tag,
}


def shape_box(element: ET.Element) -> tuple[list[float], Extra]:
    """(box, attributes to keep) of a shape element; UnusableShape or NotABox otherwise."""
    reader = READERS.get(element.tag)
    if reader is None:
        raise UnusableShape(f"<{element.tag}> is not a CVAT for images 1.1 shape")
    return reader(element)
