"""WLASL: the gloss index JSON, decord decoding into a packed clip store, and its reader.

`prepare` keeps the first N glosses of the index (split `aslN`), or the entries of an I3D
split file (`nslt_N.json`), decodes each instance's frame range with decord, takes the
centre square of the frame (or, opt-in, a square around the index's bbox), resizes it to a
square frame size and appends the uint8 clip to `clips.bin`; `manifest.parquet` indexes the
clips and `skipped.csv` records every instance left out and why. `PackedClips` reads the store.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from visionflow.data import WLASL_CROPS
from visionflow.data.conversion import (
    POLICIES,
    Problem,
    is_plain_name,
    progress,
    reject,
    worker_pool,
)
from visionflow.data.store import PackedSplit
from visionflow.io import BadInputError, atomic_path, sha256_file, write_json, write_table

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
CROPS = WLASL_CROPS  # the centre square of the frame (as SLR), or a square around the bbox
Box = tuple[int, int, int, int]  # [x1, y1, x2, y2) in frame pixels
INDEX_FIELDS = ("bbox", "frame_start", "frame_end", "split", "video_id")
MANIFEST_COLUMNS = [
    "id", "split", "label", "gloss", "video_id", "instance_id", "signer_id", "source",
    "frame_start", "frame_end", "frames", "offset", "sha256",
]  # fmt: skip
MIN_FRAMES = 10  # SLR keeps a clip only if it has more than 9 frames
CHUNK = 64  # frames decoded at a time


def split_size(split: str) -> int:
    """Number of glosses of a split name such as asl100."""
    match = re.fullmatch(r"asl(\d+)", split)
    if not match or int(match[1]) < 2:
        raise ValueError(f"split must be 'asl' followed by a gloss count >= 2, got {split!r}")
    return int(match[1])


def _is_int(value: Any) -> bool:
    """Whether `value` is a JSON integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _type_problem(instance: dict[str, Any]) -> str | None:
    """Why an entry's video_id or integer fields have the wrong type, or None."""
    video_id = instance["video_id"]
    if not (isinstance(video_id, str) and video_id or _is_int(video_id)):
        return f"video_id must be a non-empty string or an integer, got {video_id!r}"
    if not is_plain_name(str(video_id)):
        return f"video_id must be a file name, not a path, got {video_id!r}"
    for key in ("frame_start", "frame_end", "instance_id", "signer_id"):
        if key in instance and not _is_int(instance[key]):
            return f"{key} must be an integer, got {instance[key]!r}"
    return None


def _bbox_problem(bbox: Any) -> str | None:
    """Why `bbox` is not [x1, y1, x2, y2] with x2 > x1, y2 > y1, or None."""
    numbers = isinstance(bbox, list) and len(bbox) == 4
    numbers = numbers and all(_is_int(v) or isinstance(v, float) and math.isfinite(v) for v in bbox)
    if not (numbers and bbox[2] > bbox[0] and bbox[3] > bbox[1]):
        return f"bbox must be [x1, y1, x2, y2] with x2 > x1, y2 > y1, got {bbox}"
    return None


def _instance_problem(instance: Any) -> str | None:
    """Why an index entry cannot be used, or None."""
    if not isinstance(instance, dict):
        return f"instance is a {type(instance).__name__}, expected an object"
    missing = [k for k in INDEX_FIELDS if k not in instance]
    if missing:
        return f"instance lacks {', '.join(missing)}"
    if problem := _type_problem(instance):
        return problem
    if problem := _bbox_problem(instance["bbox"]):
        return problem
    if instance["split"] not in SPLITS:
        return f"split must be one of {SPLITS}, got {instance['split']!r}"
    if instance["frame_start"] < 1:
        return f"frame_start is 1-based, got {instance['frame_start']}"
    return None


def _duplicate(instance: dict[str, Any], place: str, seen: dict[str, str]) -> str | None:
    """Why the instance's video is already taken by an earlier instance, or None; records it."""
    video_id = str(instance["video_id"])
    if video_id in seen:
        return f"video_id {video_id!r} is also used by {seen[video_id]}"
    seen[video_id] = place
    return None


