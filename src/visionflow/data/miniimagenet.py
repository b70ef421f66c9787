"""Pack a raw MiniImageNet ImageFolder into flat uint8 arrays that load without decoding.

`prepare` resizes every image so its short side is fixed, stores each split as one 1-D
`.npy` array of HxWx3 RGB images back to back, and indexes them in `manifest.parquet`.
`PackedImages` reads one split of that store through a lazy memory map.
"""

from __future__ import annotations

import contextlib
from multiprocessing.pool import Pool
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from visionflow.data.conversion import POLICIES, progress, reject, wide_mode_problem, worker_pool
from visionflow.data.store import PackedSplit
from visionflow.io import BadInputError, atomic_path, sha256_file, write_table

SPLITS = ("train", "val")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
MANIFEST_COLUMNS = [
    "id", "split", "label", "wnid", "source", "height", "width", "offset", "sha256",
]  # fmt: skip
CHUNKSIZE = 16


def _class_dirs(split_dir: Path) -> list[Path]:
    """Sorted, non-hidden class sub-folders of a split folder."""
    return sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(class_dir: Path) -> list[Path]:
    """Sorted image files of a class folder, chosen by suffix."""
    files = (p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(p for p in files if p.suffix.lower() in IMAGE_SUFFIXES)


def scan_root(root: Path, on_bad_sample: str, skipped: list[tuple[str, str]]) -> pd.DataFrame:
    """List (split, wnid, source) of every usable image; reject empty or unknown class folders."""
    if not root.is_dir():
        raise BadInputError(root, "dataset folder does not exist")
    for split in SPLITS:
        if not (root / split).is_dir():
            raise BadInputError(root / split, f"missing '{split}' split folder")
    rows: list[tuple[str, str, Path]] = []
    train_classes: set[str] = set()
    for split in SPLITS:
        for class_dir in _class_dirs(root / split):
            files = _image_files(class_dir)
            if not files:
                reject(class_dir, "empty class folder", on_bad_sample, skipped)
                continue
            if split == "val" and class_dir.name not in train_classes:
                if on_bad_sample == "error":
                    raise BadInputError(class_dir, "class folder not present in train/")
                skipped.extend((str(f), "class not present in train/") for f in files)
                continue
            if split == "train":
                train_classes.add(class_dir.name)
            rows.extend((split, class_dir.name, f) for f in files)
    if not train_classes:
        raise BadInputError(root / "train", "no class folder with images")
    return pd.DataFrame(rows, columns=["split", "wnid", "source"])


def resized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) scaled so the shorter side equals `short_side`, aspect ratio kept and
    the long side truncated, as torchvision's Resize(short_side) sizes it."""
    if width <= height:
        return short_side, int(short_side * height / width)
    return int(short_side * width / height), short_side


def _describe(exc: Exception) -> str:
    """A one-line reason for an image PIL could not read."""
    return f"corrupt or unreadable image ({type(exc).__name__}: {exc})"


def _read_header(source: Path) -> tuple[int, int, str | None]:
    """(width, height, None) from the image header, or (0, 0, reason) if unreadable."""
    try:
        with Image.open(source) as img:
            width, height, mode = img.size[0], img.size[1], img.mode
    except Exception as exc:  # PIL raises many types for foreign or damaged files
        return 0, 0, _describe(exc)
    problem = wide_mode_problem(mode)
    return (0, 0, problem) if problem else (width, height, None)


def _convert(task: tuple[Path, int, int, int, Path]) -> tuple[str, str | None]:
    """Decode, convert to RGB and resize one image into its byte slot; return (sha256, error)."""
    array_path, position, width, height, source = task
    try:
        digest = sha256_file(source)
        with Image.open(source) as img:
            rgb = img.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    except Exception as exc:  # truncated or corrupt data surfaces only on full decode
        return "", _describe(exc)
    with open(array_path, "r+b") as handle:
        handle.seek(position)
        handle.write(rgb.tobytes())
    return digest, None


