"""`visionflow preflight` reads each data root's layout and first samples with the package's
readers: the demo datasets pass; broken copies of them give one problem each, naming the
config key and the file."""

import json
import shutil
from pathlib import Path

import pytest
from helpers import validated
from PIL import Image

from visionflow.preflight.checks import Report, check_data

DATASETS = ("miniimagenet", "jacquard", "wlasl", "cvat", "saliency")


@pytest.fixture(scope="module")
def demo_roots(tmp_path_factory) -> Path:
    """Small demo copies of the five datasets, laid out as the real data."""
    from visionflow.demo import cvat, jacquard, miniimagenet, saliency, wlasl

    raw = tmp_path_factory.mktemp("raw")
    miniimagenet.generate(raw / "miniimagenet", n_classes=2, train_per_class=4, val_per_class=2)
    jacquard.generate(raw / "jacquard", objects_per_class=3, views_per_object=1, size=96)
    wlasl.generate(raw / "wlasl", 10, {"train": 1, "val": 1, "test": 1}, seed=0)
    cvat.generate(raw / "cvat", tasks=2, frames_per_task=4)
    saliency.generate(raw / "saliency", images=6)
    return raw


def roots_config(raw: Path) -> dict:
    """The demo config with every dataset's root in `raw`, three samples read of each."""
    roots = {name: {"root": str(raw / name)} for name in DATASETS}
    return validated(preflight={"samples": 3}, **roots)


def checked(config: dict) -> Report:
    report = Report()
    check_data(config, report)
    return report


def test_demo_data_reads_without_problems(demo_roots):
    report = checked(roots_config(demo_roots))
    assert report.problems == []
    for name in DATASETS:
        assert f"data {name}.root: layout read, 3 samples read in full" in report.lines


def first(folder: Path, pattern: str) -> Path:
    return sorted(folder.glob(pattern))[0]


def test_broken_copies_give_one_line_per_problem_with_key_and_file(demo_roots, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(demo_roots, raw)
    jpeg = first(raw / "miniimagenet" / "train", "*/*")
    jpeg.write_bytes(jpeg.read_bytes()[:200])  # a truncated JPEG: its header still reads
    grasps = first(raw / "jacquard" / "train", "*/*/*_grasps.txt")
    grasps.write_text("10;20;30;5\n")
    index = raw / "wlasl" / "WLASL_v0.3.json"
    entries = json.loads(index.read_text())
    del entries[0]["instances"][0]["frame_start"]
    index.write_text(json.dumps(entries))
    xml = first(raw / "cvat", "*/annotations.xml")
    xml.write_text(xml.read_text()[:300])
    saliency_map = first(raw / "saliency" / "saliencies", "*/*.png")
    Image.new("L", (5, 5)).save(saliency_map)

    problems = checked(roots_config(raw)).problems
    assert [problem.split(": ")[:2] for problem in problems] == [
        ["miniimagenet.root", str(jpeg)],
        ["jacquard.root", str(grasps)],
        ["wlasl.root", f"{index} (gloss 'book', instance 0)"],
        ["cvat.root", str(xml)],
        ["saliency.root", str(saliency_map)],
    ]
    assert "corrupt or unreadable image" in problems[0]
    assert "line 1: expected 'x;y;theta;opening;jaw_size' numbers" in problems[1]
    assert "frame_start" in problems[2]
    assert problems[4].endswith("(the image's size), found 5x5")


def test_a_video_that_does_not_decode_is_noted_not_a_problem(demo_roots, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(demo_roots / "wlasl", raw / "wlasl")
    index = json.loads((raw / "wlasl" / "WLASL_v0.3.json").read_text())
    video = raw / "wlasl" / "videos" / f"{index[0]['instances'][0]['video_id']}.mp4"
    video.write_bytes(b"not a video")
    config = validated(experiments=["slr"], wlasl={"root": str(raw / "wlasl")})
    report = checked(config)
    assert report.problems == []
    assert any(line.startswith(f"wlasl.root: {video}: skipped by the conversion: undecodable")
               for line in report.lines)  # fmt: skip


def test_training_samples_are_counted_from_the_root_not_a_store_of_another_root(
    demo_roots, tmp_path, monkeypatch
):
    import pandas as pd

    from visionflow.preflight.budget import training_samples

    monkeypatch.chdir(tmp_path)
    config = roots_config(demo_roots)
    index = json.loads((demo_roots / "wlasl" / "WLASL_v0.3.json").read_text())
    train = sum(i["split"] == "train" for entry in index[:10] for i in entry["instances"])
    assert training_samples(config, "slr", "asl10") == train
    assert training_samples(config, "cornet") == 2 * 4  # 2 classes of 4 training images
    views = len(list((demo_roots / "jacquard" / "train").glob("*/*/*_RGB.png")))
    assert training_samples(config, "grasp") == round(views * 0.9)  # grasp.val_fraction 0.1
    store = tmp_path / "data" / "prepared" / "miniimagenet"
    store.mkdir(parents=True)
    pd.DataFrame({"split": ["train", "train", "val"]}).to_parquet(store / "manifest.parquet")
    assert training_samples(config, "cornet") == 2 * 4
    assert training_samples(roots_config(tmp_path / "absent"), "cornet") is None
    assert training_samples(roots_config(tmp_path / "absent"), "grasp") is None
