"""Convert raw images plus per-task saliency maps into fixed-size arrays, and read them back.

The raw layout is `images/<name>.<ext>` (split by a seeded permutation) or, as the original's
`--input_images`, `images/train/`, `images/val/` and optionally `images/test/` (each folder is
its split; `images/run/` holds images to map and is not stored), beside
`saliencies/<task>/<name>.<ext>`. Maps must be mode 'L', or RGB with equal channels, and
image-sized. A task lacking a map for an image stores a zero row with `has_<task>` False; under
the skip policy a bad image is left out and a bad map counts as missing, each with a row in
skipped.csv.
"""

from __future__ import annotations

from collections.abc import Sequence
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from visionflow.data.conversion import POLICIES, Problem, progress, reject, worker_pool
from visionflow.data.store import PackedSplit
from visionflow.io import BadInputError, atomic_directory, sha256_file, write_json, write_table

SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
SPLITS = ("train", "val", "test")
RUN_FOLDER = "run"
CHUNKSIZE = 4
Sample = tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, bool]]  # image, maps, has
# images, tasks, maps by stem, and the split of each image when its folder gives it
Scan = tuple[list[Path], list[str], dict[str, dict[str, Path]], dict[str, str] | None]


def split_folders(images_dir: Path) -> bool:
    """Whether `images_dir` uses the original's layout of train/ and val/ folders."""
    return all((images_dir / split).is_dir() for split in SPLITS[:2])


