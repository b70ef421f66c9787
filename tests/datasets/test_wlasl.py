"""WLASL index parsing, frame ranges, decord conversion into the clip store, and its reader."""

import json

import decord
import numpy as np
import pandas as pd
import pytest

from visionflow.data import wlasl
from visionflow.data.wlasl import (
    PARTIAL,
    PackedClips,
    crop_resize,
    encode_task,
    frame_span,
    prepare,
    read_index,
    split_size,
)
from visionflow.io import BadInputError


@pytest.mark.parametrize(
    ("start", "end", "length", "span"),
    [
        (1, -1, 30, (0, 30)),  # -1: to the end
        (1, 30, 30, (0, 30)),  # 1-based inclusive: frame 1 is index 0, frame 30 index 29
        (5, 26, 30, (4, 26)),
        (3, 42, 30, (2, 30)),  # past the end: to the end
        (9, 4, 30, (8, 30)),  # before the start: to the end
        (31, 40, 30, (0, 30)),  # starts past the video: the whole video
    ],
)
def test_frame_span_is_one_based_inclusive(start, end, length, span):
    assert frame_span(start, end, length) == span


def test_split_size():
    assert split_size("asl100") == 100
    with pytest.raises(ValueError, match="'asl' followed by a gloss count"):
        split_size("wlasl100")


