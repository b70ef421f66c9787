"""WLASL index parsing, frame ranges, decord conversion into the clip store, and its reader."""

import json
import shutil

import decord
import numpy as np
import pandas as pd
import pytest

from visionflow.data import wlasl
from visionflow.data.wlasl import (
    PARTIAL,
    PackedClips,
    crop_box,
    crop_resize,
    encode_task,
    frame_span,
    prepare,
)
from visionflow.data.wlasl_index import read_index, read_split_file, split_size
from visionflow.demo.wlasl import write_mp4
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
        (30, -1, 30, (29, 30)),  # the last frame only (the original, 0-based, takes the video)
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
    frames = reader.get_batch(list(range(start, stop))).asnumpy()
    expected = crop_resize(frames, (16, 0, 112, 96), 32)  # the centre square of 128 x 96
    stored = clips.clip(position).numpy().transpose(0, 2, 3, 1)
    assert stop - start == len(reader) - 8 and stored.shape == (stop - start, 32, 32, 3)
    assert psnr(stored, expected) > 35  # H.264 in RGB at CRF 20: near lossless
    picked = clips.clip(position, np.array([0, 2, 7])).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(picked, stored[[0, 2, 7]])  # seeking decodes the same frames


@pytest.mark.parametrize(
    ("bbox", "box"),
    [
        (None, (16, 0, 112, 96)),  # no bbox: the centre square
        ([40, 10, 60, 50], (30, 10, 70, 50)),  # the longer side, around the centre
        ([100, 20, 140, 40], (88, 10, 128, 50)),  # moved inside the frame
        ([-50, -400, 300, 500], (32, 0, 128, 96)),  # at most the shorter side
        ([385, 37, 885, 720], None),  # source-video pixels on a smaller clip: outside
    ],
)
def test_crop_box_is_a_square_inside_the_frame(bbox, box):
    assert crop_box(bbox, 128, 96) == box


