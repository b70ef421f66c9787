"""Reading raw Jacquard: the folder layout, grasp files, RGB, depth and mask of one view.

A view is the files `<root>/<split>/<class>/<object_id>/<n>_<object_id>_<suffix>`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from visionflow.data.conversion import Problem, reject, wide_mode_problem
from visionflow.data.jacquard import SPLITS
from visionflow.data.jacquard.grasp_maps import grasp_maps, scale_grasps
from visionflow.io import BadInputError

log = logging.getLogger(__name__)

SUFFIXES = {
    "rgb": "_RGB.png",
    "depth": "_perfect_depth.tiff",
    "mask": "_mask.png",
    "grasps": "_grasps.txt",
}


def _parse_line(path: Path, number: int, line: str) -> list[float]:
    """The five numbers of one grasp line; BadInputError naming file and line otherwise."""
    fields = line.split(";")
    try:
        values = [float(field) for field in fields]
    except ValueError:
        values = []
    if len(values) != 5 or not all(math.isfinite(v) for v in values):
        raise BadInputError(
            path, f"line {number}: expected 'x;y;theta;opening;jaw_size' numbers, found {line!r}"
        )
    if values[3] <= 0 or values[4] <= 0:
        raise BadInputError(path, f"line {number}: opening and jaw size must be positive")
    return values


def parse_grasps(path: Path) -> np.ndarray:
    """(N, 5) float64 array of `x;y;theta_deg;opening;jaw_size` lines; blank lines ignored."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"unreadable grasp file ({exc})") from exc
    rows = [
        _parse_line(path, number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not rows:
        raise BadInputError(path, "no grasp lines")
    return np.array(rows, dtype=np.float64)


def check_inside(path: Path, grasps: np.ndarray, width: int, height: int) -> None:
    """BadInputError naming the first grasp line whose centre lies outside the image."""
    x, y = grasps[:, 0], grasps[:, 1]
    outside = np.flatnonzero((x < 0) | (x > width) | (y < 0) | (y > height))
    if outside.size:
        k = int(outside[0])
        raise BadInputError(
            path,
            f"line {k + 1}: grasp centre ({x[k]:g}, {y[k]:g}) outside the {width}x{height} image",
        )


def _read_image(path: Path, mode: str) -> Image.Image:
    """The 8-bit image at `path`, fully decoded and converted to `mode`."""
    try:
        with Image.open(path) as img:
            problem = wide_mode_problem(img.mode)
            converted = None if problem else img.convert(mode)
    except Exception as exc:  # PIL raises many types for foreign or damaged files
        raise BadInputError(path, f"unreadable image ({type(exc).__name__}: {exc})") from exc
    if converted is None:
        raise BadInputError(path, str(problem))
    return converted


def _read_rgb(path: Path) -> Image.Image:
    """The RGB image at `path`, fully decoded."""
    return _read_image(path, "RGB")


def _read_mask(path: Path, shape: tuple[int, int]) -> Image.Image:
    """The mask at `path` as an 'L' image of `shape` (height, width)."""
    mask = _read_image(path, "L")
    if mask.size[::-1] != shape:
        raise BadInputError(path, f"expected a {shape[1]}x{shape[0]} mask, found {mask.size}")
    return mask


def read_depth(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The float depth TIFF at `path` as float32 of `shape`; BadInputError otherwise."""
    try:
        depth = tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types for foreign or damaged files
        raise BadInputError(path, f"unreadable TIFF ({type(exc).__name__}: {exc})") from exc
    if depth.shape != shape or not np.issubdtype(depth.dtype, np.floating):
        raise BadInputError(
            path,
            f"expected float depth of shape {shape}, found {depth.dtype} of shape {depth.shape}",
        )
    bad = int(np.count_nonzero(~np.isfinite(depth)))
    if bad:
        raise BadInputError(path, f"{bad} depth values are NaN or infinite")
    return depth.astype(np.float32)


def _resize_depth(depth: np.ndarray, size: int) -> np.ndarray:
    """Bicubic resize of a float32 depth image to size x size (the original's Pillow default)."""
    image = Image.fromarray(depth).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def _resize_mask(mask: Image.Image, size: int) -> np.ndarray:
    """1 where the bicubic-resized mask is above 0: the object as the original's resized mask
    (grey edge pixels included) marks it."""
    resized = mask.resize((size, size), Image.Resampling.BICUBIC)
    return (np.asarray(resized) > 0).astype(np.uint8)


def load_sample(stem: Path, size: int) -> dict[str, np.ndarray]:
    """Arrays of the sample whose files start with `stem`: rgb, depth, mask, maps, raw_size."""
    paths = {key: Path(f"{stem}{suffix}") for key, suffix in SUFFIXES.items()}
    for path in paths.values():
        if not path.is_file():
            raise BadInputError(path, "file does not exist")
    rgb = _read_rgb(paths["rgb"])
    width, height = rgb.size
    if width != height:
        raise BadInputError(paths["rgb"], f"expected a square image, found {width}x{height}")
    depth = read_depth(paths["depth"], (height, width))
    mask = _read_mask(paths["mask"], (height, width))
    grasps = parse_grasps(paths["grasps"])
    check_inside(paths["grasps"], grasps, width, height)
    square = (size, size)
    return {
        "rgb": np.asarray(rgb.resize(square, Image.Resampling.BICUBIC), dtype=np.uint8),
        "depth": _resize_depth(depth, size),
        "mask": _resize_mask(mask, size),
        "maps": grasp_maps(grasps, width, size),
        "gt_grasps": scale_grasps(grasps, width, size).ravel().tolist(),
        "n_grasps": np.int64(len(grasps)),
        "raw_size": np.int64(width),
    }


def _subdirs(folder: Path) -> list[Path]:
    """Sorted, non-hidden sub-folders of `folder`."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _views(object_dir: Path) -> list[str]:
    """Sorted view numbers `n` of files named `<n>_<object_id>_<suffix>` in `object_dir`."""
    known = "|".join(re.escape(s) for s in (*SUFFIXES.values(), "_stereo_depth.tiff"))
    pattern = re.compile(rf"(\d+)_{re.escape(object_dir.name)}(?:{known})")
    views = {m.group(1) for p in object_dir.iterdir() if (m := pattern.fullmatch(p.name))}
    return sorted(views, key=int)


def _split_folders(
    root: Path, splits: Sequence[str], on_bad_sample: str, skipped: list[Problem]
) -> list[Path]:
    """The folders of `splits` under `root`; a warning names every other folder left out."""
    others = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in splits)
    if others:
        log.warning("%s: ignored folders that are not one of the splits %s: %s",
                    root, ", ".join(splits), ", ".join(others))  # fmt: skip
    folders = []
    for name in splits:
        if (root / name).is_dir():
            folders.append(root / name)
        else:
            reject(root / name, "missing split folder", on_bad_sample, skipped)
    return folders


def scan(
    root: Path,
    classes: Sequence[str],
    on_bad_sample: str,
    skipped: list[Problem],
    splits: Sequence[str] = SPLITS,
) -> pd.DataFrame:
    """One row (split, class, label, object_id, view, stem) per sample of `splits` under `root`."""
    if not root.is_dir():
        raise BadInputError(root, "dataset folder does not exist")
    rows = []
    for split_dir in _split_folders(root, splits, on_bad_sample, skipped):
        for label, name in enumerate(classes):
            class_dir = split_dir / name
            if not class_dir.is_dir():
                reject(class_dir, "missing class folder", on_bad_sample, skipped)
                continue
            for object_dir in _subdirs(class_dir):
                views = _views(object_dir)
                if not views:
                    reject(object_dir, "no sample files", on_bad_sample, skipped)
                rows.extend(
                    (split_dir.name, name, label, object_dir.name, int(view),
                     object_dir / f"{view}_{object_dir.name}")
                    for view in views
                )  # fmt: skip
    columns = ["split", "class", "label", "object_id", "view", "stem"]
    return pd.DataFrame(rows, columns=columns)
