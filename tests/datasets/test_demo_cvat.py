"""The demo CVAT generator: determinism, exact formats, missing annotations, a clean table."""

import json
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from visionflow.data.cvat.table import build_table
from visionflow.demo.cvat import generate

LABELS = ["circle", "square", "triangle"]
SIZE = 128


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(root, summary, seconds) of 3 tasks x 40 frames at 128 px."""
    root = tmp_path_factory.mktemp("demo") / "cvat"
    start = time.perf_counter()
    summary = generate(root, tasks=3, frames_per_task=40, size=SIZE, seed=0)
    return root, summary, time.perf_counter() - start


def files(root):
    """Relative path -> bytes of every file under `root`."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def vivid(path):
    """Mask of the strongly coloured pixels of an image: the drawn objects."""
    hsv = np.asarray(Image.open(path).convert("HSV")).astype(int)
    return (hsv[..., 1] > 170) & (hsv[..., 2] > 120)


def test_generate_is_deterministic_and_quick(demo, tmp_path):
    root, summary, seconds = demo
    assert seconds < 5
    again = generate(tmp_path / "again", tasks=3, frames_per_task=40, size=SIZE, seed=0)
    assert again == summary
    assert files(tmp_path / "again") == files(root)
    other = generate(tmp_path / "other", tasks=3, frames_per_task=40, size=SIZE, seed=1)
    assert list(other) != list(summary)


def test_layout_and_cvat_xml_format(demo):
    root, summary, _ = demo
    names = list(summary)
    assert sorted(p.name for p in root.iterdir()) == sorted(names)
    assert all(re.fullmatch(r"FieldData \d{14} [123][LR] GH\d{6}", name) for name in names)
    for name in names[:-1]:
        tree = ET.parse(root / name / "annotations.xml").getroot()
        assert tree.tag == "annotations" and tree.findtext("version") == "1.1"
        assert tree.findtext("meta/task/name") == name
        assert tree.findtext("meta/task/size") == "40"
        assert [n.text for n in tree.iterfind("meta/task/labels/label/name")] == LABELS
        images = tree.findall("image")
        assert [int(i.get("id")) for i in images] == list(range(40))
        for image in images:
            assert (image.get("width"), image.get("height")) == (str(SIZE), str(SIZE))
            with Image.open(root / name / "images" / image.get("name")) as frame:
                assert (frame.format, frame.size, frame.mode) == ("JPEG", (SIZE, SIZE), "RGB")
        box = tree.find("image/box")
        assert set(box.attrib) == {"label", "source", "occluded", "xtl", "ytl", "xbr", "ybr",
                                   "z_order"}  # fmt: skip
    assert not (root / names[-1] / "annotations.xml").exists()
    coco = json.loads((root / names[-1] / "annotations.json").read_text())
    assert [c["name"] for c in coco["categories"]] == LABELS
    assert [i["id"] for i in coco["images"]] == list(range(1, 41))
    assert all(len(a["bbox"]) == 4 for a in coco["annotations"])


def test_table_builds_without_skips_and_boxes_cover_the_shapes(demo):
    root, summary, _ = demo
    table, labels, skipped = build_table(root, [], [], "error")
    assert skipped == [] and labels == LABELS
    assert sorted(table["task"].unique()) == sorted(summary)
    assert table.groupby("task")["frame"].nunique().tolist() == [40, 40, 40]
    for row in table.dropna(subset=["label"]).itertuples():
        inside = vivid(root / row.image)[
            int(row.ymin) : int(row.ymax), int(row.xmin) : int(row.xmax)
        ]
        assert inside.mean() > 0.3, row


def test_some_frames_have_objects_but_no_boxes(demo):
    root, summary, _ = demo
    table = build_table(root, [], [], "error")[0]
    unlabelled = table[table["label"].isna()]
    for task, frames in summary.items():
        assert 1 <= len(frames["unannotated"]) <= 40 // 8
        assert set(frames["unannotated"]).isdisjoint(frames["empty"])
        expected = sorted(frames["unannotated"] + frames["empty"])
        assert unlabelled[unlabelled["task"] == task]["frame"].tolist() == expected
        for frame in frames["unannotated"]:
            assert vivid(root / task / "images" / f"frame_{frame:06d}.jpg").sum() > 30
        for frame in frames["empty"]:
            assert vivid(root / task / "images" / f"frame_{frame:06d}.jpg").sum() == 0
    assert sum(len(f["empty"]) for f in summary.values()) >= 1


def test_background_pans_slowly_like_video(demo):
    root, summary, _ = demo
    task = next(iter(summary))
    paths = [root / task / "images" / f"frame_{t:06d}.jpg" for t in (0, 4)]
    first, later = (np.asarray(Image.open(p), float) for p in paths)
    background = ~(vivid(paths[0]) | vivid(paths[1]))
    shift = 3  # 4 frames x 0.75 px
    aligned = np.abs(first[:, shift:] - later[:, :-shift])[
        background[:, shift:] & background[:, :-shift]
    ]
    still = np.abs(first - later)[background]
    assert aligned.mean() < 0.6 * still.mean()  # aligned, only sensor and JPEG noise differ