def _read_json(path: Path, what: str, **options: Any) -> Any:
    """The JSON document at `path`; one clear error if it is missing or not JSON."""
    try:
        return json.loads(Path(path).read_text(), **options)
    except FileNotFoundError:
        raise BadInputError(path, f"{what} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(path, f"not a JSON file ({exc})") from None


def _looks_like_split_file(document: Any) -> bool:
    """Whether `document` is an I3D split file: video_id -> {subset, action}."""
    values = list(document.values())[:1] if isinstance(document, dict) else []
    return bool(values) and isinstance(values[0], dict) and "action" in values[0]


def load_index(index_path: Path, glosses: int) -> list[dict[str, Any]]:
    """The index's gloss entries ({gloss, instances}), checked to hold at least `glosses`."""
    entries = _read_json(index_path, "WLASL index file")
    if _looks_like_split_file(entries):
        raise BadInputError(
            index_path,
            "this is an I3D split file (video_id -> {subset, action}), not the index; give it"
            " as wlasl.split_file (--split-file) beside the index WLASL_v0.3.json",
        )
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "gloss" in e and isinstance(e.get("instances"), list)
        for e in entries
    ):
        raise BadInputError(index_path, "expected a list of {gloss, instances: [...]} objects")
    if len(entries) < glosses:
        raise BadInputError(index_path, f"has {len(entries)} glosses, the split needs {glosses}")
    return entries


def read_index(
    index_path: Path, glosses: int, on_bad_sample: str, skipped: list[Problem]
) -> pd.DataFrame:
    """One row per usable instance of the first `glosses` glosses, labelled in index order."""
    entries = load_index(index_path, glosses)
    rows, seen = [], {}
    for label, entry in enumerate(entries[:glosses]):
        for number, instance in enumerate(entry["instances"]):
            place = f"gloss {entry['gloss']!r}, instance {number}"
            problem = _instance_problem(instance) or _duplicate(instance, place, seen)
            if problem is not None:
                reject(f"{index_path} ({place})", problem, on_bad_sample, skipped)
                continue
            rows.append(
                {
                    "label": label,
                    "gloss": entry["gloss"],
                    "video_id": str(instance["video_id"]),
                    "instance_id": int(instance.get("instance_id", number)),
                    "signer_id": int(instance.get("signer_id", -1)),
                    "split": instance["split"],
                    "bbox": [int(round(v)) for v in instance["bbox"]],
                    "frame_start": int(instance["frame_start"]),
                    "frame_end": int(instance["frame_end"]),
                }
            )
    return pd.DataFrame(rows)


class _Pairs(list):
    """The (key, value) pairs of one JSON object in file order, repeated keys kept."""


def _split_entries(split_path: Path, glosses: int) -> list[tuple[str, Any]]:
    """(video_id, entry) pairs of an I3D split file, checked to be one for `glosses` classes."""
    document = _read_json(split_path, "split file", object_pairs_hook=_Pairs)
    if not isinstance(document, _Pairs):
        raise BadInputError(
            split_path,
            "expected an I3D split file (an object video_id -> {subset, action: [class, start,"
            " end]}), such as nslt_100.json; the WLASL index goes in wlasl.index",
        )
    classes = {
        entry[0]
        for _, value in document
        if isinstance(value, _Pairs)
        for key, entry in value
        if key == "action" and isinstance(entry, list) and entry and _is_int(entry[0])
    }
    if not classes or max(classes) + 1 != glosses:
        found = f"classes 0..{max(classes)}" if classes else "no class"
        raise BadInputError(split_path, f"has {found}, the split needs {glosses} glosses")
    return list(document)


def _split_entry_problem(video_id: str, entry: Any, glosses: int) -> str | None:
    """Why one entry of a split file cannot be used, or None."""
    if not is_plain_name(video_id):
        return f"video_id must be a file name, not a path, got {video_id!r}"
    keys = [key for key, _ in entry] if isinstance(entry, _Pairs) else None
    if keys is None or sorted(keys) != ["action", "subset"]:
        return f"expected {{subset, action}}, got {keys if keys is not None else entry!r}"
    entry = dict(entry)
    if entry["subset"] not in SPLITS:
        return f"subset must be one of {SPLITS}, got {entry['subset']!r}"
    action = entry["action"]
    if not (isinstance(action, list) and len(action) == 3 and all(map(_is_int, action))):
        return f"action must be [class, frame_start, frame_end] integers, got {action!r}"
    if not 0 <= action[0] < glosses:
        return f"class {action[0]} is outside 0..{glosses - 1}"
    if action[1] < 1:
        return f"frame_start is 1-based, got {action[1]}"
    return None


