"""Convert raw Jacquard folders into packed arrays with 6-channel grasp maps per rotation.

`prepare` resizes RGB, perfect depth and mask to `size`, turns each sample's grasp lines into
four (size, size, 6) maps (the image turned 0, 90, 180, 270 degrees counter-clockwise, i.e.
`np.rot90(image, r)`; channels in `grasp_maps`), and stores everything as `.npy` arrays
indexed by `manifest.parquet`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from visionflow.data.conversion import POLICIES, Problem, progress, reject, worker_pool
from visionflow.data.jacquard import ARRAYS, DEFAULT_CLASSES, SPLITS
from visionflow.data.jacquard.grasp_maps import CHANNELS, ROTATIONS
from visionflow.data.jacquard.raw import SUFFIXES, load_sample, scan
from visionflow.io import BadInputError, atomic_path, sha256_file, write_table

CHUNKSIZE = 2


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


def _allocate(paths: dict[str, Path], count: int, size: int) -> dict[str, tuple[int, int, type]]:
    """Zero-filled .npy files for `count` samples, one per stored array; for each, the byte
    offset of its data, the bytes of one sample and its dtype."""
    shapes = {
        "rgb": ((count, size, size, 3), np.uint8),
        "depth": ((count, size, size), np.float32),
        "mask": ((count, size, size), np.uint8),
        "maps": ((count, len(ROTATIONS), size, size, CHANNELS), np.float32),
    }
    layout = {}
    for key, (shape, dtype) in shapes.items():
        array = np.lib.format.open_memmap(paths[key], mode="w+", dtype=dtype, shape=shape)
        layout[key] = (int(array.offset), array[0].nbytes if count else 0, dtype)
        del array
    return layout


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
    """Fill the arrays at `paths` with the good samples of `items`; return those rows.

    Samples are written with pwrite, not through a memory map, so written pages do not stay
    mapped in this process: its memory does not grow with the store."""
    layout = _allocate(paths, len(items), size)
    kept, extra = [], []
    tasks = [(stem, size) for stem in items["stem"]]
    results = progress(pool, _convert, tasks, "converting jacquard", "sample", CHUNKSIZE)
    with contextlib.ExitStack() as files:
        handles = {key: files.enter_context(open(paths[key], "r+b")) for key in ARRAYS}
        for position, (sample, problem) in enumerate(results):
            if problem is not None:
                reject(*problem, on_bad_sample, skipped)
                continue
            for key in ARRAYS:
                start, nbytes, dtype = layout[key]
                data = np.ascontiguousarray(sample[key], dtype=dtype).tobytes()
                os.pwrite(handles[key].fileno(), data, start + len(kept) * nbytes)
            kept.append(position)
            extra.append({k: v for k, v in sample.items() if k not in ARRAYS})
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
    splits: Sequence[str] = SPLITS,
) -> pd.DataFrame:
    """Pack `root/<split>/<class>/<object>/<n>_<object>_*` of `splits` into `out_dir`; return
    the manifest. Other folders of `root` are named in a warning and left out.

    Writes rgb.npy, depth.npy, mask.npy, maps.npy, skipped.csv and manifest.parquet. An
    edited `relabel` CSV (from `visionflow analysis clip`) corrects classes of views.
    """
    _check_arguments(classes, size, on_bad_sample, workers)
    root, out_dir = Path(root).resolve(), Path(out_dir)
    skipped: list[Problem] = []
    items = scan(root, list(classes), on_bad_sample, skipped, splits)
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