def _with_sizes(
    pool: Pool | None,
    items: pd.DataFrame,
    short_side: int,
    on_bad_sample: str,
    skipped: list[tuple[str, str]],
) -> pd.DataFrame:
    """Add resized `height`, `width` from image headers; reject unreadable files."""
    sizes, keep = [], []
    sources = list(items["source"])
    headers = progress(pool, _read_header, sources, "reading headers", "img", CHUNKSIZE)
    for source, (width, height, error) in zip(items["source"], headers, strict=True):
        if error is not None:
            reject(source, error, on_bad_sample, skipped)
        else:
            sizes.append(resized_size(width, height, short_side)[::-1])
        keep.append(error is None)
    items = items[keep].reset_index(drop=True)
    items[["height", "width"]] = np.array(sizes, dtype=np.int64).reshape(-1, 2)
    return items


def _with_offsets(items: pd.DataFrame) -> pd.DataFrame:
    """Add each image's element `offset` when the items are stored back to back."""
    nbytes = items["height"].to_numpy() * items["width"].to_numpy() * 3
    return items.assign(offset=np.cumsum(nbytes) - nbytes)


def _allocate(path: Path, total: int) -> int:
    """Create a zero-filled 1-D uint8 .npy of `total` elements; return its data's byte offset."""
    array = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(total,))
    start = int(array.offset)
    del array
    return start


def _compact(array_path: Path, start: int, items: pd.DataFrame) -> None:
    """Rewrite the .npy at `array_path` (data at byte `start`) keeping only `items`' images."""
    with atomic_path(array_path) as tmp:
        target_start = _allocate(tmp, int((items["height"] * items["width"] * 3).sum()))
        with open(array_path, "rb") as source, open(tmp, "r+b") as target:
            target.seek(target_start)
            for offset, height, width in items[["offset", "height", "width"]].itertuples(False):
                source.seek(start + offset)
                target.write(source.read(height * width * 3))


def _pack(
    pool: Pool | None,
    items: pd.DataFrame,
    array_path: Path,
    desc: str,
    on_bad_sample: str,
    skipped: list[tuple[str, str]],
) -> pd.DataFrame:
    """Fill the .npy at `array_path` with `items`' images; return the kept items with sha256."""
    items = _with_offsets(items.reset_index(drop=True))
    start = _allocate(array_path, int((items["height"] * items["width"] * 3).sum()))
    tasks = [
        (array_path, start + int(row.offset), int(row.width), int(row.height), row.source)
        for row in items.itertuples(index=False)
    ]
    digests = []
    results = progress(pool, _convert, tasks, desc, "img", CHUNKSIZE)
    for (*_, source), (digest, error) in zip(tasks, results, strict=True):
        if error is not None:
            reject(source, error, on_bad_sample, skipped)
        digests.append(digest)
    items["sha256"] = digests
    kept = items[items["sha256"] != ""].reset_index(drop=True)
    if len(kept) < len(items):
        _compact(array_path, start, kept)
    return _with_offsets(kept)


def _drop_unlearned_classes(
    val: pd.DataFrame, classes: list[str], on_bad_sample: str, skipped: list[tuple[str, str]]
) -> pd.DataFrame:
    """Reject val images whose class has no stored train image left."""
    known = val["wnid"].isin(classes)
    for source in val.loc[~known, "source"]:
        reject(source, "class has no usable image in train/", on_bad_sample, skipped)
    return val[known]


