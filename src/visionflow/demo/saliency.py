"""Synthetic saliency data: scenes of colour fields, blobs and texture with one map per task rule.

Every task map is computed from the saved (decoded JPEG) image by its own rule, so a small CNN can
learn each relation; a couple of (task, image) maps are left out, as in the original data where
not every task covered every image. Output is byte-identical per seed.
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from visionflow.io import atomic_directory

TASKS = ("centre_bias", "colour_contrast", "edge_density", "bright_spots")
ASPECTS = (3 / 4, 1.0, 4 / 3)  # width / height
MISSING = 2  # (task, image) pairs without a map
JPEG_QUALITY = 92
LUMA = np.array([0.299, 0.587, 0.114])


def _normalise(values: np.ndarray) -> np.ndarray:
    """`values` scaled linearly to 0..255 uint8 (all zero if constant)."""
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.round(scaled * 255).astype(np.uint8)


def _sigma(rgb: np.ndarray, fraction: float) -> float:
    """A blur width as a fraction of the image's shorter side."""
    return fraction * min(rgb.shape[:2])


def centre_bias(rgb: np.ndarray) -> np.ndarray:
    """A Gaussian at the image centre, a quarter of each side wide; ignores the content."""
    height, width = rgb.shape[:2]
    y = (np.arange(height) + 0.5 - height / 2) / (0.25 * height)
    x = (np.arange(width) + 0.5 - width / 2) / (0.25 * width)
    return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))


def colour_contrast(rgb: np.ndarray) -> np.ndarray:
    """Blurred distance of each pixel's chroma (RGB minus luminance) from the image's mean."""
    pixels = rgb.astype(np.float64)
    chroma = pixels - (pixels @ LUMA)[..., None]
    distance = np.linalg.norm(chroma - chroma.mean(axis=(0, 1)), axis=2)
    return ndimage.gaussian_filter(distance, _sigma(rgb, 0.03))


def edge_density(rgb: np.ndarray) -> np.ndarray:
    """Blurred square root of the Sobel gradient magnitude of the luminance."""
    luma = rgb.astype(np.float64) @ LUMA
    magnitude = np.hypot(ndimage.sobel(luma, axis=0), ndimage.sobel(luma, axis=1))
    return ndimage.gaussian_filter(np.sqrt(magnitude), _sigma(rgb, 0.04))


def bright_spots(rgb: np.ndarray) -> np.ndarray:
    """Blurred mask of the brightest 1% of pixels by luminance."""
    luma = rgb.astype(np.float64) @ LUMA
    mask = (luma >= np.percentile(luma, 99)).astype(np.float64)
    return ndimage.gaussian_filter(mask, _sigma(rgb, 0.04))


RULES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "centre_bias": centre_bias,
    "colour_contrast": colour_contrast,
    "edge_density": edge_density,
    "bright_spots": bright_spots,
}


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    """An RGB byte triple from HSV in [0, 1]."""
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def _box(
    rng: np.random.Generator, width: int, height: int, scale: tuple[float, float]
) -> list[int]:
    """A random [x0, y0, x1, y1] box whose sides are `scale` fractions of the shorter side."""
    side = min(width, height)
    w, h = (rng.uniform(*scale, size=2) * side).round()
    x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return [round(x), round(y), round(x + w), round(y + h)]


def render(rng: np.random.Generator, size: int) -> Image.Image:
    """One RGB scene: a smooth muted colour field, texture patches, saturated blobs, bright dots."""
    height = int(rng.integers(size - size // 8, size + size // 8 + 1))
    width = round(height * ASPECTS[int(rng.integers(len(ASPECTS)))])
    base = rng.uniform(70, 150) + rng.normal(0, 12, size=(3, 4, 3))
    canvas = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    canvas = canvas.resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(1, 3))):  # dark stripes: many edges, little colour
        x0, y0, x1, y1 = _box(rng, width, height, (0.25, 0.45))
        period = int(rng.integers(3, 6))
        shade = tuple(int(v) for v in rng.integers(10, 50, size=3))
        for x in range(x0, x1, period):
            draw.line([x, y0, x, y1], fill=shade, width=1)
    for _ in range(int(rng.integers(2, 5))):  # saturated, mid-brightness blobs and rectangles
        fill = _hsv(rng.uniform(), rng.uniform(0.75, 1.0), rng.uniform(0.55, 0.8))
        box = _box(rng, width, height, (0.15, 0.35))
        (draw.ellipse if rng.uniform() < 0.5 else draw.rectangle)(box, fill=fill)
    for _ in range(int(rng.integers(2, 4))):  # small near-white dots
        draw.ellipse(_box(rng, width, height, (0.07, 0.11)), fill=(250, 250, 245))
    noisy = np.asarray(canvas, dtype=np.float64) + rng.normal(0, 3, size=(height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def _missing_pairs(tasks: Sequence[str], names: list[str], seed: int) -> dict[str, list[str]]:
    """{task: sorted image names} of MISSING distinct (task, image) pairs chosen with `seed`."""
    rng = np.random.default_rng([seed, 1])
    count = min(MISSING, len(tasks) * len(names))
    picks = rng.choice(len(tasks) * len(names), size=count, replace=False)
    missing: dict[str, list[str]] = {task: [] for task in tasks}
    for pick in sorted(int(p) for p in picks):
        missing[tasks[pick // len(names)]].append(names[pick % len(names)])
    return missing


def generate(
    out: Path,
    images: int = 48,
    size: int = 96,
    seed: int = 0,
    tasks: Sequence[str] = TASKS,
) -> dict[str, list[str]]:
    """Write `out/images/<name>.jpg` and `out/saliencies/<task>/<name>.png`; return the missing.

    The result maps every task to the image names left without a map. The tree is built in a
    temporary sibling folder and renamed into place when complete.
    """
    unknown = sorted(set(tasks) - set(RULES))
    if unknown or len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks must be distinct names from {sorted(RULES)}, got {list(tasks)}")
    if images < 1 or size < 16:
        raise ValueError(f"need images >= 1 and size >= 16, got {images}, {size}")
    names = [f"img_{k:04d}" for k in range(images)]
    missing = _missing_pairs(tasks, names, seed)
    with atomic_directory(out) as staging:
        (staging / "images").mkdir()
        for task in tasks:
            (staging / "saliencies" / task).mkdir(parents=True)
        for k, name in enumerate(names):
            buffer = io.BytesIO()
            image = render(np.random.default_rng([seed, 0, k]), size)
            image.save(buffer, "JPEG", quality=JPEG_QUALITY)
            (staging / "images" / f"{name}.jpg").write_bytes(buffer.getvalue())
            with Image.open(buffer) as saved:
                rgb = np.asarray(saved.convert("RGB"))
            for task in tasks:
                if name not in missing[task]:
                    saliency = Image.fromarray(_normalise(RULES[task](rgb)), "L")
                    saliency.save(staging / "saliencies" / task / f"{name}.png")
    return missing
