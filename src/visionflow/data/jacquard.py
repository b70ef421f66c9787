"""Convert raw Jacquard folders into packed arrays with 6-channel grasp maps per rotation.

`prepare` resizes RGB, perfect depth and mask to `size`, turns each sample's grasp lines into
four (size, size, 6) maps (the image turned 0, 90, 180, 270 degrees counter-clockwise, i.e.
`np.rot90(image, r)`), and stores everything as `.npy` arrays indexed by `manifest.parquet`.
Map channels: dx, dy (grasp centre minus pixel centre, output pixels), angle (theta + 90) / 180,
opening and jaw size (output pixels), coverage (covering grasps / most on the map).
`PackedJacquard` reads one split of that store through lazy memory maps.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tifffile
from PIL import Image

from visionflow.data.conversion import (
    POLICIES,
    Problem,
    progress,
    reject,
    wide_mode_problem,
    worker_pool,
)
from visionflow.data.store import PackedSplit
from visionflow.io import BadInputError, atomic_path, sha256_file, write_table

DEFAULT_CLASSES = ("Chair", "Lamp", "figurines", "plants", "pen+pencil")
SUFFIXES = {
    "rgb": "_RGB.png",
    "depth": "_perfect_depth.tiff",
    "mask": "_mask.png",
    "grasps": "_grasps.txt",
}
ROTATIONS = (0, 90, 180, 270)
CHANNELS = 6
ARRAYS = ("rgb", "depth", "mask", "maps")
CHUNKSIZE = 2
GRASP_CHUNK = 64  # grasps compared at once; bounds memory for files with many grasps


# ---------------------------------------------------------------- grasp lines


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


# ---------------------------------------------------------------- grasp maps


def scale_grasps(grasps: np.ndarray, raw_size: int, size: int) -> np.ndarray:
    """Raw grasps to output pixels (x, y, opening, jaw scaled alike); theta wrapped to [-90, 90]."""
    scaled = np.array(grasps, dtype=np.float64)
    scaled[:, [0, 1, 3, 4]] *= size / raw_size
    theta = scaled[:, 2]
    wrap = (theta < -90) | (theta > 90)
    scaled[wrap, 2] = np.mod(theta[wrap] + 90, 180) - 90
    return scaled


def rotate_grasps(grasps: np.ndarray, turns: int, size: int) -> np.ndarray:
    """Grasps of the image turned `turns` x 90 degrees counter-clockwise (`np.rot90`)."""
    centre = size / 2
    dx, dy = grasps[:, 0] - centre, grasps[:, 1] - centre
    x, y = [(dx, dy), (dy, -dx), (-dx, -dy), (-dy, dx)][turns % 4]
    theta = grasps[:, 2]
    if turns % 2:
        theta = np.where(theta <= 0, theta + 90, theta - 90)
    return np.column_stack([centre + x, centre + y, theta, grasps[:, 3], grasps[:, 4]])


def grasp_bounds(grasps: np.ndarray) -> tuple[np.ndarray, ...]:
    """(min_x, max_x, min_y, max_y) of each grasp rectangle's axis-aligned bounding box."""
    x, y, w, h = grasps[:, 0], grasps[:, 1], grasps[:, 3] / 2, grasps[:, 4] / 2
    theta = np.deg2rad(grasps[:, 2])
    cos, sin = np.cos(theta), np.sin(theta)
    xs = np.stack([x - w * cos + h * sin, x + w * cos + h * sin, x + w * cos - h * sin,
                   x - w * cos - h * sin])  # fmt: skip
    ys = np.stack([y - w * sin - h * cos, y + w * sin - h * cos, y + w * sin + h * cos,
                   y - w * sin + h * cos])  # fmt: skip
    return xs.min(axis=0), xs.max(axis=0), ys.min(axis=0), ys.max(axis=0)


def _nearest(
    dist: np.ndarray, inside: np.ndarray, best: np.ndarray, owner: np.ndarray, first: int
) -> None:
    """Fold a chunk of grasps (numbered from `first`) into the running nearest `best`/`owner`."""
    dist = np.where(inside, dist, np.inf)
    chunk_owner = np.argmin(dist, axis=0)  # the first of equal distances, as in file order
    chunk_best = np.take_along_axis(dist, chunk_owner[None], axis=0)[0]
    closer = chunk_best < best  # strict: an earlier chunk keeps a tie
    best[closer] = chunk_best[closer]
    owner[closer] = chunk_owner[closer] + first


