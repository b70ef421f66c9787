"""WLASL annotations: which instances form a split, read from the gloss index JSON
(`WLASL_v0.3.json` or the original's `splits/aslN.json`: the first N glosses) or from an I3D
split file (`nslt_N.json`) with the index naming the glosses."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from visionflow.data.conversion import Problem, is_plain_name, reject
from visionflow.io import BadInputError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
INDEX_FIELDS = ("bbox", "frame_start", "frame_end", "split", "video_id")


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


def split_items(
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
