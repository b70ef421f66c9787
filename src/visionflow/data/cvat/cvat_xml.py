"""Rows of a CVAT for images 1.1 XML export (a task's or a project's)."""

from __future__ import annotations

import functools
import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from xml.parsers.expat import ErrorString

from visionflow.data.conversion import Problem, reject
from visionflow.data.cvat.rows import Row, as_int, box, frame_base, frame_rows
from visionflow.data.cvat.shapes import NotABox, UnusableShape, shape_box
from visionflow.io import BadInputError

log = logging.getLogger(__name__)

PROJECT_IMAGE_FIELDS = ("subset", "task_id")  # <image> attributes of a project export
FLAGS = ("occluded", "z_order", "group_id", "source")  # shape XML attributes kept as attributes


def _flags(attrib: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """A shape's occluded (bool), z_order and group_id (int) and source, as in the file."""
    flags: dict[str, Any] = {}
    for name, text in attrib:
        value = None if name == "source" else as_int(text)
        if name == "occluded" and value is not None:
            value = bool(value)
        flags[name] = text if value is None else value
    return flags


@functools.lru_cache(maxsize=1024)
def _flag_attributes(
    attrib: tuple[tuple[str, str], ...], children: tuple[tuple[str, str], ...]
) -> str:
    """JSON text of a shape's flags and <attribute> children.

    Cached: almost every shape of an export has one of a few combinations.
    """
    return json.dumps(dict(children) | _flags(attrib), sort_keys=True)


def _attributes(element: ET.Element, extra: dict[str, Any]) -> str:
    """JSON text of a shape's flags, <attribute> children and `extra` (what its box came from)."""
    children = tuple((a.get("name", ""), a.text or "") for a in element if a.tag == "attribute")
    flags = tuple((k, element.attrib[k]) for k in FLAGS if k in element.attrib)
    text = _flag_attributes(flags, children)
    return json.dumps(json.loads(text) | extra, sort_keys=True) if extra else text


def _xml_frame(
    path: Path,
    task: str,
    image: ET.Element,
    seen: dict[int, str],
    on_bad_sample: str,
    skipped: list[Problem],
) -> list[Row]:
    """The rows of one <image> element (empty if the frame is rejected).

    A shape without a box (a tag, a single point, an empty mask) is recorded in `skipped`
    whatever the policy; a malformed one follows `on_bad_sample`.
    """
    get = image.attrib.get
    where = f"task {task!r}, frame {get('id')}"
    base = frame_base(task, get("id"), get("name"), get("width"), get("height"), seen)
    if isinstance(base, str):
        reject(path, f"{where}: {base}", on_bad_sample, skipped)
        return []
    boxes = []
    for number, shape in enumerate(image):
        label = shape.get("label")
        try:
            if label is None:
                raise UnusableShape(f"<{shape.tag}> lacks label")
            coords, extra = shape_box(shape)
        except UnusableShape as exc:
            reject(path, f"{where}, shape {number}: {exc}", on_bad_sample, skipped)
            continue
        except NotABox as exc:
            reason = f"{where}, shape {number}: <{shape.tag} label={label!r}> {exc} (not imported)"
            skipped.append((str(path), reason))
            continue
        boxes.append(box(base, label, coords, _attributes(shape, extra)))
    return frame_rows(base, boxes)


def read_cvat_xml(
    path: str | Path, task: str, on_bad_sample: str = "error", skipped: list[Problem] | None = None
) -> list[Row]:
    """Rows of a CVAT for images 1.1 XML export: every shape as its box (see shapes.py).

    Frames or shapes with missing or malformed fields follow `on_bad_sample`; shapes that
    have no box are recorded in `skipped`; a file that is missing or not well-formed XML
    raises BadInputError naming the line. A project export is read as one task.
    """
    path, skipped = Path(path), [] if skipped is None else skipped
    if not path.is_file():
        raise BadInputError(path, f"task {task!r}: annotation file does not exist")
    rows: list[Row] = []
    seen: dict[int, str] = {}
    project_fields: set[str] = set()
    try:
        events = ET.iterparse(path, events=("start", "end"))
        _, root = next(events)
        if root.tag != "annotations":
            raise BadInputError(path, f"task {task!r}: root is <{root.tag}>, not <annotations>")
        for event, element in events:
            if event == "start":
                continue
            if element.tag == "image":
                project_fields.update(k for k in PROJECT_IMAGE_FIELDS if k in element.attrib)
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
    if project_fields:
        log.warning(
            "%s: a project export read as the one task %r; the frames' %s are not kept",
            path,
            task,
            " and ".join(sorted(project_fields)),
        )
    return rows