def grasp_map(grasps: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """(size, size, 6) float32 map: each pixel takes the nearest (L1) grasp whose box covers it.

    Only the rows and columns some box covers are computed, grasps in chunks of GRASP_CHUNK.
    """
    out = np.zeros((size, size, CHANNELS), np.float32) if out is None else out
    out[...] = 0
    min_x, max_x, min_y, max_y = grasp_bounds(grasps)
    centres = np.arange(size) + 0.5
    in_x = (min_x[:, None] <= centres) & (centres <= max_x[:, None])
    in_y = (min_y[:, None] <= centres) & (centres <= max_y[:, None])
    rows, cols = np.flatnonzero(in_y.any(axis=0)), np.flatnonzero(in_x.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return out
    region = np.s_[rows[0] : rows[-1] + 1], np.s_[cols[0] : cols[-1] + 1]
    in_x, in_y = in_x[:, region[1]], in_y[:, region[0]]
    dx = grasps[:, 0, None] - centres[region[1]]  # grasp x minus pixel-centre x, per column
    dy = grasps[:, 1, None] - centres[region[0]]
    best = np.full((in_y.shape[1], in_x.shape[1]), np.inf)
    owner = np.zeros(best.shape, dtype=np.int64)
    count = np.zeros(best.shape, dtype=np.int64)
    for first in range(0, len(grasps), GRASP_CHUNK):
        part = np.s_[first : first + GRASP_CHUNK]
        inside = in_y[part, :, None] & in_x[part, None, :]
        count += inside.sum(axis=0)
        dist = np.abs(dy[part, :, None]) + np.abs(dx[part, None, :])
        _nearest(dist, inside, best, owner, first)
    r, c = np.nonzero(count)
    k = owner[r, c]
    view = out[region]
    view[r, c, 0] = dx[k, c]
    view[r, c, 1] = dy[k, r]
    view[r, c, 2] = (grasps[k, 2] + 90) / 180
    view[r, c, 3] = grasps[k, 3]
    view[r, c, 4] = grasps[k, 4]
    view[..., 5] = count / count.max()
    return out


def grasp_maps(grasps: np.ndarray, raw_size: int, size: int) -> np.ndarray:
    """(4, size, size, 6) maps of raw-pixel grasps for the image turned 0/90/180/270 degrees."""
    scaled = scale_grasps(grasps, raw_size, size)
    maps = np.empty((len(ROTATIONS), size, size, CHANNELS), np.float32)
    for turns in range(len(ROTATIONS)):
        grasp_map(rotate_grasps(scaled, turns, size), size, out=maps[turns])
    return maps


def maps_to_rectangles(
    map6: np.ndarray, threshold: float
) -> list[tuple[float, float, float, float, float]]:
    """Distinct (cx, cy, angle_deg, width, height) of pixels whose coverage exceeds `threshold`.

    Centres (pixel centre + dx, dy) are rounded to 0.01 px so one grasp yields one rectangle.
    """
    rows, cols = np.nonzero(map6[..., 5] > threshold)
    values = map6[rows, cols].astype(np.float64)
    rectangles = np.column_stack(
        [
            np.round(cols + 0.5 + values[:, 0], 2),
            np.round(rows + 0.5 + values[:, 1], 2),
            values[:, 2] * 180 - 90,
            values[:, 3],
            values[:, 4],
        ]
    )
    return [tuple(float(v) for v in row) for row in np.unique(rectangles, axis=0)]


# ---------------------------------------------------------------- reading one sample


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
    """Bilinear resize of a float32 depth image to size x size."""
    image = Image.fromarray(depth).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32)


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
        "mask": (np.asarray(mask.resize(square, Image.Resampling.NEAREST)) > 0).astype(np.uint8),
        "maps": grasp_maps(grasps, width, size),
        "gt_grasps": scale_grasps(grasps, width, size).ravel().tolist(),
        "n_grasps": np.int64(len(grasps)),
        "raw_size": np.int64(width),
    }


def _convert(task: tuple[Path, int]) -> tuple[dict[str, Any] | None, Problem | None]:
    """Load one sample and hash its sources; (None, (path, reason)) if it is bad."""
    stem, size = task
    try:
        sample = load_sample(stem, size)
    except BadInputError as exc:
        return None, (exc.path, exc.problem)
    for key, suffix in SUFFIXES.items():
        sample[f"{key}_sha256"] = sha256_file(f"{stem}{suffix}")
    return sample, None


# ---------------------------------------------------------------- scanning and packing


