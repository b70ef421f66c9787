"""WLASL: the gloss index JSON, decord decoding into a packed clip store, and its reader.

`prepare` keeps the first N glosses of the index (split `aslN`), decodes each instance's
frame range with decord, crops the signer's bbox, resizes to a square frame size and
appends the clip, encoded as H.264 (`clip_codec`), to `clips.bin` through a journal that
lets a killed conversion resume; `manifest.parquet` indexes the clips and `skipped.csv`
records every instance left out and why. `PackedClips` reads the store.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from visionflow.data.clip_codec import CODEC, decode_frames, encode_clip
from visionflow.data.conversion import (
    POLICIES,
    Problem,
    is_plain_name,
    progress,
    reject,
    worker_pool,
)
from visionflow.data.journal import PackJournal
from visionflow.data.store import PackedSplit
from visionflow.io import BadInputError, sha256_file, write_json, write_table

SPLITS = ("train", "val", "test")
INDEX_FIELDS = ("bbox", "frame_start", "frame_end", "split", "video_id")
MANIFEST_COLUMNS = [
    "id", "split", "label", "gloss", "video_id", "instance_id", "signer_id", "source",
    "frame_start", "frame_end", "frames", "offset", "sha256",
]  # fmt: skip
MIN_FRAMES = 10  # SLR keeps a clip only if it has more than 9 frames
CHUNK = 64  # frames decoded at a time
PARTIAL = ".partial"  # the pack journal of an unfinished conversion


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


def _instance_problem(instance: Any) -> str | None:
    """Why an index entry cannot be used, or None."""
    if not isinstance(instance, dict):
        return f"instance is a {type(instance).__name__}, expected an object"
    missing = [k for k in INDEX_FIELDS if k not in instance]
    if missing:
        return f"instance lacks {', '.join(missing)}"
    if problem := _type_problem(instance):
        return problem
    bbox = instance["bbox"]
    numbers = isinstance(bbox, list) and len(bbox) == 4
    numbers = numbers and all(_is_int(v) or isinstance(v, float) and math.isfinite(v) for v in bbox)
    if not (numbers and bbox[2] > bbox[0] and bbox[3] > bbox[1]):
        return f"bbox must be [x1, y1, x2, y2] with x2 > x1, y2 > y1, got {bbox}"
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


def read_index(
    index_path: Path, glosses: int, on_bad_sample: str, skipped: list[Problem]
) -> pd.DataFrame:
    """One row per usable instance of the first `glosses` glosses, labelled in index order."""
    try:
        entries = json.loads(Path(index_path).read_text())
    except FileNotFoundError:
        raise BadInputError(index_path, "WLASL index file does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(index_path, f"not a JSON file ({exc})") from None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and "gloss" in e and isinstance(e.get("instances"), list)
        for e in entries
    ):
        raise BadInputError(index_path, "expected a list of {gloss, instances: [...]} objects")
    if len(entries) < glosses:
        raise BadInputError(index_path, f"has {len(entries)} glosses, the split needs {glosses}")
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


def frame_span(frame_start: int, frame_end: int, length: int) -> tuple[int, int]:
    """0-based [start, stop) of a 1-based inclusive range, repaired as SLR repairs it.

    A start past the video means the whole video; an end of -1, before the start or past the
    video means "to its end".
    """
    start = frame_start - 1 if frame_start <= length else 0
    stop = length if frame_end <= start or frame_end > length else frame_end
    return start, stop


def crop_resize(frames: np.ndarray, bbox: list[int], size: int) -> np.ndarray:
    """Crop (T, H, W, 3) frames to bbox [x1, y1, x2, y2] (clamped to the frame), resize square."""
    height, width = frames.shape[1:3]
    x1, y1 = max(bbox[0], 0), max(bbox[1], 0)
    x2, y2 = min(bbox[2], width), min(bbox[3], height)
    if x2 <= x1 or y2 <= y1:
        x1, y1, x2, y2 = 0, 0, width, height  # bbox outside the frame: keep the whole frame
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for i, frame in enumerate(frames[:, y1:y2, x1:x2]):
        image = Image.fromarray(np.ascontiguousarray(frame))
        out[i] = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    return out


def decode_clip(task: tuple[Path, dict[str, Any], int, int]) -> tuple[np.ndarray | None, str]:
    """(uint8 clip, sha256 of the video) of one instance, or (None, reason) if unusable."""
    import decord  # imported in the worker: decord is only needed to convert

    video, row, size, min_frames = task
    if not video.is_file():
        return None, "video file does not exist"
    try:
        reader = decord.VideoReader(str(video), num_threads=1)
        start, stop = frame_span(row["frame_start"], row["frame_end"], len(reader))
        if stop - start < min_frames:
            return None, f"clip has {max(stop - start, 0)} frames, fewer than {min_frames}"
        # In chunks, so a long high-resolution video never sits in memory whole.
        chunks = [range(i, min(i + CHUNK, stop)) for i in range(start, stop, CHUNK)]
        frames = (reader.get_batch(list(chunk)).asnumpy() for chunk in chunks)
        clip = np.concatenate([crop_resize(f, row["bbox"], size) for f in frames])
    except decord.DECORDError as exc:
        return None, f"undecodable video ({str(exc).splitlines()[0]})"
    except RuntimeError as exc:  # decord raises this when the container cannot be opened
        return None, f"undecodable video ({exc})"
    return clip, sha256_file(video)


def _check_arguments(size: int, min_frames: int, on_bad_sample: str, workers: int) -> None:
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
) -> pd.DataFrame:
    """Pack the clips of split `split` into `out_dir`; return the manifest.

    Missing, undecodable and too-short videos are always recorded in skipped.csv (WLASL
    links die; a dataset without gaps does not exist); malformed index entries follow
    `on_bad_sample`. Writes clips.bin, manifest.parquet, skipped.csv and info.json.
    """
    _check_arguments(size, min_frames, on_bad_sample, workers)
    index_path, videos_dir, out_dir = Path(index_path), Path(videos_dir), Path(out_dir)
    skipped: list[Problem] = []
    items = read_index(index_path, split_size(split), on_bad_sample, skipped)
    if items.empty:
        raise BadInputError(index_path, f"no usable instance in the first {split} glosses")
    sources = [videos_dir / f"{v}.mp4" for v in items["video_id"]]
    tasks = [
        (s, r, size, min_frames) for s, r in zip(sources, items.to_dict("records"), strict=True)
    ]
    settings = {"index": sha256_file(index_path), "videos": str(videos_dir), "split": split,
                "size": size, "min_frames": min_frames, **CODEC}  # fmt: skip
    with PackJournal(out_dir / PARTIAL, settings) as journal:
        _pack(journal, tasks, workers, split)
        stored = _stored(items, sources, journal.entries, skipped)
        if stored.empty:
            journal.discard()
            raise BadInputError(videos_dir, f"no usable video for split {split}")
        journal.finish(out_dir / "clips.bin")
    write_table(out_dir / "skipped.csv", pd.DataFrame(skipped, columns=["source", "reason"]))
    info = {"split": split, "frame_size": size, "min_frames": min_frames, "codec": CODEC}
    write_json(out_dir / "info.json", info | {"classes": _classes(items)})
    manifest = _manifest(stored)
    write_table(out_dir / "manifest.parquet", manifest)
    return manifest


def encode_task(task: tuple[Path, dict[str, Any], int, int]) -> tuple[bytes | None, int, str]:
    """(encoded clip, frames, sha256 of the video) of one instance, or (None, 0, reason)."""
    clip, result = decode_clip(task)
    if clip is None:
        return None, 0, result
    return encode_clip(clip), len(clip), result


def _pack(journal: PackJournal, tasks: list[Any], workers: int, split: str) -> None:
    """Encode the clip of every task the journal has not recorded yet (a killed run with the
    same settings continues) and record each: its bytes, frames and sha256, or a reason."""
    done = len(journal.entries)
    desc = f"decoding {split}" + (f" (resumed after {done} videos)" if done else "")
    with worker_pool(workers) as pool:
        for data, frames, result in progress(pool, encode_task, tasks[done:], desc, "video"):
            if data is None:
                journal.append({"frames": 0, "reason": result})
            else:
                journal.append({"frames": frames, "sha256": result}, data)


def _stored(
    items: pd.DataFrame, sources: list[Path], entries: list[dict[str, Any]], skipped: list[Problem]
) -> pd.DataFrame:
    """The index rows whose clip was stored, with frames, sha256, source, offset and nbytes;
    the others' reasons go to `skipped`."""
    kept = [entry["frames"] > 0 for entry in entries]
    skipped += [
        (str(s), e["reason"]) for s, e, k in zip(sources, entries, kept, strict=True) if not k
    ]
    columns = {key: [e[key] for e in entries if e["frames"]]
               for key in ("frames", "sha256", "offset", "nbytes")}  # fmt: skip
    return items[kept].assign(
        source=[str(s) for s, k in zip(sources, kept, strict=True) if k], **columns
    )