def _index_by_video(entries: list[dict[str, Any]]) -> dict[str, tuple[int, dict[str, Any]]]:
    """(label, instance) of every instance of the index that names a video, by video id."""
    return {
        str(instance["video_id"]): (label, instance)
        for label, entry in enumerate(entries)
        for instance in entry["instances"]
        if isinstance(instance, dict) and "video_id" in instance
    }


def _filed_elsewhere(
    label: int, indexed: tuple[int, dict[str, Any]] | None, entries: list[dict[str, Any]]
) -> str | None:
    """Why a split-file class disagrees with the gloss the index files the video under, or None."""
    if indexed is None or indexed[0] == label:
        return None
    other = indexed[0]
    return (
        f"class {label} is {entries[label]['gloss']!r}, but the index files the video under"
        f" {entries[other]['gloss']!r} (class {other})"
    )


def _repeated(video_id: str, seen: set[str]) -> str | None:
    """Why `video_id` cannot be used again, or None; records it."""
    if video_id in seen:
        return f"video_id {video_id!r} is listed twice"
    seen.add(video_id)
    return None


def _indexed_fields(instance: dict[str, Any] | None) -> dict[str, Any]:
    """Instance and signer ids and bbox of the index's instance (-1 and None where it has none)."""
    instance = instance or {}
    bbox = instance.get("bbox")
    return {
        "instance_id": instance["instance_id"] if _is_int(instance.get("instance_id")) else -1,
        "signer_id": instance["signer_id"] if _is_int(instance.get("signer_id")) else -1,
        "bbox": None if _bbox_problem(bbox) else [int(round(v)) for v in bbox],
    }


def read_split_file(
    split_path: Path,
    index_path: Path,
    glosses: int,
    on_bad_sample: str,
    skipped: list[Problem],
) -> pd.DataFrame:
    """One row per usable entry of an I3D split file (`nslt_N.json`: video_id -> {subset,
    action: [class, frame_start, frame_end]}), labelled by its class.

    Membership, set, label and frame range come from the split file; gloss names (by label)
    from the index, and bbox, instance and signer ids from the index's instance of the same
    video where it has one. A video the index files under another gloss is a bad sample.
    """
    entries = load_index(index_path, glosses)
    indexed = _index_by_video(entries)
    rows, seen, unindexed = [], set(), []
    for video_id, entry in _split_entries(split_path, glosses):
        problem = _split_entry_problem(video_id, entry, glosses) or _repeated(video_id, seen)
        fields = dict(entry) if problem is None else {}
        if problem is None:
            problem = _filed_elsewhere(fields["action"][0], indexed.get(video_id), entries)
        if problem is not None:
            reject(f"{split_path} (video {video_id!r})", problem, on_bad_sample, skipped)
            continue
        label, start, end = fields["action"]
        if video_id not in indexed:
            unindexed.append(video_id)
        rows.append(
            {
                "label": label,
                "gloss": entries[label]["gloss"],
                "video_id": video_id,
                "split": fields["subset"],
                "frame_start": start,
                "frame_end": end,
                **_indexed_fields(indexed.get(video_id, (label, None))[1]),
            }
        )
    if unindexed:
        log.warning(
            "%s: %d videos are not in %s (kept with their class's gloss, without a bbox): %s",
            split_path, len(unindexed), index_path, ", ".join(unindexed[:10]),
        )  # fmt: skip
    return pd.DataFrame(rows)


def frame_span(frame_start: int, frame_end: int, length: int) -> tuple[int, int]:
    """0-based [start, stop) of a 1-based inclusive range, repaired as SLR repairs it.

    A start past the video means the whole video; an end of -1, before the start or past the
    video means "to its end".
    """
    start = frame_start - 1 if frame_start <= length else 0
    stop = length if frame_end <= start or frame_end > length else frame_end
    return start, stop


