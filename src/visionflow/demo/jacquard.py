"""Synthetic Jacquard-format grasping data: objects built from bars and discs on a table.

Each class has its own silhouette and hue; its thin bars (chair legs, lamp stem, pen body, ...)
are drawn darker and carry every grasp, placed across the bar, so class, depth and grasp maps
are all learnable. Output is byte-identical per seed.
"""

from __future__ import annotations

import colorsys
import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, ImageDraw

from visionflow.data.jacquard import DEFAULT_CLASSES
from visionflow.io import atomic_directory

# Parts in an object frame of [-1, 1]^2 (y down): ("bar", start, end, thickness, graspable)
# or ("disc", centre, radius).
Part = tuple
DESIGNS: tuple[tuple[Part, ...], ...] = (
    (  # chair, side view: seat, two legs, backrest
        ("bar", (-0.55, 0.05), (0.55, 0.05), 0.33, False),
        ("bar", (-0.45, 0.15), (-0.45, 0.85), 0.15, True),
        ("bar", (0.45, 0.15), (0.45, 0.85), 0.15, True),
        ("bar", (-0.5, -0.85), (-0.5, -0.05), 0.18, True),
    ),
    (  # lamp: base, stem, shade
        ("disc", (0.0, 0.75), 0.25),
        ("bar", (0.0, 0.65), (0.0, -0.4), 0.135, True),
        ("bar", (-0.35, -0.6), (0.35, -0.6), 0.525, False),
    ),
    (  # figurine: body, head, neck, arms
        ("disc", (0.0, 0.35), 0.38),
        ("disc", (0.0, -0.58), 0.25),
        ("bar", (0.0, -0.4), (0.0, 0.0), 0.21, True),
        ("bar", (-0.3, 0.2), (-0.78, -0.15), 0.15, True),
        ("bar", (0.3, 0.2), (0.78, -0.15), 0.15, True),
    ),
    (  # plant: pot and three leaves
        ("bar", (0.0, 0.45), (0.0, 0.9), 0.75, False),
        ("bar", (0.0, 0.4), (-0.65, -0.5), 0.15, True),
        ("bar", (0.0, 0.4), (0.0, -0.9), 0.15, True),
        ("bar", (0.0, 0.4), (0.65, -0.5), 0.15, True),
    ),
    (  # pen: body and tip
        ("bar", (-0.85, 0.0), (0.7, 0.0), 0.18, True),
        ("bar", (0.7, 0.0), (0.95, 0.0), 0.075, False),
    ),
)
DEFAULT_SPLITS = {"train": 2 / 3, "test": 1 / 3}
TABLE_DEPTH = 1.0  # metres from the camera
GRASPS_PER_BAR = (4, 9)


def object_id(seed: int, name: str, index: int) -> str:
    """A ShapeNet-like 32-hex id of object `index` of class `name`."""
    return hashlib.md5(f"{seed}:{name}:{index}".encode()).hexdigest()


def class_design(label: int) -> tuple[tuple[Part, ...], float]:
    """The (parts, hue) of class `label`: designs repeat every 5 classes, hues never."""
    return DESIGNS[label % len(DESIGNS)], (0.03 + label * 0.618034) % 1.0


def _rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    """An RGB byte triple from HSV in [0, 1] (hue wraps)."""
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


def _bar_corners(start: np.ndarray, end: np.ndarray, thickness: float) -> list[tuple]:
    """The four corners of a bar of `thickness` from `start` to `end` (image pixels)."""
    axis = (end - start) / max(np.linalg.norm(end - start), 1e-9)
    side = np.array([-axis[1], axis[0]]) * thickness / 2
    return [tuple(p) for p in (start + side, end + side, end - side, start - side)]


def _place(parts: tuple[Part, ...], rng: np.random.Generator, size: int) -> list[Part]:
    """Parts in image pixels for one view: object scale, rotation and position jittered."""
    half = rng.uniform(0.36, 0.42) * size
    angle = rng.uniform(0, 2 * math.pi)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    margin = 1.05 * half
    centre = rng.uniform(margin, size - margin, size=2)
    placed: list[Part] = []
    for part in parts:
        if part[0] == "disc":
            placed.append(("disc", centre + turn @ np.array(part[1]) * half, part[2] * half))
        else:
            start, end = (centre + turn @ np.array(p) * half for p in part[1:3])
            placed.append(("bar", start, end, part[3] * half * rng.uniform(0.9, 1.1), part[4]))
    return placed