def _subdirs(folder: Path) -> list[Path]:
    """Sorted, non-hidden sub-folders of `folder`."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _views(object_dir: Path) -> list[str]:
    """Sorted view numbers `n` of files named `<n>_<object_id>_<suffix>` in `object_dir`."""
    known = "|".join(re.escape(s) for s in (*SUFFIXES.values(), "_stereo_depth.tiff"))
    pattern = re.compile(rf"(\d+)_{re.escape(object_dir.name)}(?:{known})")
    views = {m.group(1) for p in object_dir.iterdir() if (m := pattern.fullmatch(p.name))}
    return sorted(views, key=int)


def _scan(
    root: Path, classes: Sequence[str], on_bad_sample: str, skipped: list[Problem]
) -> pd.DataFrame:
    """One row (split, class, label, object_id, view, stem) per sample found under `root`."""
    if not root.is_dir():
        raise BadInputError(root, "dataset folder does not exist")
    splits = _subdirs(root)
    if not splits:
        raise BadInputError(root, "no split folder (expected e.g. train/ and test/)")
    rows = []
    for split_dir in splits:
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


def _allocate(paths: dict[str, Path], count: int, size: int) -> dict[str, np.ndarray]:
    """Zero-filled writable .npy memory maps for `count` samples, one per stored array."""
    shapes = {
        "rgb": ((count, size, size, 3), np.uint8),
        "depth": ((count, size, size), np.float32),
        "mask": ((count, size, size), np.uint8),
        "maps": ((count, len(ROTATIONS), size, size, CHANNELS), np.float32),
    }
    return {
        key: np.lib.format.open_memmap(paths[key], mode="w+", dtype=dtype, shape=shape)
        for key, (shape, dtype) in shapes.items()
    }


def _compact(path: Path, count: int) -> None:
    """Rewrite the .npy at `path` keeping only its first `count` samples."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a name np.save keeps as is
        np.save(handle, np.load(path, mmap_mode="r")[:count])


def _pack(
    pool: Pool | None,
    items: pd.DataFrame,
    paths: dict[str, Path],
    size: int,
    on_bad_sample: str,
    skipped: list[Problem],
) -> pd.DataFrame:
    """Fill the arrays at `paths` with the good samples of `items`; return those rows."""
    arrays = _allocate(paths, len(items), size)
    kept, extra = [], []
    tasks = [(stem, size) for stem in items["stem"]]
    results = progress(pool, _convert, tasks, "converting jacquard", "sample", CHUNKSIZE)
    for position, (sample, problem) in enumerate(results):
        if problem is not None:
            reject(*problem, on_bad_sample, skipped)
            continue
        for key in ARRAYS:
            arrays[key][len(kept)] = sample[key]
        kept.append(position)
        extra.append({k: v for k, v in sample.items() if k not in ARRAYS})
    for array in arrays.values():
        array.flush()
    del arrays
    if len(kept) < len(items):
        for path in paths.values():
            _compact(path, len(kept))
    stored = items.iloc[kept].reset_index(drop=True)
    return pd.concat([stored, pd.DataFrame(extra, index=stored.index)], axis=1)


def _manifest(root: Path, stored: pd.DataFrame) -> pd.DataFrame:
    """Manifest rows: array index, id, split, class, label, object, view, sources, sha256s."""
    relative = [Path(stem).relative_to(root).as_posix() for stem in stored["stem"]]
    sources = {key: [f"{r}{suffix}" for r in relative] for key, suffix in SUFFIXES.items()}
    return stored.assign(index=np.arange(len(stored)), id=relative, **sources)[
        ["index", "id", "split", "class", "label", "object_id", "view", "raw_size",
         "n_grasps", "gt_grasps", *SUFFIXES, *(f"{key}_sha256" for key in SUFFIXES)]
    ].astype({"index": np.int64, "label": np.int64, "view": np.int64, "raw_size": np.int64,
              "n_grasps": np.int64})  # fmt: skip