def crop_box(bbox: Sequence[int] | None, width: int, height: int) -> Box | None:
    """The square a clip of `width` x `height` frames is cropped to: without `bbox`, the
    centre square of the frame; with one, a square of the bbox's longer side around its
    centre (at most the frame's shorter side), moved inside the frame. None if the bbox
    lies outside the frame."""
    short = min(width, height)
    if bbox is None:
        x, y = (width - short) // 2, (height - short) // 2
        return x, y, x + short, y + short
    x1, y1, x2, y2 = bbox
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return None
    side = min(max(x2 - x1, y2 - y1), short)
    x = min(max(round((x1 + x2 - side) / 2), 0), width - side)
    y = min(max(round((y1 + y2 - side) / 2), 0), height - side)
    return x, y, x + side, y + side


def crop_resize(frames: np.ndarray, box: Box, size: int) -> np.ndarray:
    """(T, H, W, 3) frames cropped to `box` and resized to `size` x `size` (bilinear; frames
    already of that size stay as they are)."""
    x1, y1, x2, y2 = box
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, frame in enumerate(frames[:, y1:y2, x1:x2]):
        image = Image.fromarray(np.ascontiguousarray(frame))
        out[i] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    return out


def _clip_box(shape: Sequence[int], bbox: list[int] | None, crop: str) -> Box | str:
    """The crop box of frames of `shape` (H, W, 3) for the `crop` mode, or why there is none."""
    height, width = shape[:2]
    if crop == "none":
        return crop_box(None, width, height)
    if bbox is None:
        return "the bbox crop needs a bbox, and the index has none for this video"
    box = crop_box(bbox, width, height)
    if box is None:
        return f"bbox {bbox} lies outside the {width}x{height} frame"
    return box


def decode_clip(
    task: tuple[Path, dict[str, Any], int, int, str],
) -> tuple[np.ndarray | None, str]:
    """(uint8 clip, sha256 of the video) of one instance, or (None, reason) if unusable."""
    import decord  # imported in the worker: decord is only needed to convert

    video, row, size, min_frames, crop = task
    if not video.is_file():
        return None, "video file does not exist"
    try:
        reader = decord.VideoReader(str(video), num_threads=1)
        start, stop = frame_span(row["frame_start"], row["frame_end"], len(reader))
        if stop - start < min_frames:
            return None, f"clip has {max(stop - start, 0)} frames, fewer than {min_frames}"
        box = _clip_box(reader[0].shape, row["bbox"], crop)
        if isinstance(box, str):
            return None, box
        # In chunks, so a long high-resolution video never sits in memory whole.
        chunks = [range(i, min(i + CHUNK, stop)) for i in range(start, stop, CHUNK)]
        frames = (reader.get_batch(list(chunk)).asnumpy() for chunk in chunks)
        clip = np.concatenate([crop_resize(f, box, size) for f in frames])
    except decord.DECORDError as exc:
        return None, f"undecodable video ({str(exc).splitlines()[0]})"
    except RuntimeError as exc:  # decord raises this when the container cannot be opened
        return None, f"undecodable video ({exc})"
    return clip, sha256_file(video)


def _split_items(
    index_path: Path,
    split_file: Path | None,
    glosses: int,
    on_bad_sample: str,
    skipped: list[Problem],
) -> pd.DataFrame:
    """The instances of the split: from the split file if given, else the index's first glosses."""
    if split_file is None:
        return read_index(index_path, glosses, on_bad_sample, skipped)
    return read_split_file(Path(split_file), index_path, glosses, on_bad_sample, skipped)


def _check_arguments(
    size: int, min_frames: int, on_bad_sample: str, workers: int, crop: str
) -> None:
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    if on_bad_sample not in POLICIES:
        raise ValueError(f"on_bad_sample must be one of {POLICIES}, got {on_bad_sample!r}")
    if min(size, min_frames, workers) < 1:
        raise ValueError(
            f"size, min_frames and workers must be positive, got {size}, {min_frames}, {workers}"
        )


