"""Every shape of a CVAT for images 1.1 export and every COCO layout becomes a box or a
recorded line in skipped.csv; rotated boxes, ellipses and masks give their true extents."""

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from visionflow.data.cvat.coco import read_coco
from visionflow.data.cvat.cvat_xml import read_cvat_xml
from visionflow.data.cvat.export import write_coco, write_cvat_xml
from visionflow.data.cvat.geometry import (
    ellipse_extent,
    mask_extent,
    rotated_box_extent,
)
from visionflow.data.cvat.rows import COLUMNS
from visionflow.data.cvat.table import build_table, prepare
from visionflow.io import BadInputError

PROJECT = "weeds 2020"
LABELS = ["thistle", "dock", "row", "stem", "good_frame", "plant"]
# The run lengths of CVAT's own XML format documentation: a 13 x 15 blob at (707, 888).
DOC_RLE = ", ".join(
    map(str, [3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1, 12, 1, 26, 1, 12, 1, 12, 2, 11, 3, 9,
              5, 7, 7, 5, 3])
)  # fmt: skip
IMAGES = {0: "frame_000000.jpg", 1: "frame_000001.jpg", 2: "frame_000002.jpg",
          3: "frame_000010.jpg", 4: "frame_000011.jpg"}  # fmt: skip
# A CVAT for images 1.1 project export as CVAT's dumper writes it: <image> with subset and
# task_id, shapes in z order with label, source, occluded, geometry, rotation, z_order,
# group_id, then the frame's tags; empty frames included.
PROJECT_XML = (Path(__file__).parents[1] / "data" / "cvat-project-annotations.xml").read_text()
EXPECTED = [  # (frame, label, box) of every shape that has a box, in file order
    (0, "thistle", [110.0, 190.0, 130.0, 230.0]),  # 40 x 20 box turned a quarter: 20 x 40
    (0, "dock", [300.0, 300.0, 340.5, 350.25]),
    (0, "row", [126.8, 0.0, 462.1, 1200.0]),
    (0, "stem", [574.9, 445.26, 1170.16, 939.48]),
    (0, "dock", [707.0, 888.0, 720.0, 903.0]),
    (1, "thistle", [10.0, 20.0, 13.0, 22.0]),  # rows ..## / ##.. of a 3 x 2 placement
    (3, "dock", [10.0, 10.0, 60.0, 40.0]),
    (3, "thistle", [390.0, 260.0, 410.0, 340.0]),
    (3, "plant", [10.0, 480.0, 90.0, 560.0]),
    (3, "plant", [700.0, 840.0, 720.0, 900.0]),  # the outside point is not part of it
]
RECORDED = [  # (frame, shape, words) of the shapes that have no box
    (0, 3, "<polyline label='row'> is a horizontal or vertical line"),
    (0, 5, "<points label='stem'> is a single point"),
    (0, 7, "<tag label='good_frame'> is a frame-level label"),
    (1, 1, "<mask label='dock'> sets no pixel"),
    (4, 0, "<tag label='good_frame'> is a frame-level label"),
]


def write_project(root, xml=PROJECT_XML):
    folder = root / PROJECT
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name in IMAGES.values():
        (folder / "images" / name).touch()
    (folder / "annotations.xml").write_text(xml)
    return folder


def boxes_of(table):
    rows = table[table["label"].notna()]
    return [
        (r.frame, r.label, [round(v, 2) for v in (r.xmin, r.ymin, r.xmax, r.ymax)])
        for r in rows.itertuples()
    ]


def test_project_export_keeps_every_shape_as_a_box_or_a_record(tmp_path, caplog):
    folder = write_project(tmp_path / "raw")
    table = prepare(tmp_path / "raw", tmp_path / "out", [], LABELS, "error")
    assert boxes_of(table) == EXPECTED
    skipped = pd.read_csv(tmp_path / "out" / "skipped.csv")
    assert (skipped["source"] == str(folder / "annotations.xml")).all()
    for (frame, shape, words), reason in zip(RECORDED, skipped["reason"], strict=True):
        assert reason.startswith(f"task {PROJECT!r}, frame {frame}, shape {shape}: {words}")
        assert reason.endswith("(not imported)")
    shapes = sum(len(image) for image in ET.fromstring(PROJECT_XML.encode()).iter("image"))
    assert len(EXPECTED) + len(RECORDED) == shapes == 15  # nothing lost without a record
    # frames 2 (empty) and 4 (a tag only) are background frames; frame 1 (masks) is not
    background = table.loc[table["label"].isna(), "frame"].tolist()
    assert background == [2, 4]
    assert "frames' subset and task_id are not kept" in caplog.text


