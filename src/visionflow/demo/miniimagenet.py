"""Synthetic MiniImageNet-format ImageFolder: coloured shapes on textured noise.

Each class pairs one of ten hue families with a shape; neighbouring hues carry different
shapes, so colour alone leaves confusions that shape resolves. Output is byte-identical per seed.
"""

from __future__ import annotations

import colorsys
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from visionflow.io import atomic_directory

SHAPES = ("disc", "square", "triangle", "cross", "stripes", "ring")
HUES = tuple(i / 10 for i in range(10))
MAX_CLASSES = math.lcm(len(SHAPES), len(HUES))
MAX_TILT = 30.0
GRAY_EVERY = 40
JPEG_QUALITY = 90


def wnid(label: int) -> str:
    """WordNet-style folder name of class `label`, e.g. n01000000."""
    return f"n{1_000_000 + label * 1013:08d}"


def class_design(label: int) -> tuple[str, float]:
    """The (shape, hue) pair of class `label`; distinct for labels below MAX_CLASSES."""
    return SHAPES[label % len(SHAPES)], HUES[label % len(HUES)]


def _hsv(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    """An RGB byte triple from HSV in [0, 1] (hue wraps)."""
    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


def _shape_mask(shape: str, size: int) -> Image.Image:
    """An upright 'L' mask of `shape` centred in a size x size square, safe to rotate."""
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    c, s = size / 2, size
    if shape == "disc":
        draw.ellipse([c - 0.42 * s, c - 0.42 * s, c + 0.42 * s, c + 0.42 * s], fill=255)
    elif shape == "square":
        draw.rectangle([0.17 * s, 0.17 * s, 0.83 * s, 0.83 * s], fill=255)
    elif shape == "triangle":
        angles = np.deg2rad([90, 210, 330])
        draw.polygon([(c + 0.46 * s * np.cos(a), c - 0.46 * s * np.sin(a)) for a in angles], 255)
    elif shape == "cross":
        draw.rectangle([0.05 * s, 0.39 * s, 0.95 * s, 0.61 * s], fill=255)
        draw.rectangle([0.39 * s, 0.05 * s, 0.61 * s, 0.95 * s], fill=255)
    elif shape == "stripes":
        for top in (0.18, 0.42, 0.66):
            draw.rectangle([0.18 * s, top * s, 0.82 * s, (top + 0.14) * s], fill=255)
    else:  # ring
        draw.ellipse([c - 0.45 * s, c - 0.45 * s, c + 0.45 * s, c + 0.45 * s], fill=255)
        draw.ellipse([c - 0.27 * s, c - 0.27 * s, c + 0.27 * s, c + 0.27 * s], fill=0)
    return mask


def _background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A blotchy, mostly grey texture of random brightness."""
    cells = rng.integers(3, 9, size=2)
    base = rng.uniform(50, 205) + rng.normal(0, 15, size=3)
    blotches = base + rng.normal(0, 30, size=(cells[0], cells[1], 3)) * rng.uniform(0.4, 1.0)
    small = Image.fromarray(np.clip(blotches, 0, 255).astype(np.uint8), "RGB")
    return small.resize((width, height), Image.Resampling.BICUBIC)


def _paste_shape(
    rng: np.random.Generator,
    canvas: Image.Image,
    shape: str,
    colour: tuple[int, int, int],
    scale: tuple[float, float],
) -> None:
    """Draw `shape` in `colour` on `canvas` at a random position, size and rotation."""
    width, height = canvas.size
    size = max(8, round(rng.uniform(*scale) * min(width, height)))
    mask = _shape_mask(shape, size).rotate(
        rng.uniform(-MAX_TILT, MAX_TILT), Image.Resampling.BICUBIC
    )
    x = int(rng.integers(0, max(1, width - size + 1)))
    y = int(rng.integers(0, max(1, height - size + 1)))
    canvas.paste(Image.new("RGB", (size, size), colour), (x, y), mask)


def render(rng: np.random.Generator, label: int) -> Image.Image:
    """One RGB image of class `label` with random size, pose, colour jitter and clutter."""
    height = int(rng.integers(56, 141))
    width = int(np.clip(round(height * rng.uniform(0.6, 1.7)), 56, 140))
    canvas = _background(rng, width, height)
    distractor_colour = _hsv(rng.uniform(), rng.uniform(0, 0.3), rng.uniform(0.2, 0.9))
    _paste_shape(rng, canvas, str(rng.choice(SHAPES)), distractor_colour, (0.15, 0.3))
    shape, hue = class_design(label)
    colour = _hsv(hue + rng.normal(0, 0.02), rng.uniform(0.7, 1), rng.uniform(0.6, 1))
    _paste_shape(rng, canvas, shape, colour, (0.45, 0.85))
    noisy = np.asarray(canvas, dtype=np.float32) + rng.normal(0, 8, size=(height, width, 1))
    noisy += rng.normal(0, 4, size=(height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _write_split(folder: Path, split_index: int, n_classes: int, per_class: int, seed: int) -> None:
    """Write one split's class folders of JPEGs; every GRAY_EVERY-th image is grayscale."""
    for label in range(n_classes):
        class_dir = folder / wnid(label)
        class_dir.mkdir(parents=True)
        for k in range(per_class):
            image = render(np.random.default_rng([seed, split_index, label, k]), label)
            if (label * per_class + k) % GRAY_EVERY == GRAY_EVERY - 1:
                image = image.convert("L")
            image.save(class_dir / f"{wnid(label)}_{k}.JPEG", "JPEG", quality=JPEG_QUALITY)


def generate(
    root: Path,
    n_classes: int = 10,
    train_per_class: int = 60,
    val_per_class: int = 20,
    seed: int = 0,
) -> None:
    """Write a deterministic demo dataset to `root/{train,val}/<wnid>/<wnid>_<k>.JPEG`.

    The tree is built in a temporary sibling folder and renamed into place when complete.
    """
    if not 1 <= n_classes <= MAX_CLASSES:
        raise ValueError(f"n_classes must be in 1..{MAX_CLASSES}, got {n_classes}")
    if min(train_per_class, val_per_class) < 1:
        raise ValueError("train_per_class and val_per_class must be positive")
    with atomic_directory(root) as staging:
        _write_split(staging / "train", 0, n_classes, train_per_class, seed)
        _write_split(staging / "val", 1, n_classes, val_per_class, seed)