def _manifest(root: Path, stored: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """The manifest table of the stored images, in MANIFEST_COLUMNS order."""
    label = {wnid: index for index, wnid in enumerate(classes)}
    return stored.assign(
        id=[Path(s).relative_to(root).as_posix() for s in stored["source"]],
        label=stored["wnid"].map(label).astype(np.int64),
        source=stored["source"].map(str),
    )[MANIFEST_COLUMNS].reset_index(drop=True)


def _check_arguments(short_side: int, on_bad_sample: str, workers: int) -> None:
    """Raise ValueError for an unknown policy or a non-positive size or worker count."""
    if on_bad_sample not in POLICIES:
        raise ValueError(f"on_bad_sample must be one of {POLICIES}, got {on_bad_sample!r}")
    if short_side < 1 or workers < 1:
        raise ValueError(f"short_side and workers must be positive, got {short_side}, {workers}")


def prepare(
    root: Path, out_dir: Path, short_side: int, on_bad_sample: str = "error", workers: int = 1
) -> pd.DataFrame:
    """Pack `root/{train,val}/<wnid>/*` into `out_dir` and return the manifest.

    Writes train.npy, val.npy, skipped.csv and manifest.parquet; nothing on failure.
    """
    _check_arguments(short_side, on_bad_sample, workers)
    root, out_dir = Path(root), Path(out_dir)  # sources stay relative if `root` is
    skipped: list[tuple[str, str]] = []
    items = scan_root(root, on_bad_sample, skipped)
    with worker_pool(workers) as pool, contextlib.ExitStack() as outputs:
        items = _with_sizes(pool, items, short_side, on_bad_sample, skipped)
        train_path = outputs.enter_context(atomic_path(out_dir / "train.npy"))
        train = items[items["split"] == "train"]
        train = _pack(pool, train, train_path, "packing train", on_bad_sample, skipped)
        if train.empty:
            raise BadInputError(root / "train", "no usable image")
        classes = sorted(train["wnid"].unique())
        val = _drop_unlearned_classes(
            items[items["split"] == "val"], classes, on_bad_sample, skipped
        )
        val_path = outputs.enter_context(atomic_path(out_dir / "val.npy"))
        val = _pack(pool, val, val_path, "packing val", on_bad_sample, skipped)
    manifest = _manifest(root, pd.concat([train, val]), classes)
    write_table(out_dir / "skipped.csv", pd.DataFrame(skipped, columns=["source", "reason"]))
    write_table(out_dir / "manifest.parquet", manifest)
    return manifest


class PackedImages(PackedSplit):
    """One split of a prepared MiniImageNet store; images are sliced from one flat uint8 array."""

    def __init__(self, prepared_dir: str | Path, split: str) -> None:
        super().__init__(prepared_dir, split)
        self.array_path = self.prepared_dir / f"{split}.npy"
        self.labels: np.ndarray = self.rows["label"].to_numpy(np.int64)
        self._offsets = self.rows["offset"].to_numpy(np.int64)
        self._shapes = self.rows[["height", "width"]].to_numpy(np.int64)
        train = self.manifest[self.manifest["split"] == "train"].drop_duplicates("label")
        self.classes: list[str] = train.sort_values("label")["wnid"].tolist()

    def files(self, split: str) -> list[str]:
        return [f"{split}.npy"]

    def _open_maps(self) -> np.ndarray:
        """The split's flat uint8 array, memory-mapped and checked against the manifest."""
        try:
            array = np.load(self.array_path, mmap_mode="r")
        except ValueError as exc:  # truncated or not an .npy file
            raise BadInputError(self.array_path, f"unreadable packed array ({exc})") from exc
        expected = int((self._shapes.prod(axis=1) * 3 + self._offsets).max(initial=0))
        if array.ndim != 1 or array.size < expected:
            raise BadInputError(
                self.array_path,
                f"expected at least {expected} uint8 values, found shape {array.shape}",
            )
        return array

    def image(self, index: int) -> torch.Tensor:
        """Image `index` as a uint8 tensor of shape (3, H, W): a view of its stored (H, W, 3)
        pixels, copied once; transforms read these strides directly and batching makes the
        batch contiguous, so no transposing copy is made (a third of the read's time)."""
        height, width = self._shapes[index]
        offset = self._offsets[index]
        flat = self.maps()[offset : offset + height * width * 3]
        return torch.from_numpy(np.array(flat.reshape(height, width, 3))).permute(2, 0, 1)