def _classes(items: pd.DataFrame) -> list[str]:
    """Gloss names in label order."""
    return items.drop_duplicates("label").sort_values("label")["gloss"].tolist()


def _manifest(stored: pd.DataFrame) -> pd.DataFrame:
    """The manifest of the stored clips, in storage order: MANIFEST_COLUMNS, then the bytes
    each encoded clip takes in clips.bin."""
    stored = stored.assign(id=stored["video_id"])
    return stored[[*MANIFEST_COLUMNS, "nbytes"]].reset_index(drop=True)


class PackedClips(PackedSplit):
    """One split (train/val/test) of a prepared WLASL store; each clip is an H.264 file in
    clips.bin, decoded when read."""

    def __init__(self, prepared_dir: str | Path, split: str) -> None:
        super().__init__(prepared_dir, split)
        info_path = self.prepared_dir / "info.json"
        info = json.loads(info_path.read_text())
        if info.get("codec") != CODEC or "nbytes" not in self.rows:
            found = info.get("codec", "raw frames")
            raise BadInputError(info_path, f"store holds {found}, not {CODEC}; prepare it again")
        self.clips_path = self.prepared_dir / "clips.bin"
        self.size: int = info["frame_size"]
        self.classes: list[str] = info["classes"]
        self.ids: list[str] = self.rows["id"].tolist()
        self.labels: np.ndarray = self.rows["label"].to_numpy(np.int64)
        self.frames: np.ndarray = self.rows["frames"].to_numpy(np.int64)
        self._offsets = self.rows["offset"].to_numpy(np.int64)
        self._nbytes = self.rows["nbytes"].to_numpy(np.int64)

    def files(self, split: str) -> list[str]:
        return ["info.json", "clips.bin"]

    def _open_maps(self) -> np.ndarray:
        """clips.bin as flat bytes, checked to hold every clip of the manifest."""
        data = np.memmap(self.clips_path, dtype=np.uint8, mode="r")
        end = int((self._offsets + self._nbytes).max(initial=0))
        if data.size < end:
            message = f"holds {data.size} bytes, the manifest needs {end}"
            raise BadInputError(self.clips_path, message)
        return data

    def clip(self, index: int, frame_indices: np.ndarray | None = None) -> torch.Tensor:
        """Clip `index` (or the given frames of it) as a uint8 tensor of shape (T, 3, S, S)."""
        start = int(self._offsets[index])
        data = self.maps()[start : start + int(self._nbytes[index])].tobytes()
        try:
            clip = decode_frames(data, int(self.frames[index]), frame_indices)
        except (ValueError, RuntimeError) as exc:  # decord: RuntimeError for damaged bytes
            message = f"clip {self.ids[index]} at byte {start} is damaged ({exc})"
            raise BadInputError(self.clips_path, message) from None
        return torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2)))
