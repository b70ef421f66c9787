"""Rows of a CVAT for images 1.1 XML export."""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.parsers.expat import ErrorString

from visionflow.data.conversion import Problem, reject
from visionflow.data.cvat.rows import Row, as_floats, as_int, box, extent, frame_base, frame_rows
from visionflow.io import BadInputError

COORDS = ("xtl", "ytl", "xbr", "ybr")


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
    points = as_floats(v for pair in pairs for v in pair)
    if not points or len(points) < 6 or any(len(pair) != 2 for pair in pairs):
        return None, f"<polygon> points {element.get('points')!r} are not 3 or more x,y pairs"
    return extent(points), None


@functools.lru_cache(maxsize=1024)
def _xml_attributes(
    occluded: str | None, z_order: str | None, children: tuple[tuple[str, str], ...]
) -> str:
    """JSON text of a shape's occluded and z_order (as bool and int) and <attribute> children.

    Cached: almost every shape of an export has one of a few combinations.
    """
    attributes: dict[str, Any] = dict(children)
    if occluded is not None:
        value = as_int(occluded)
        attributes["occluded"] = bool(value) if value is not None else occluded
    if z_order is not None:
        value = as_int(z_order)
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
    base = frame_base(task, get("id"), get("name"), get("width"), get("height"), seen)
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
        boxes.append(box(base, attrib["label"], coords, attributes))
    return frame_rows(base, boxes)


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