def _by_stem(folder: Path, on_bad_sample: str, skipped: list[Problem]) -> dict[str, Path]:
    """Non-hidden image files of `folder` by stem; a second file with a taken stem is rejected."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name[0] != "." and path.suffix.lower() in SUFFIXES:
            if path.stem in found:
                reason = f"another file has the same name stem ({found[path.stem].name})"
                reject(path, reason, on_bad_sample, skipped)
            found.setdefault(path.stem, path)
    return found


def _images(
    images_dir: Path, on_bad_sample: str, skipped: list[Problem]
) -> tuple[dict[str, Path], dict[str, str] | None]:
    """({stem: image path}, {stem: split} or None) of a flat or split-folder image layout."""
    if not split_folders(images_dir):
        return _by_stem(images_dir, on_bad_sample, skipped), None
    images: dict[str, Path] = {}
    splits: dict[str, str] = {}
    for split in SPLITS:
        if not (images_dir / split).is_dir():
            continue
        for stem, path in _by_stem(images_dir / split, on_bad_sample, skipped).items():
            if stem in images:
                reason = f"an image of the same name stem is in {splits[stem]}/"
                reject(path, reason, on_bad_sample, skipped)
                continue
            images[stem], splits[stem] = path, split
    return images, splits


def scan_root(root: Path, on_bad_sample: str, skipped: list[Problem]) -> Scan:
    """(images, tasks, {image stem: {task: map path}}, splits) of the raw layout under `root`."""
    images_dir, saliencies = root / "images", root / "saliencies"
    for folder in (images_dir, saliencies):
        if not folder.is_dir():
            raise BadInputError(folder, "folder does not exist")
    images, splits = _images(images_dir, on_bad_sample, skipped)
    if not images:
        raise BadInputError(images_dir, f"no image files ({', '.join(sorted(SUFFIXES))})")
    tasks = sorted(p.name for p in saliencies.iterdir() if p.is_dir() and p.name[0] != ".")
    if not tasks:
        raise BadInputError(saliencies, "no task folders (expected saliencies/<task>/)")
    maps: dict[str, dict[str, Path]] = {stem: {} for stem in images}
    run = images_dir / RUN_FOLDER
    unstored = {p.stem for p in run.iterdir()} if splits is not None and run.is_dir() else set()
    for task in tasks:
        for stem, path in _by_stem(saliencies / task, on_bad_sample, skipped).items():
            if stem in images:
                maps[stem][task] = path
            elif stem not in unstored:  # maps of run/ images are not needed, nor wrong
                reject(path, f"map without an image (no images/{stem}.*)", on_bad_sample, skipped)
    return list(images.values()), tasks, maps, splits


def _read_map(path: Path, size: tuple[int, int]) -> Image.Image:
    """The map at `path` as an 'L' image; BadInputError unless it is 8-bit gray of `size` (W, H)."""
    try:
        with Image.open(path) as img:
            img.load()
    except Exception as exc:  # PIL raises many types for foreign or damaged files
        raise BadInputError(path, f"unreadable map ({type(exc).__name__}: {exc})") from exc
    if img.size != size:
        expected = f"{size[0]}x{size[1]}"
        found = f"{img.width}x{img.height}"
        raise BadInputError(path, f"expected a {expected} map (the image's size), found {found}")
    if img.mode == "RGB" and img.getchannel("R") == img.getchannel("G") == img.getchannel("B"):
        return img.getchannel("R")
    if img.mode == "L":
        return img
    raise BadInputError(path, f"expected 8-bit grayscale (mode L or R=G=B), found mode {img.mode}")


def convert_image(task: tuple[Path, dict[str, Path], tuple[int, int]]) -> tuple[Any, ...]:
    """(image, {task: map}, problems, meta) of one image, resized; problems are not raised."""
    source, map_paths, (height, width) = task
    try:
        with Image.open(source) as img:
            rgb = img.convert("RGB")
    except Exception as exc:  # truncated or corrupt data surfaces only on full decode
        return None, {}, [(str(source), f"unreadable image ({type(exc).__name__}: {exc})")], {}
    maps, problems = {}, []
    for name, path in map_paths.items():
        try:
            saliency = _read_map(path, rgb.size)
            maps[name] = np.asarray(saliency.resize((width, height), Image.Resampling.BILINEAR))
        except BadInputError as exc:
            problems.append((exc.path, exc.problem))
    image = np.asarray(rgb.resize((width, height), Image.Resampling.BILINEAR))
    meta = {"height": rgb.size[1], "width": rgb.size[0], "sha256": sha256_file(source)}
    return image, maps, problems, meta


def _pack(pool: Pool | None, scan: Scan, out: Path, size: tuple[int, int], policy: str,
          skipped: list[Problem]) -> pd.DataFrame:  # fmt: skip
    """Fill out/images.npy and out/maps/<task>.npy; return one row per stored image."""
    images, tasks, maps, _ = scan
    paths = {"images": out / "images.npy", **{t: out / "maps" / f"{t}.npy" for t in tasks}}
    (out / "maps").mkdir()
    shapes = {key: (len(images), *size) for key in paths} | {"images": (len(images), *size, 3)}
    arrays = {
        key: np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shapes[key])
        for key, path in paths.items()
    }
    rows: list[dict[str, Any]] = []
    work = [(source, maps[source.stem], size) for source in images]
    results = progress(pool, convert_image, work, "converting saliency", "img", CHUNKSIZE)
    for source, (image, found, problems, meta) in zip(images, results, strict=True):
        for problem in problems:
            reject(*problem, policy, skipped)
        if image is not None:
            for key, array in {"images": image, **found}.items():
                arrays[key][len(rows)] = array
            has = {f"has_{task}": task in found for task in tasks}
            rows.append({"name": source.stem, "source": source, **meta, **has})
    del arrays  # unmaps; the rows are in the files
    if len(rows) < len(images):  # drop the unused rows of rejected images
        for path in paths.values():
            np.save(path.with_name(f"kept.{path.name}"), np.load(path, mmap_mode="r")[: len(rows)])
            path.with_name(f"kept.{path.name}").replace(path)
    return pd.DataFrame(rows)


def assign_splits(count: int, fractions: Sequence[float], seed: int) -> np.ndarray:
    """Split names for `count` items: a seeded permutation cut at the cumulative fractions."""
    cuts = np.round(np.cumsum(fractions)[:-1] * count).astype(np.int64)
    labels = np.repeat(np.array(SPLITS, dtype=object), np.diff([0, *cuts, count]))
    return labels[np.argsort(np.random.default_rng(seed).permutation(count))]


def _check(size: Sequence[int], splits: Sequence[float], policy: str, workers: int) -> None:
    """ValueError for an unknown policy, bad size, split fractions or worker count."""
    if policy not in POLICIES:
        raise ValueError(f"on_bad_sample must be one of {POLICIES}, got {policy!r}")
    if len(size) != 2 or min(size) < 1 or workers < 1:
        raise ValueError(f"need size (H, W) and workers positive, got {size}, {workers}")
    if len(splits) != len(SPLITS) or min(splits) < 0 or abs(sum(splits) - 1) > 1e-6:
        raise ValueError(f"splits must be {len(SPLITS)} fractions summing to 1, got {splits}")


def prepare(
    root: Path,
    out_dir: Path,
    size: Sequence[int] = (256, 256),
    splits: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    on_bad_sample: str = "error",
    workers: int = 1,
) -> pd.DataFrame:
    """Convert the raw saliency layout under `root` into `out_dir` and return the manifest.

    `splits` are the seeded fractions of a flat `images/` folder; split folders give their own.
    Writes images.npy, maps/<task>.npy, manifest.parquet, skipped.csv and info.json, all at once.
    """
    _check(size, splits, on_bad_sample, workers)
    root, size = Path(root), (int(size[0]), int(size[1]))
    skipped: list[Problem] = []
    scan = scan_root(root, on_bad_sample, skipped)
    with atomic_directory(out_dir) as staging, worker_pool(workers) as pool:
        rows = _pack(pool, scan, staging, size, on_bad_sample, skipped)
        if rows.empty:
            raise BadInputError(root / "images", "no usable image")
        has = [f"has_{task}" for task in scan[1]]
        folders = scan[3]
        manifest = rows.assign(
            id=np.arange(len(rows), dtype=np.int64),
            split=assign_splits(len(rows), splits, seed)
            if folders is None
            else [folders[name] for name in rows["name"]],
            source=[Path(s).relative_to(root).as_posix() for s in rows["source"]],
        )[["id", "name", "split", "source", "height", "width", "sha256", *has]]
        counts = {split: int((manifest["split"] == split).sum()) for split in SPLITS}
        maps = {task: int(manifest[f"has_{task}"].sum()) for task in scan[1]}
        info = {"tasks": scan[1], "size": list(size), "counts": counts, "maps": maps}
        write_table(staging / "manifest.parquet", manifest)
        write_table(staging / "skipped.csv", pd.DataFrame(skipped, columns=["source", "reason"]))
        write_json(staging / "info.json", info | {"skipped": len(skipped)})
    return manifest


class PackedSaliency(PackedSplit):
    """One split of a prepared saliency store; items are (image (3, H, W), {task: map (H, W)},
    {task: has}) of the chosen `tasks` (default: every task of the store).

    Images and maps are uint8 memory maps over all stored rows (`ids` index them).
    """

    def __init__(self, prepared_dir: str | Path, split: str, tasks: Sequence[str] | None = None):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        super().__init__(prepared_dir, split)
        stored = [c.removeprefix("has_") for c in self.manifest.columns if c.startswith("has_")]
        self.tasks: list[str] = list(stored if tasks is None else tasks)
        unknown = sorted(set(self.tasks) - set(stored))
        if unknown:
            raise ValueError(f"unknown tasks {unknown}; the store has {stored}")
        self.ids: np.ndarray = self.rows["id"].to_numpy(np.int64)
        self.names: list[str] = self.rows["name"].tolist()
        self.has: np.ndarray = self.rows[[f"has_{t}" for t in self.tasks]].to_numpy(bool)

    def files(self, split: str) -> list[str]:
        return ["images.npy"]

    def _open_maps(self) -> dict[str, np.ndarray]:
        """{"images": (N, H, W, 3), task: (N, H, W)} over every stored row."""
        names = {"images": "images.npy"} | {task: f"maps/{task}.npy" for task in self.tasks}
        return {key: self.load_array(name, self.total) for key, name in names.items()}

    @property
    def images(self) -> np.ndarray:
        """All stored images, (N, H, W, 3) uint8, memory-mapped."""
        return self.maps()["images"]

    def __getitem__(self, index: int) -> Sample:
        row = int(self.ids[index])
        arrays = self.maps()
        image = torch.from_numpy(np.ascontiguousarray(arrays["images"][row].transpose(2, 0, 1)))
        maps = {task: torch.from_numpy(np.array(arrays[task][row])) for task in self.tasks}
        has = {task: bool(self.has[index, k]) for k, task in enumerate(self.tasks)}
        return image, maps, has


def labelled_images(root: Path, task: str) -> list[tuple[str, Path, Path]]:
    """(name, image, map) of every image of `root/images/` that has a map in
    `root/saliencies/<task>/`, by name (an evaluation set: raw files, no split)."""
    images_dir, maps_dir = root / "images", root / "saliencies" / task
    for folder in (images_dir, maps_dir):
        if not folder.is_dir():
            raise BadInputError(folder, "folder does not exist")
    images = _by_stem(images_dir, "error", [])
    maps = _by_stem(maps_dir, "error", [])
    return [(stem, images[stem], maps[stem]) for stem in sorted(images) if stem in maps]


def read_pair(image: Path, saliency: Path) -> tuple[np.ndarray, np.ndarray]:
    """An image as uint8 (H, W, 3) RGB and its map as uint8 (H, W), both at the file's size."""
    try:
        with Image.open(image) as img:
            rgb = img.convert("RGB")
    except Exception as exc:  # PIL raises many types for foreign or damaged files
        raise BadInputError(image, f"unreadable image ({type(exc).__name__}: {exc})") from exc
    return np.array(rgb), np.array(_read_map(saliency, rgb.size))
