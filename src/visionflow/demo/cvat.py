"""Synthetic obdb raw data: CVAT tasks of video-like JPEG frames with shapes to detect.

Each task is a folder named like the field recordings ("FieldData <timestamp> <row><side>
GH<clip>") holding `images/frame_NNNNNN.jpg` and `annotations.xml` (CVAT for images 1.1);
the last task of several is written as COCO `annotations.json` instead. Frames pan slowly
across a muted soil texture; each label has its own shape and saturated colour. About one
frame in MISSING_EVERY has its objects drawn but not annotated, as in the real data, and
some frames hold no object. Output is byte-identical per seed.
"""

from __future__ import annotations

import colorsys
import json
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from PIL import Image, ImageDraw

from visionflow.io import atomic_directory

SHAPES = ("circle", "square", "triangle", "diamond", "cross")
MAX_OBJECTS = 4
EMPTY_PROBABILITY = 0.08
MISSING_EVERY = 8
DRIFT = 0.75  # px the view pans per frame
JPEG_QUALITY = 90
EPOCH = datetime(2020, 5, 1, 6, 0, 0)
Box = tuple[int, int, int, int, int]  # label index, xmin, ymin, xmax, ymax


def task_name(seed: int, index: int) -> str:
    """The field-recording style name of task `index`, e.g. FieldData 20200520145736 1L GH020068."""
    rng = np.random.default_rng([seed, index, 1])
    stamp = EPOCH + timedelta(seconds=int(rng.integers(0, 45 * 86_400)))
    side = "LR"[int(rng.integers(2))]
    clip = f"GH{index + 1:02d}{int(rng.integers(10_000)):04d}"
    return f"FieldData {stamp:%Y%m%d%H%M%S} {int(rng.integers(1, 4))}{side} {clip}"


def _colour(label: int, labels: int) -> tuple[int, int, int]:
    """The saturated RGB colour of `label` (hues spread over the circle)."""
    r, g, b = colorsys.hsv_to_rgb(label / labels, 0.9, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: Box, colour: tuple[int, int, int]) -> None:
    """Draw `shape` filling the pixels [xmin, xmax) x [ymin, ymax) of `box` exactly."""
    _, x0, y0, x1, y1 = box
    x1, y1 = x1 - 1, y1 - 1  # PIL's corners are inclusive pixels
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if shape == "circle":
        draw.ellipse([x0, y0, x1, y1], fill=colour)
    elif shape == "square":
        draw.rectangle([x0, y0, x1, y1], fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=colour)
    elif shape == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=colour)
    else:  # cross
        bar_x, bar_y = (x1 - x0) / 6, (y1 - y0) / 6
        draw.rectangle([x0, cy - bar_y, x1, cy + bar_y], fill=colour)
        draw.rectangle([cx - bar_x, y0, cx + bar_x, y1], fill=colour)