def test_shape_attributes_keep_flags_rotation_and_geometry(tmp_path):
    folder = write_project(tmp_path)
    rows = read_cvat_xml(folder / "annotations.xml", PROJECT, "error", [])
    attributes = [json.loads(r["attributes"]) for r in rows if r["label"] is not None]
    assert attributes[0] == {
        "occluded": True, "source": "manual", "z_order": 0, "group_id": 2, "growth": "late",
        "rotation": 90.0,
        "cvat_shape": {"type": "box", "xtl": "100.00", "ytl": "200.00", "xbr": "140.00",
                       "ybr": "220.00"},
    }  # fmt: skip
    assert attributes[4]["cvat_shape"] == {
        "type": "mask", "rle": DOC_RLE, "left": "707", "top": "888", "width": "13", "height": "15",
    }  # fmt: skip
    assert "cvat_shape" not in attributes[6] and attributes[6]["occluded"] is True
    skeleton = attributes[9]
    assert skeleton["growth"] == "early" and "occluded" not in skeleton
    assert [e["label"] for e in skeleton["cvat_shape"]["elements"]] == ["root", "tip", "leaf"]


def test_written_back_each_shape_is_the_shape_it_was(tmp_path):
    """The export writes a rotated box as CVAT's rotated box (unrotated corners and
    `rotation`), never as the extent with a plain `rotation` attribute."""
    folder = write_project(tmp_path / "raw")
    table = build_table(tmp_path / "raw", [], LABELS, "error")[0]
    write_cvat_xml(tmp_path / "back.xml", table, LABELS, PROJECT)
    image = ET.parse(tmp_path / "back.xml").getroot().find("image")
    rotated = image.find("box")
    assert {k: rotated.get(k) for k in ("xtl", "ytl", "xbr", "ybr", "rotation", "group_id")} == {
        "xtl": "100.00", "ytl": "200.00", "xbr": "140.00", "ybr": "220.00",
        "rotation": "90.00", "group_id": "2",
    }  # fmt: skip
    assert [a.get("name") for a in rotated.findall("attribute")] == ["growth"]
    assert [child.tag for child in image] == ["box", "polygon", "polyline", "points", "mask"]
    back = pd.DataFrame(read_cvat_xml(tmp_path / "back.xml", PROJECT), columns=COLUMNS)
    assert boxes_of(back) == boxes_of(table)
    original = [json.loads(a) for a in table["attributes"]]
    assert [json.loads(a) for a in back["attributes"]] == original
    assert (folder / "annotations.xml").read_text() == PROJECT_XML


def test_coco_of_a_rotated_box_is_cvats_unrotated_bbox_and_reads_back(tmp_path):
    folder = write_project(tmp_path / "raw")
    rows = read_cvat_xml(folder / "annotations.xml", PROJECT)
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_coco(tmp_path / "instances.json", table, LABELS)
    first = json.loads((tmp_path / "instances.json").read_text())["annotations"][0]
    assert first["bbox"] == [100.0, 200.0, 40.0, 20.0] and first["attributes"]["rotation"] == 90
    assert "cvat_shape" not in json.dumps(first)
    back = pd.DataFrame(read_coco(tmp_path / "instances.json", PROJECT), columns=COLUMNS)
    assert boxes_of(back) == boxes_of(table)


FRAME_TAG = """<tag label="good_frame" source="manual">
      <attribute name="light">overcast</attribute>
    </tag>"""


@pytest.mark.parametrize(
    ("old", "new", "words", "lost"),
    [
        ('rle="0, 2, 2, 2"', 'rle="0, 2, 2, 3"', "run lengths sum to 7, not width x height = 6", 1),
        ('rle="0, 2, 2, 2"', 'rle="0, two, 2, 2"', "are not run lengths and a placement", 1),
        ('rotation="90.00" z_order="0" group_id', 'rotation="right" z_order="0" group_id',
         "rotation 'right' is not a number", 1),
        ('rx="40.00" ', "", "<ellipse> lacks rx", 1),
        ('xbr2="90.00" ', "", "<cuboid> lacks xbr2", 1),
        (FRAME_TAG, FRAME_TAG.replace("tag", "note"), "<note> is not a CVAT for images 1.1 shape",
         0),
    ],
)  # fmt: skip
def test_malformed_shapes_follow_the_policy(tmp_path, old, new, words, lost):
    assert PROJECT_XML.count(old) == 1
    write_project(tmp_path, PROJECT_XML.replace(old, new))
    with pytest.raises(BadInputError, match=words):
        build_table(tmp_path, [], LABELS, "error")
    table, _, skipped = build_table(tmp_path, [], LABELS, "skip")
    assert sum(words in reason for _, reason in skipped) == 1
    assert table["label"].notna().sum() == len(EXPECTED) - lost


