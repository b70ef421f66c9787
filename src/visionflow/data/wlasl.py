"""WLASL: decord decoding into a packed clip store, and its reader.

`prepare` takes the instances of a split (`wlasl_index`: the first N glosses of the
index, or the entries of an I3D split file `nslt_N.json`), decodes each instance's frame
range with decord, takes the centre square of the frame (or, opt-in, a square around the
index's bbox), resizes it to a square frame size and appends the clip, encoded as H.264
(`clip_codec`), to `clips.bin` through a journal that lets a killed conversion resume;
`manifest.parquet` indexes the clips and `skipped.csv` records every instance left out and
why. `PackedClips` reads the store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd
import torch
from PIL import Image

from visionflow.data import WLASL_CROPS
from visionflow.data.clip_codec import CODEC, decode_frames, encode_clip
from visionflow.data.conversion import (
    POLICIES,
    Problem,
    progress,
    worker_pool,
)
from visionflow.data.journal import PackJournal
from visionflow.data.store import PackedSplit
from visionflow.data.wlasl_index import split_items, split_size
from visionflow.io import BadInputError, sha256_file, write_json, write_table

CROPS = WLASL_CROPS  # the centre square of the frame (as SLR), or a square around the bbox
Box = tuple[int, int, int, int]  # [x1, y1, x2, y2) in frame pixels
MANIFEST_COLUMNS = [
    "id", "split", "label", "gloss", "video_id", "instance_id", "signer_id", "source",
    "frame_start", "frame_end", "frames", "offset", "sha256",
]  # fmt: skip
MIN_FRAMES = 10  # SLR keeps a clip only if it has more than 9 frames
CHUNK = 64  # frames decoded at a time
PARTIAL = ".partial"  # the pack journal of an unfinished conversion


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
    items = split_items(index_path, split_file, split_size(split), on_bad_sample, skipped)
    if items.empty:
        raise BadInputError(split_file or index_path, f"no usable instance for split {split}")
    sources = [videos_dir / f"{v}.mp4" for v in items["video_id"]]
    records = items.to_dict("records")
    tasks = [(s, r, size, min_frames, crop) for s, r in zip(sources, records, strict=True)]
    digest = {"split_file": sha256_file(split_file)} if split_file else {}
    settings = {"index": sha256_file(index_path), **digest, "videos": str(videos_dir),
                "split": split, "size": size, "min_frames": min_frames, "crop": crop,
                **CODEC}  # fmt: skip
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


def encode_task(
    task: tuple[Path, dict[str, Any], int, int, str],
) -> tuple[bytes | None, int, str]:
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
        except (ValueError, av.FFmpegError) as exc:
            message = f"clip {self.ids[index]} at byte {start} is damaged ({exc})"
            raise BadInputError(self.clips_path, message) from None
        return torch.from_numpy(clip)