def _texture(rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
    """Muted soil with faint leaf patches: float RGB of size x (size + pan) pixels."""
    width = size + int(np.ceil(frames * DRIFT)) + 1
    cells = rng.uniform(0, 255, size=(max(2, size // 16), max(2, width // 16), 2))
    fields = [
        Image.fromarray(np.uint8(cells[..., i])).resize((width, size), Image.Resampling.BICUBIC)
        for i in range(2)
    ]
    light, leaf = (np.asarray(f, np.float32)[..., None] / 255 for f in fields)
    soil = np.array([112, 96, 76], np.float32) + rng.normal(0, 6, size=3)
    green = np.array([88, 112, 70], np.float32)
    base = soil + (green - soil) * leaf + 50 * (light - 0.5)
    return base + rng.normal(0, 8, size=(size, width, 1))


def _objects(rng: np.random.Generator, size: int, labels: int) -> list[Box]:
    """0..MAX_OBJECTS random boxes (label, xmin, ymin, xmax, ymax) inside a size x size frame."""
    count = 0 if rng.random() < EMPTY_PROBABILITY else int(rng.integers(1, MAX_OBJECTS + 1))
    boxes = []
    for _ in range(count):
        side = int(rng.integers(max(6, size // 8), max(7, size // 3)))
        aspect = rng.uniform(0.8, 1.25)
        w, h = side, max(6, min(size, round(side * aspect)))
        x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        boxes.append((int(rng.integers(labels)), x, y, x + w, y + h))
    return boxes


def _frame(texture: np.ndarray, t: int, size: int, noise: np.ndarray) -> Image.Image:
    """Frame `t`: the texture seen through a window panned by t * DRIFT px, with sensor noise."""
    left = int(round(t * DRIFT))
    pixels = texture[:, left : left + size] + noise
    return Image.fromarray(np.uint8(np.clip(pixels, 0, 255)), "RGB")


def _file(frame: int) -> str:
    """File name of frame `frame`."""
    return f"frame_{frame:06d}.jpg"


def _xml(
    name: str, created: datetime, labels: tuple[str, ...], frames: list[list[Box]], size: int
) -> str:
    """The task's annotations in CVAT for images 1.1 XML (empty lists: frames without boxes)."""
    stamp = f"{created:%Y-%m-%d %H:%M:%S}.000000+00:00"
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<annotations>",
        "  <version>1.1</version>",
        "  <meta>",
        "    <task>",
        "      <id>1</id>",
        f"      <name>{escape(name)}</name>",
        f"      <size>{len(frames)}</size>",
        "      <mode>annotation</mode>",
        "      <overlap>0</overlap>",
        "      <bugtracker></bugtracker>",
        f"      <created>{stamp}</created>",
        f"      <updated>{stamp}</updated>",
        "      <subset>default</subset>",
        "      <start_frame>0</start_frame>",
        f"      <stop_frame>{len(frames) - 1}</stop_frame>",
        "      <frame_filter></frame_filter>",
        "      <labels>",
    ]
    for i, label in enumerate(labels):
        colour = "".join(f"{c:02x}" for c in _colour(i, len(labels)))
        lines += [
            "        <label>",
            f"          <name>{escape(label)}</name>",
            f"          <color>#{colour}</color>",
            "          <type>rectangle</type>",
            "          <attributes>",
            "          </attributes>",
            "        </label>",
        ]
    lines += ["      </labels>", "    </task>", f"    <dumped>{stamp}</dumped>", "  </meta>"]
    for frame, boxes in enumerate(frames):
        image = f'  <image id="{frame}" name="{_file(frame)}" width="{size}" height="{size}"'
        if not boxes:
            lines.append(image + ">\n  </image>")
            continue
        lines.append(image + ">")
        for label, x0, y0, x1, y1 in boxes:
            coords = f'xtl="{x0:.2f}" ytl="{y0:.2f}" xbr="{x1:.2f}" ybr="{y1:.2f}"'
            lines.append(
                f'    <box label={quoteattr(labels[label])} source="manual" occluded="0" '
                f'{coords} z_order="0">\n    </box>'
            )
        lines.append("  </image>")
    lines.append("</annotations>")
    return "\n".join(lines) + "\n"


def _coco(created: datetime, labels: tuple[str, ...], frames: list[list[Box]], size: int) -> str:
    """The task's annotations as CVAT's COCO 1.0 export writes them (image ids from 1)."""
    images, annotations = [], []
    for frame, boxes in enumerate(frames):
        images.append(
            {
                "id": frame + 1,
                "width": size,
                "height": size,
                "file_name": _file(frame),
                "license": 0,
                "flickr_url": "",
                "coco_url": "",
                "date_captured": 0,
            }
        )
        for label, x0, y0, x1, y1 in boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame + 1,
                    "category_id": label + 1,
                    "segmentation": [],
                    "area": float((x1 - x0) * (y1 - y0)),
                    "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    "iscrowd": 0,
                    "attributes": {"occluded": False, "rotation": 0.0},
                }
            )
    document = {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {
            "contributor": "",
            "date_created": f"{created:%Y-%m-%d}",
            "description": "",
            "url": "",
            "version": "",
            "year": f"{created:%Y}",
        },
        "categories": [{"id": i + 1, "name": n, "supercategory": ""} for i, n in enumerate(labels)],
        "images": images,
        "annotations": annotations,
    }
    return json.dumps(document, indent=1) + "\n"


def _write_task(
    folder: Path,
    name: str,
    rng: np.random.Generator,
    frames: int,
    size: int,
    labels: tuple[str, ...],
    coco: bool,
) -> dict[str, list[int]]:
    """Write one task's frames and annotations; return its unannotated and empty frames."""
    (folder / "images").mkdir(parents=True)
    texture = _texture(rng, size, frames)
    drawn = [_objects(rng, size, len(labels)) for _ in range(frames)]
    with_objects = [t for t, boxes in enumerate(drawn) if boxes]
    count = min(len(with_objects), max(1, frames // MISSING_EVERY))
    unannotated = sorted(int(t) for t in rng.choice(with_objects, size=count, replace=False))
    for t, boxes in enumerate(drawn):
        image = _frame(texture, t, size, rng.normal(0, 3, size=(size, size, 3)))
        draw = ImageDraw.Draw(image)
        for box in boxes:
            _draw(draw, SHAPES[box[0]], box, _colour(box[0], len(labels)))
        image.save(folder / "images" / _file(t), "JPEG", quality=JPEG_QUALITY)
    annotated = [[] if t in unannotated else boxes for t, boxes in enumerate(drawn)]
    created = datetime.strptime(name.split()[1], "%Y%m%d%H%M%S")
    if coco:
        (folder / "annotations.json").write_text(_coco(created, labels, annotated, size))
    else:
        (folder / "annotations.xml").write_text(_xml(name, created, labels, annotated, size))
    return {"unannotated": unannotated, "empty": [t for t, boxes in enumerate(drawn) if not boxes]}


def generate(
    out: Path,
    tasks: int = 3,
    frames_per_task: int = 40,
    size: int = 128,
    seed: int = 0,
    labels: tuple[str, ...] = ("circle", "square", "triangle"),
) -> dict[str, dict[str, list[int]]]:
    """Write `tasks` demo CVAT tasks under `out`; return each task's unannotated and empty frames.

    Label i is drawn as SHAPES[i]; the folder is built aside and renamed into place when done.
    """
    labels = tuple(labels)
    if not 1 <= len(labels) <= len(SHAPES) or len(set(labels)) < len(labels):
        raise ValueError(f"labels must be 1..{len(SHAPES)} distinct names, got {labels}")
    if min(tasks, frames_per_task) < 1 or size < 32:
        raise ValueError("tasks and frames_per_task must be positive and size at least 32")
    summary = {}
    with atomic_directory(out) as staging:
        for index in range(tasks):
            name = task_name(seed, index)
            rng = np.random.default_rng([seed, index])
            coco = tasks > 1 and index == tasks - 1
            summary[name] = _write_task(
                staging / name, name, rng, frames_per_task, size, labels, coco
            )
    return summary