def apply_relabel(manifest: pd.DataFrame, path: Path, classes: Sequence[str]) -> pd.DataFrame:
    """The manifest with the classes an edited relabel CSV corrects (`id`, `new_class`; a
    blank `new_class` keeps the view's class)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"id", "new_class"} - set(table.columns)
    if missing:
        raise BadInputError(path, f"missing columns {sorted(missing)}")
    position = {view_id: row for row, view_id in enumerate(manifest["id"])}
    manifest = manifest.copy()
    edits = zip(table["id"], table["new_class"], strict=True)
    for line, (view_id, new_class) in enumerate(edits, start=2):
        new_class = new_class.strip()
        if not new_class:
            continue
        if view_id not in position:
            raise BadInputError(path, f"line {line}: id {view_id!r} is not in the store")
        if new_class not in classes:
            known = list(classes)
            raise BadInputError(path, f"line {line}: class {new_class!r} is not one of {known}")
        row = position[view_id]
        manifest.loc[row, "class"] = new_class
        manifest.loc[row, "label"] = list(classes).index(new_class)
    return manifest


def _check_arguments(classes: Sequence[str], size: int, on_bad_sample: str, workers: int) -> None:
    """Raise ValueError for an unknown policy, no classes, or a non-positive size or count."""
    if on_bad_sample not in POLICIES:
        raise ValueError(f"on_bad_sample must be one of {POLICIES}, got {on_bad_sample!r}")
    if size < 1 or workers < 1:
        raise ValueError(f"size and workers must be positive, got {size}, {workers}")
    if not classes or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct and not empty, got {list(classes)}")


def prepare(
    root: Path,
    out_dir: Path,
    classes: Sequence[str] = DEFAULT_CLASSES,
    size: int = 224,
    on_bad_sample: str = "error",
    workers: int = 1,
    relabel: Path | None = None,
) -> pd.DataFrame:
    """Pack `root/<split>/<class>/<object>/<n>_<object>_*` into `out_dir`; return the manifest.

    Writes rgb.npy, depth.npy, mask.npy, maps.npy, skipped.csv and manifest.parquet. An
    edited `relabel` CSV (from `visionflow analysis clip`) corrects classes of views.
    """
    _check_arguments(classes, size, on_bad_sample, workers)
    root, out_dir = Path(root).resolve(), Path(out_dir)
    skipped: list[Problem] = []
    items = _scan(root, list(classes), on_bad_sample, skipped)
    with worker_pool(workers) as pool, contextlib.ExitStack() as outputs:
        paths = {key: outputs.enter_context(atomic_path(out_dir / f"{key}.npy")) for key in ARRAYS}
        stored = _pack(pool, items, paths, size, on_bad_sample, skipped)
        if stored.empty:
            raise BadInputError(root, "no usable sample")
    manifest = _manifest(root, stored)
    if relabel is not None:
        manifest = apply_relabel(manifest, Path(relabel), classes)
    write_table(out_dir / "skipped.csv", pd.DataFrame(skipped, columns=["source", "reason"]))
    write_table(out_dir / "manifest.parquet", manifest)
    return manifest


def locate_view(prepared_dir: Path, object_id: str, view: int | None = None) -> tuple[str, int]:
    """(split, index in the split) of an object's view (its first if `view` is None).

    `object_id` may be any unique prefix of the id.
    """
    path = Path(prepared_dir) / "manifest.parquet"
    if not path.is_file():
        raise BadInputError(path, "prepared store file does not exist")
    manifest = pd.read_parquet(path)
    rows = manifest[manifest["object_id"].str.startswith(object_id)]
    objects = sorted(rows["object_id"].unique())
    if len(objects) != 1:
        found = "no object" if not objects else f"{len(objects)} objects"
        raise BadInputError(path, f"{found} with an id starting {object_id!r}")
    if view is not None:
        rows = rows[rows["view"] == view]
        if rows.empty:
            raise BadInputError(path, f"object {objects[0]} has no view {view}")
    row = rows.sort_values("view").iloc[0]
    in_split = manifest.loc[manifest["split"] == row["split"], "index"].tolist()
    return row["split"], in_split.index(row["index"])


class PackedJacquard(PackedSplit):
    """One split of a prepared Jacquard store; samples are sliced from lazy memory maps."""

    def __init__(self, prepared_dir: Path, split: str) -> None:
        self.prepared_dir = Path(prepared_dir)
        manifest_path = self.prepared_dir / "manifest.parquet"
        self.require(manifest_path, *(self.prepared_dir / f"{key}.npy" for key in ARRAYS))
        manifest = pd.read_parquet(manifest_path)
        self.rows = manifest[manifest["split"] == split].reset_index(drop=True)
        self._index = self.rows["index"].to_numpy(np.int64)
        self.labels: np.ndarray = self.rows["label"].to_numpy(np.int64)
        self.grasps = [np.asarray(g, np.float32).reshape(-1, 5) for g in self.rows["gt_grasps"]]
        self.max_grasps = max((len(g) for g in self.grasps), default=0)
        by_label = manifest.drop_duplicates("label").sort_values("label")
        self.classes: dict[int, str] = dict(zip(by_label["label"], by_label["class"], strict=True))
        self._total = len(manifest)

    def _open(self, key: str) -> np.ndarray:
        """The stored array `key`, memory-mapped; BadInputError if it does not fit the manifest."""
        path = self.prepared_dir / f"{key}.npy"
        try:
            array = np.load(path, mmap_mode="r")
        except ValueError as exc:  # truncated or not an .npy file
            raise BadInputError(path, f"unreadable packed array ({exc})") from exc
        if array.shape[0] != self._total:
            raise BadInputError(path, f"expected {self._total} samples, found {array.shape[0]}")
        return array

    def _open_maps(self) -> dict[str, np.ndarray]:
        return {key: self._open(key) for key in ARRAYS}

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Sample `index`: rgb (S,S,3) uint8, depth (S,S) float32, mask (S,S) uint8,
        maps (4,S,S,6) float32 (rotations 0/90/180/270), grasps (n,5) in output pixels
        (x, y, theta_deg, opening, jaw size), label int."""
        row = self._index[index]
        sample: dict[str, Any] = {key: np.array(a[row]) for key, a in self.maps().items()}
        sample["grasps"] = self.grasps[index]
        sample["label"] = int(self.labels[index])
        return sample