def drawn(runs, width, height):
    """CVAT's run lengths drawn as a (height, width) mask: row-major, unset run first."""
    return np.repeat(np.arange(len(runs)) % 2 == 1, runs).reshape(height, width)


def runs_of(mask):
    """CVAT's run lengths of a bool mask (cvat_sdk.masks.encode_mask's layout)."""
    flat = mask.ravel().astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return np.diff(np.concatenate([[0], edges])).tolist()


def test_mask_extent_is_the_set_pixels_of_cvats_runs():
    runs = [int(v) for v in DOC_RLE.split(",")]
    mask = drawn(runs, 13, 15)
    assert mask.sum() == 149 and mask[0].tolist() == [False] * 3 + [True] * 5 + [False] * 5
    assert mask_extent(runs, 707, 888, 13, 15) == [707.0, 888.0, 720.0, 903.0]
    assert mask_extent([0, 1, 5], 0, 0, 3, 2) == [0.0, 0.0, 1.0, 1.0]  # first pixel set
    assert mask_extent([6], 0, 0, 3, 2) is None
    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = rng.integers(1, 9, 2)
        mask = rng.random((height, width)) < rng.uniform(0.05, 0.4)
        if not mask.any():
            continue
        runs = runs_of(mask)
        assert (drawn(runs, width, height) == mask).all()
        rows, cols = np.nonzero(mask)
        expected = [5 + cols.min(), 7 + rows.min(), 5 + cols.max() + 1, 7 + rows.max() + 1]
        assert mask_extent(runs, 5, 7, width, height) == expected
    with pytest.raises(ValueError, match="negative run"):
        mask_extent([7, -1], 0, 0, 3, 2)
    huge = mask_extent([10**12 - 1, 1], 0, 0, 10**6, 10**6)  # not drawn: no memory needed
    assert huge == [10**6 - 1, 10**6 - 1, 10**6, 10**6]


@pytest.mark.parametrize("degrees", [0.0, 12.5, 90.0, 135.0, -30.0, 200.0])
def test_rotated_extents_enclose_the_turned_outline(degrees):
    """Against the corners turned as CVAT's RotatedBoxesToPolygons turns them."""
    x0, y0, x1, y1 = 10.0, 20.0, 50.0, 30.0
    cx, cy, a = (x0 + x1) / 2, (y0 + y1) / 2, math.radians(degrees)
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    turned = [
        (cx + math.cos(a) * (x - cx) - math.sin(a) * (y - cy),
         cy + math.sin(a) * (x - cx) + math.cos(a) * (y - cy))
        for x, y in corners
    ]  # fmt: skip
    xs, ys = zip(*turned, strict=True)
    expected = [min(xs), min(ys), max(xs), max(ys)]
    assert np.allclose(rotated_box_extent([x0, y0, x1, y1], degrees), expected)
    t = np.linspace(0, 2 * math.pi, 20001)
    ex, ey = 40 * np.cos(t), 10 * np.sin(t)
    px = 100 + math.cos(a) * ex - math.sin(a) * ey
    py = 50 + math.sin(a) * ex + math.cos(a) * ey
    outline = [px.min(), py.min(), px.max(), py.max()]
    assert np.allclose(ellipse_extent(100, 50, 40, 10, degrees), outline, atol=1e-3)


def plain_coco():
    """A COCO instances file not written by CVAT: ids from 0 with gaps, a crowd region."""
    return {
        "info": {"description": "field survey"}, "licenses": [],
        "images": [{"id": 0, "file_name": "a.jpg", "width": 100, "height": 80},
                   {"id": 7, "file_name": "b.jpg", "width": 100, "height": 80},
                   {"id": 3, "file_name": "c.jpg", "width": 100, "height": 80}],
        "categories": [{"id": 4, "name": "weed", "supercategory": "plant"}],
        "annotations": [
            {"id": 1, "image_id": 0, "category_id": 4, "bbox": [1, 2, 10, 20], "area": 200,
             "iscrowd": 0, "segmentation": [[1, 2, 11, 2, 11, 22]]},
            {"id": 2, "image_id": 7, "category_id": 4, "bbox": [5, 5, 30, 30], "area": 900,
             "iscrowd": 1, "segmentation": {"counts": [0, 900], "size": [80, 100]}},
            {"id": 3, "image_id": 3, "category_id": 4, "bbox": [50, 40, 5, 5], "area": 25,
             "iscrowd": 0, "segmentation": []},
        ],
    }  # fmt: skip