def test_crop_resize_keeps_frames_of_the_target_size():
    frames = np.random.default_rng(0).integers(0, 256, (2, 4, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(crop_resize(frames, (1, 0, 5, 4), 4), frames[:, :, 1:5])


def _square_videos(root, bbox):
    """Two 32 x 32 videos of 12 frames, indexed with `bbox` (one gloss each, train)."""
    rng = np.random.default_rng(1)
    (root / "videos").mkdir(parents=True)
    index = []
    for number, gloss in enumerate(("book", "drink")):
        blocks = rng.integers(0, 256, (12, 4, 4, 3), dtype=np.uint8)  # 8 px blocks, as a
        video = blocks.repeat(8, axis=1).repeat(8, axis=2)  # camera's content compresses
        write_mp4(root / "videos" / f"0000{number}.mp4", video)
        instance = {"bbox": bbox, "frame_start": 1, "frame_end": -1, "split": "train",
                    "video_id": f"0000{number}"}  # fmt: skip
        index.append({"gloss": gloss, "instances": [instance]})
    (root / "WLASL_v0.3.json").write_text(json.dumps(index))
    return root


def test_default_store_is_the_full_frame(tmp_path):
    raw = _square_videos(tmp_path / "raw", [385, 37, 885, 720])  # a 1280 x 720 source's box
    prepare(raw / "WLASL_v0.3.json", raw / "videos", tmp_path / "out", "asl2", 32)
    clips = PackedClips(tmp_path / "out", "train")
    decoded = decord.VideoReader(str(raw / "videos" / "00000.mp4")).get_batch(list(range(12)))
    stored = clips.clip(0).numpy().transpose(0, 2, 3, 1)
    assert psnr(stored, decoded.asnumpy()) > 35  # the whole frame, in the near-lossless store


def test_bbox_crop_keeps_the_aspect_and_records_out_of_frame_boxes(tmp_path):
    raw = _square_videos(tmp_path / "raw", [385, 37, 885, 720])
    index = json.loads((raw / "WLASL_v0.3.json").read_text())
    index[0]["instances"][0]["bbox"] = [8, 4, 16, 28]  # 8 x 24: a 24 px square around it
    (raw / "WLASL_v0.3.json").write_text(json.dumps(index))
    out = tmp_path / "out"
    prepare(raw / "WLASL_v0.3.json", raw / "videos", out, "asl2", 24, crop="bbox")
    assert pd.read_csv(out / "skipped.csv").to_dict("records") == [
        {"source": str(raw / "videos" / "00001.mp4"),
         "reason": "bbox [385, 37, 885, 720] lies outside the 32x32 frame"}]  # fmt: skip
    decoded = decord.VideoReader(str(raw / "videos" / "00000.mp4")).get_batch(list(range(12)))
    stored = PackedClips(out, "train").clip(0).numpy().transpose(0, 2, 3, 1)
    assert psnr(stored, decoded.asnumpy()[:, 4:28, 0:24]) > 35  # the square around the bbox


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


def _nslt(index, glosses):
    """The I3D split file of the index's first glosses as nslt_N.json lays it out: one line,
    video_id -> {subset, action: [class, frame_start, frame_end]}."""
    return {
        instance["video_id"]: {
            "subset": instance["split"],
            "action": [label, instance["frame_start"], instance["frame_end"]],
        }
        for label, entry in enumerate(index[:glosses])
        for instance in entry["instances"]
    }


def test_nslt_split_file_gives_the_index_instances(wlasl_raw, wlasl_store, tmp_path):
    raw = shutil.copytree(wlasl_raw, tmp_path / "raw")
    index = json.loads((raw / "WLASL_v0.3.json").read_text())
    nslt = _nslt(index, 4)
    del nslt["00003"]  # not in the split
    nslt["00002"]["action"] = [0, 3732, 3852]  # a YouTube cut counted in the uncut video
    shutil.copy(raw / "videos" / "00004.mp4", raw / "videos" / "99999.mp4")
    nslt["99999"] = {"subset": "test", "action": [1, 1, 40]}  # not in the index
    (raw / "nslt_4.json").write_text(json.dumps(nslt))
    out = tmp_path / "out"
    prepare(raw / "WLASL_v0.3.json", raw / "videos", out, "asl4", 32,
            split_file=raw / "nslt_4.json")  # fmt: skip
    by_index = pd.read_parquet(wlasl_store / "manifest.parquet").set_index("id")
    by_split = pd.read_parquet(out / "manifest.parquet").set_index("id")
    assert set(by_split.index) == set(by_index.index) - {"00003"} | {"99999"}
    assert by_split.loc["99999", ["label", "gloss", "split", "instance_id"]].tolist() == [
        1, "drink", "test", -1]  # fmt: skip
    assert by_split.loc["00002", "frames"] == len(decord.VideoReader(str(raw / "videos/00002.mp4")))
    same = sorted(set(by_index.index) - {"00002", "00003"})
    columns = ["label", "gloss", "split", "instance_id", "signer_id", "frames", "sha256"]
    pd.testing.assert_frame_equal(by_split.loc[same, columns], by_index.loc[same, columns])
    for split in ("train", "val"):
        ours, theirs = PackedClips(out, split), PackedClips(wlasl_store, split)
        for video_id in set(ours.ids) & set(same):
            ours_clip = ours.clip(ours.ids.index(video_id))
            assert ours_clip.equal(theirs.clip(theirs.ids.index(video_id)))
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped.equals(pd.read_csv(wlasl_store / "skipped.csv").replace(
        str(wlasl_raw), str(raw), regex=True))  # fmt: skip
    assert json.loads((out / "info.json").read_text())["classes"] == [
        "book", "drink", "computer", "before"]  # fmt: skip


def _instance(video_id, split):
    return {"bbox": [0, 0, 10, 10], "frame_start": 1, "frame_end": -1, "split": split,
            "video_id": video_id}  # fmt: skip


def test_split_file_problems_follow_the_skip_policy(tmp_path):
    index = tmp_path / "WLASL_v0.3.json"
    entries = [
        {"gloss": "book", "instances": [_instance("00001", "train")]},
        {"gloss": "drink", "instances": [_instance("00002", "val")]},
    ]
    index.write_text(json.dumps(entries))
    split = tmp_path / "nslt_2.json"
    split.write_text(
        '{"00001": {"subset": "train", "action": [1, 1, 30]}, '
        '"00002": {"subset": "val", "action": [1, 1, 30]}, '
        '"00003": {"subset": "dev", "action": [0, 1, 30]}, '
        '"../00004": {"subset": "test", "action": [0, 1, 30]}, '
        '"00005": {"subset": "test", "action": [0, 0, 30]}, '
        '"00006": {"subset": "test", "action": [0, 1]}, '
        '"00002": {"subset": "val", "action": [1, 1, 30]}}'
    )
    with pytest.raises(BadInputError, match=r"nslt_2.json \(video '00001'\).*'drink', but the"):
        read_split_file(split, index, 2, "error", [])
    skipped = []
    rows = read_split_file(split, index, 2, "skip", skipped)
    assert rows[["video_id", "label", "split", "bbox"]].values.tolist() == [
        ["00002", 1, "val", [0, 0, 10, 10]]]  # fmt: skip
    assert [reason for _, reason in skipped] == [
        "class 1 is 'drink', but the index files the video under 'book' (class 0)",
        "subset must be one of ('train', 'val', 'test'), got 'dev'",
        "video_id must be a file name, not a path, got '../00004'",
        "frame_start is 1-based, got 0",
        "action must be [class, frame_start, frame_end] integers, got [0, 1]",
        "video_id '00002' is listed twice",
    ]


def test_split_file_and_index_are_not_interchangeable(tmp_path):
    index, split = tmp_path / "WLASL_v0.3.json", tmp_path / "nslt_2.json"
    index.write_text(json.dumps([{"gloss": g, "instances": []} for g in ("a", "b", "c")]))
    split.write_text(json.dumps({"00001": {"subset": "train", "action": [2, 1, 9]}}))
    with pytest.raises(BadInputError, match="I3D split file .* give it as wlasl.split_file"):
        read_index(split, 2, "error", [])
    with pytest.raises(BadInputError, match="WLASL_v0.3.json: expected an I3D split file"):
        read_split_file(index, index, 2, "error", [])
    with pytest.raises(BadInputError, match="has classes 0..2, the split needs 2 glosses"):
        read_split_file(split, index, 2, "error", [])