def prepare(
    index_path: Path,
    videos_dir: Path,
    out_dir: Path,
    split: str,
    size: int,
    min_frames: int = MIN_FRAMES,
    on_bad_sample: str = "error",
    workers: int = 1,
    split_file: Path | None = None,
    crop: str = "none",
) -> pd.DataFrame:
    """Pack the clips of split `split` into `out_dir`; return the manifest.

    The split is the index's first N glosses, or the entries of `split_file` (an I3D
    nslt_N.json) with the index naming the glosses. `crop` "none" keeps the centre square of
    each frame, "bbox" a square around the index's bbox. Missing, undecodable and too-short
    videos, and (with "bbox") boxes outside the frame, are always recorded in skipped.csv
    (WLASL links die; a dataset without gaps does not exist); malformed index entries follow
    `on_bad_sample`. Writes clips.bin, manifest.parquet, skipped.csv and info.json.
    """
    _check_arguments(size, min_frames, on_bad_sample, workers, crop)
    index_path, videos_dir, out_dir = Path(index_path), Path(videos_dir), Path(out_dir)
    skipped: list[Problem] = []
    items = _split_items(index_path, split_file, split_size(split), on_bad_sample, skipped)
    if items.empty:
        raise BadInputError(split_file or index_path, f"no usable instance for split {split}")
    sources = [videos_dir / f"{v}.mp4" for v in items["video_id"]]
    records = items.to_dict("records")
    tasks = [(s, r, size, min_frames, crop) for s, r in zip(sources, records, strict=True)]
    kept, frames, digests = [], [], []
    with worker_pool(workers) as pool, atomic_path(out_dir / "clips.bin") as tmp:
        with open(tmp, "wb") as handle:
            results = progress(pool, decode_clip, tasks, f"decoding {split}", "video")
            for source, (clip, result) in zip(sources, results, strict=True):
                kept.append(clip is not None)
                if clip is None:
                    skipped.append((str(source), result))
                    continue
                handle.write(clip.tobytes())
                frames.append(len(clip))
                digests.append(result)
        stored = items[kept].assign(
            frames=frames,
            sha256=digests,
            source=[str(s) for s, k in zip(sources, kept, strict=True) if k],
        )
        if stored.empty:
            raise BadInputError(videos_dir, f"no usable video for split {split}")
    manifest = _manifest(stored, size)
    write_table(out_dir / "skipped.csv", pd.DataFrame(skipped, columns=["source", "reason"]))
    write_json(
        out_dir / "info.json",
        {"split": split, "frame_size": size, "min_frames": min_frames, "classes": _classes(items)},
    )
    write_table(out_dir / "manifest.parquet", manifest)
    return manifest


def _classes(items: pd.DataFrame) -> list[str]:
    """Gloss names in label order."""
    return items.drop_duplicates("label").sort_values("label")["gloss"].tolist()


def _manifest(stored: pd.DataFrame, size: int) -> pd.DataFrame:
    """The manifest of the stored clips, in storage order and MANIFEST_COLUMNS order."""
    nbytes = stored["frames"].to_numpy(np.int64) * size * size * 3
    return stored.assign(
        id=stored["video_id"],
        offset=np.cumsum(nbytes) - nbytes,
    )[MANIFEST_COLUMNS].reset_index(drop=True)


class PackedClips(PackedSplit):
    """One split (train/val/test) of a prepared WLASL store; clips are sliced from clips.bin."""

    def __init__(self, prepared_dir: str | Path, split: str) -> None:
        super().__init__(prepared_dir, split)
        info = json.loads((self.prepared_dir / "info.json").read_text())
        self.clips_path = self.prepared_dir / "clips.bin"
        self.size: int = info["frame_size"]
        self.classes: list[str] = info["classes"]
        self.ids: list[str] = self.rows["id"].tolist()
        self.labels: np.ndarray = self.rows["label"].to_numpy(np.int64)
        self.frames: np.ndarray = self.rows["frames"].to_numpy(np.int64)
        self._offsets = self.rows["offset"].to_numpy(np.int64)

    def files(self, split: str) -> list[str]:
        return ["info.json", "clips.bin"]

    def _open_maps(self) -> np.ndarray:
        """clips.bin as flat uint8, checked to hold every clip of the manifest."""
        data = np.memmap(self.clips_path, dtype=np.uint8, mode="r")
        end = int((self._offsets + self.frames * self.size**2 * 3).max(initial=0))
        if data.size < end:
            message = f"holds {data.size} bytes, the manifest needs {end}"
            raise BadInputError(self.clips_path, message)
        return data

    def clip(self, index: int, frame_indices: np.ndarray | None = None) -> torch.Tensor:
        """Clip `index` (or the given frames of it) as a uint8 tensor of shape (T, 3, S, S)."""
        shape = (int(self.frames[index]), self.size, self.size, 3)
        start = int(self._offsets[index])
        clip = self.maps()[start : start + int(np.prod(shape))].reshape(shape)
        if frame_indices is not None:
            clip = clip[frame_indices]
        return torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2)))