def test_plain_coco_with_image_id_0_numbers_frames_by_id_order(tmp_path):
    folder = tmp_path / "survey"
    (folder / "images").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (folder / "images" / name).touch()
    (folder / "annotations.json").write_text(json.dumps(plain_coco()))
    table, labels, skipped = build_table(tmp_path, [], [], "error")
    frames = table.drop_duplicates("frame")[["frame", "image"]].values.tolist()
    assert frames == [[0, "survey/images/a.jpg"], [1, "survey/images/c.jpg"],
                      [2, "survey/images/b.jpg"]]  # fmt: skip
    assert boxes_of(table) == [
        (0, "weed", [1.0, 2.0, 11.0, 22.0]),
        (1, "weed", [50.0, 40.0, 55.0, 45.0]),
    ]
    assert skipped == [(str(folder / "annotations.json"),
                        "task 'survey', annotation 1: 'weed' is a crowd region (iscrowd 1), "
                        "not one object's box (not imported)")]  # fmt: skip
    assert table.loc[table["frame"] == 2, "label"].isna().all()


def column_major_counts(mask):
    """COCO's uncompressed RLE counts of a mask: runs over its columns, unset pixels first."""
    flat = mask.flatten(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    return [0, *runs] if flat[0] else runs


def cvat_coco_export():
    """Frames 0 and 1 of the project as CVAT's COCO 1.0 export (datumaro's coco_instances)
    writes them: images numbered from 1, categories from 1, a rotated box as its unrotated
    bbox with `rotation` in the attributes, a polygon, and a mask as a crowd RLE."""
    mask = np.zeros((1200, 1600), dtype=np.uint8)
    mask[20:22, 10:13] = 1
    image = {"license": 0, "flickr_url": "", "coco_url": "", "date_captured": 0}
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "",
                 "version": "", "year": ""},
        "categories": [{"id": i + 1, "name": n, "supercategory": ""} for i, n in
                       enumerate(LABELS)],
        "images": [{"id": 1, "width": 1600, "height": 1200, "file_name": IMAGES[0]} | image,
                   {"id": 2, "width": 1600, "height": 1200, "file_name": IMAGES[1]} | image],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 800.0,
             "bbox": [100.0, 200.0, 40.0, 20.0], "iscrowd": 0,
             "attributes": {"growth": "late", "occluded": True, "rotation": 90.0}},
            {"id": 2, "image_id": 1, "category_id": 2,
             "segmentation": [[300.0, 300.0, 340.5, 310.0, 320.0, 350.25]], "area": 1124.875,
             "bbox": [300.0, 300.0, 40.5, 50.25], "iscrowd": 0, "attributes": {"occluded": False}},
            {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 1, "area": 6.0,
             "segmentation": {"counts": column_major_counts(mask), "size": [1200, 1600]},
             "bbox": [10.0, 20.0, 3.0, 2.0], "attributes": {"occluded": False}},
        ],
    }  # fmt: skip


def test_cvat_coco_export_turns_rotated_boxes_and_records_masks(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(cvat_coco_export()))
    skipped = []
    table = pd.DataFrame(read_coco(path, PROJECT, "error", skipped), columns=COLUMNS)
    assert boxes_of(table) == EXPECTED[:2]  # frame 1's mask is CVAT's crowd region
    first = json.loads(table["attributes"].iloc[0])
    assert first["rotation"] == 90 and first["growth"] == "late" and first["occluded"]
    crowd = "'thistle' is a crowd region (iscrowd 1), not one object's box (not imported)"
    assert skipped == [(str(path), f"task {PROJECT!r}, annotation 2: {crowd}")]
    assert table.loc[table["frame"] == 1, "label"].isna().all()


def test_coco_results_list_and_unknown_category_are_refused(tmp_path):
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps([{"image_id": 0, "category_id": 4, "bbox": [1, 2, 3, 4],
                                 "score": 0.9}]))  # fmt: skip
    with pytest.raises(BadInputError, match="a COCO results list"):
        read_coco(path, "survey")
    document = plain_coco()
    document["annotations"][0]["category_id"] = 9
    path.write_text(json.dumps(document))
    with pytest.raises(BadInputError, match="annotation 0: annotation refers to category_id 9"):
        read_coco(path, "survey")
    skipped = []
    rows = read_coco(path, "survey", "skip", skipped)
    assert [reason for _, reason in skipped][0].endswith("category_id 9, not in categories")
    assert sum(row["label"] is not None for row in rows) == 1