def _draw(parts: list[Part], size: int, hue: float, rng: np.random.Generator) -> tuple:
    """(RGB image, 'L' mask, height above table in metres) of the placed parts."""
    cells = rng.uniform(90, 170) + rng.normal(0, 12, size=(6, 6, 3))
    rgb = Image.fromarray(np.clip(cells, 0, 255).astype(np.uint8), "RGB").resize(
        (size, size), Image.Resampling.BICUBIC
    )
    mask = Image.new("L", (size, size), 0)
    heights = np.zeros((size, size), np.float32)
    body, grip = _rgb(hue, 0.75, 0.95), _rgb(hue, 0.9, 0.45)
    for part in sorted(parts, key=lambda p: p[0] == "bar" and p[4]):  # graspable bars on top
        layer = Image.new("L", (size, size), 0)
        pen = ImageDraw.Draw(layer)
        if part[0] == "disc":
            (x, y), r = part[1], part[2]
            pen.ellipse([x - r, y - r, x + r, y + r], fill=255)
            colour, height = body, 0.06
        else:
            pen.polygon(_bar_corners(part[1], part[2], part[3]), fill=255)
            colour, height = (grip, 0.03) if part[4] else (body, 0.05)
        rgb.paste(colour, (0, 0), layer)
        mask.paste(255, (0, 0), layer)
        heights = np.maximum(heights, (np.asarray(layer) > 0) * np.float32(height))
    noisy = np.asarray(rgb, np.float32) + rng.normal(0, 4, size=(size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB"), mask, heights


def _grasps(parts: list[Part], rng: np.random.Generator) -> list[tuple[float, ...]]:
    """Grasp lines (x, y, theta_deg, opening, jaw) across the graspable bars."""
    lines = []
    for part in parts:
        if part[0] != "bar" or not part[4]:
            continue
        start, end, thickness = part[1], part[2], part[3]
        axis = math.degrees(math.atan2(end[1] - start[1], end[0] - start[0]))
        for t in rng.uniform(0.15, 0.85, size=int(rng.integers(*GRASPS_PER_BAR))):
            x, y = start + t * (end - start) + rng.normal(0, 0.05 * thickness, size=2)
            theta = (axis + 90 + rng.uniform(-10, 10) + 90) % 180 - 90
            opening = thickness * rng.uniform(1.3, 1.8)
            lines.append((x, y, theta, opening, thickness * rng.uniform(0.6, 1.0)))
    return lines


def _write_view(
    folder: Path, stem: str, parts: list[Part], hue: float, rng: np.random.Generator, size: int
) -> None:
    """Write the five files of one view: RGB, perfect and stereo depth, mask, grasps."""
    rgb, mask, heights = _draw(parts, size, hue, rng)
    ramp = np.linspace(-0.02, 0.02, size, dtype=np.float32)
    depth = (TABLE_DEPTH + ramp[None, :] * rng.uniform(-1, 1) - heights).astype(np.float32)
    stereo = (depth + rng.normal(0, 0.002, size=depth.shape)).astype(np.float32)
    rgb.save(folder / f"{stem}_RGB.png")
    mask.save(folder / f"{stem}_mask.png")
    tifffile.imwrite(folder / f"{stem}_perfect_depth.tiff", depth)
    tifffile.imwrite(folder / f"{stem}_stereo_depth.tiff", stereo)
    text = "".join(";".join(f"{v:.3f}" for v in line) + "\n" for line in _grasps(parts, rng))
    (folder / f"{stem}_grasps.txt").write_text(text)


def _split_of(splits: Mapping[str, float], count: int) -> list[str]:
    """The split of each of `count` objects, in proportion to `splits` (each gets one or more)."""
    names, weights = list(splits), np.array(list(splits.values()), dtype=np.float64)
    ends = np.round(np.cumsum(weights) / weights.sum() * count).astype(int)
    sizes = np.diff(ends, prepend=0)
    if (sizes < 1).any():
        raise ValueError(f"splits {dict(splits)} leave a split without objects of {count}")
    return [name for name, n in zip(names, sizes, strict=True) for _ in range(n)]


def _write_class(
    root: Path, label: int, name: str, split_of: list[str], views: int, size: int, seed: int
) -> None:
    """Write every object and view of class `name` into its split folders."""
    parts, hue = class_design(label)
    for k, split in enumerate(split_of):
        obj = object_id(seed, name, k)
        folder = root / split / name / obj
        folder.mkdir(parents=True)
        obj_hue = hue + np.random.default_rng([seed, label, k]).normal(0, 0.015)
        for view in range(views):
            rng = np.random.default_rng([seed, label, k, view])
            _write_view(folder, f"{view}_{obj}", _place(parts, rng, size), obj_hue, rng, size)


def generate(
    root: Path,
    classes: Sequence[str] = DEFAULT_CLASSES,
    objects_per_class: int = 6,
    views_per_object: int = 2,
    splits: Mapping[str, float] = DEFAULT_SPLITS,
    size: int = 256,
    seed: int = 0,
) -> None:
    """Write a deterministic demo dataset to `root/<split>/<class>/<object>/<n>_<object>_*`.

    `splits` gives each split's share of every class's objects. The tree is built in a
    temporary sibling folder and renamed into place when complete.
    """
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct and not empty, got {list(classes)}")
    if min(objects_per_class, views_per_object) < 1 or size < 32:
        raise ValueError("objects_per_class, views_per_object must be >= 1 and size >= 32")
    split_of = _split_of(splits, objects_per_class)
    with atomic_directory(root) as staging:
        for label, name in enumerate(classes):
            _write_class(staging, label, name, split_of, views_per_object, size, seed)