def test_prepare_keeps_good_clips_and_records_every_broken_one(wlasl_raw, wlasl_store):
    manifest = pd.read_parquet(wlasl_store / "manifest.parquet")
    assert manifest.groupby("split").size().to_dict() == {"test": 8, "train": 13, "val": 8}
    assert sorted(manifest["label"].unique()) == [0, 1, 2, 3]
    skipped = pd.read_csv(wlasl_store / "skipped.csv")
    reasons = dict(zip(skipped["source"].map(lambda s: s[-9:-4]), skipped["reason"], strict=True))
    assert reasons["00001"] == "clip has 6 frames, fewer than 10"
    assert reasons["00009"] == "video file does not exist"
    assert reasons["00017"].startswith("undecodable video")
    info = json.loads((wlasl_store / "info.json").read_text())
    assert info["classes"] == ["book", "drink", "computer", "before"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 arrays, in dB."""
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def test_stored_clip_is_the_cropped_frame_range(wlasl_raw, wlasl_store):
    index = json.loads((wlasl_raw / "WLASL_v0.3.json").read_text())
    clips = PackedClips(wlasl_store, "train")
    position = clips.ids.index("00002")
    instance = index[0]["instances"][1]  # frames 5 .. len-4 of video 00002
    reader = decord.VideoReader(str(wlasl_raw / "videos" / "00002.mp4"))
    start, stop = frame_span(instance["frame_start"], instance["frame_end"], len(reader))
    expected = crop_resize(
        reader.get_batch(list(range(start, stop))).asnumpy(), instance["bbox"], 32
    )
    stored = clips.clip(position).numpy().transpose(0, 2, 3, 1)
    assert stop - start == len(reader) - 8 and stored.shape == (stop - start, 32, 32, 3)
    assert psnr(stored, expected) > 35  # H.264 at CRF 15, 4:4:4: near lossless
    picked = clips.clip(position, np.array([0, 2, 7])).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(picked, stored[[0, 2, 7]])  # seeking decodes the same frames


def test_crop_clamps_the_bbox_to_the_frame():
    frames = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    out = crop_resize(frames, [-5, 2, 3, 99], 2)  # -> x 0..3, y 2..4
    np.testing.assert_array_equal(out, crop_resize(frames[:, 2:4, 0:3].copy(), [0, 0, 3, 2], 2))


def test_index_errors_name_the_file(tmp_path):
    path = tmp_path / "index.json"
    with pytest.raises(BadInputError, match="does not exist"):
        read_index(path, 2, "error", [])
    path.write_text("{not json")
    with pytest.raises(BadInputError, match="not a JSON file"):
        read_index(path, 2, "error", [])
    path.write_text(json.dumps({"gloss": "book"}))
    with pytest.raises(BadInputError, match=r"list of \{gloss, instances"):
        read_index(path, 2, "error", [])
    path.write_text(json.dumps([{"gloss": "book", "instances": []}]))
    with pytest.raises(BadInputError, match="has 1 glosses, the split needs 2"):
        read_index(path, 2, "error", [])


def test_malformed_instance_follows_the_skip_policy(tmp_path):
    good = {"bbox": [0, 0, 10, 10], "frame_start": 1, "frame_end": -1, "split": "train",
            "video_id": "00001"}  # fmt: skip
    bad = good | {"bbox": [10, 0, 5, 10], "video_id": "00002"}
    path = tmp_path / "index.json"
    index = [{"gloss": "a", "instances": [good, bad]},
             {"gloss": "b", "instances": [good | {"split": "dev"}]}]  # fmt: skip
    path.write_text(json.dumps(index))
    with pytest.raises(BadInputError, match=r"gloss 'a', instance 1.*x2 > x1"):
        read_index(path, 2, "error", [])
    skipped = []
    rows = read_index(path, 2, "skip", skipped)
    assert rows["video_id"].tolist() == ["00001"]
    assert [reason for _, reason in skipped] == [
        "bbox must be [x1, y1, x2, y2] with x2 > x1, y2 > y1, got [10, 0, 5, 10]",
        "split must be one of ('train', 'val', 'test'), got 'dev'",
    ]


def test_no_usable_video_is_one_clear_error(tmp_path, wlasl_raw):
    with pytest.raises(BadInputError, match="no usable video for split asl2"):
        prepare(wlasl_raw / "WLASL_v0.3.json", tmp_path / "empty", tmp_path / "out", "asl2", 16)
    assert not (tmp_path / "out" / "clips.bin").exists()


class Killed(Exception):
    """Stands for the job being killed mid-conversion."""


def test_killed_conversion_resumes_to_the_same_store(wlasl_raw, wlasl_store, tmp_path, monkeypatch):
    calls, alive = [], []

    def killed_after_five(task):
        if len(calls) == 5 and not alive:
            alive.append("restarted")
            raise Killed
        calls.append(task[0].name)
        return encode_task(task)

    args = (wlasl_raw / "WLASL_v0.3.json", wlasl_raw / "videos", tmp_path / "out", "asl4", 32)
    monkeypatch.setattr(wlasl, "encode_task", killed_after_five)
    with pytest.raises(Killed):
        prepare(*args)
    assert not (tmp_path / "out" / "clips.bin").exists()
    partial = tmp_path / "out" / PARTIAL
    with open(partial / "pack.bin", "ab") as pack:  # bytes of a clip the journal never got
        pack.write(b"half a clip")
    with open(partial / "journal.jsonl", "a") as journal:
        journal.write('{"frames": 3')  # and a torn line
    first = list(calls)
    prepare(*args)
    assert len(calls) == 32 and calls[:5] == first  # 5 before the kill, then only the rest
    assert (tmp_path / "out" / "clips.bin").read_bytes() == (wlasl_store / "clips.bin").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "out" / "manifest.parquet"),
        pd.read_parquet(wlasl_store / "manifest.parquet"),
    )
    assert not partial.exists()


def test_store_of_another_format_is_refused(wlasl_store, tmp_path):
    for name in ("manifest.parquet", "clips.bin"):
        (tmp_path / name).write_bytes((wlasl_store / name).read_bytes())
    info = json.loads((wlasl_store / "info.json").read_text())
    del info["codec"]  # a store of raw uint8 frames, as earlier versions wrote
    (tmp_path / "info.json").write_text(json.dumps(info))
    with pytest.raises(BadInputError, match="store holds raw frames.*prepare it again"):
        PackedClips(tmp_path, "train")


def test_truncated_store_is_reported(wlasl_store, tmp_path):
    for name in ("manifest.parquet", "info.json"):
        (tmp_path / name).write_bytes((wlasl_store / name).read_bytes())
    (tmp_path / "clips.bin").write_bytes(b"\0" * 100)
    with pytest.raises(BadInputError, match="the manifest needs"):
        PackedClips(tmp_path, "train").clip(0)
