"""CVAT XML / COCO / MongoDB annotations into the normalised table: parsing, checks, outputs."""

import json

import mongomock
import numpy as np
import pandas as pd
import pytest

from visionflow.data.cvat.coco import read_coco
from visionflow.data.cvat.cvat_xml import read_cvat_xml
from visionflow.data.cvat.mongo import read_mongo
from visionflow.data.cvat.rows import COLUMNS
from visionflow.data.cvat.table import build_table, prepare
from visionflow.io import BadInputError

TASK = "FieldData 20200520145736 1L GH020068"
OTHER = "FieldData 20200515101008 3R GH070071"
IMAGES = ("a.jpg", "b.jpg", "sub/c.jpg")
XML = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task><id>7</id><name>T</name><size>3</size>
      <labels><label><name>weed</name></label><label><name>crop</name></label></labels>
    </task>
  </meta>
  <image id="0" name="a.jpg" width="100" height="80">
    <box label="weed" occluded="0" xtl="10.5" ytl="20" xbr="30" ybr="40.25" z_order="1">
      <attribute name="species">thistle</attribute>
    </box>
    <box label="crop" occluded="1" xtl="50" ytl="5" xbr="99" ybr="79" z_order="0"></box>
  </image>
  <image id="1" name="b.jpg" width="100" height="80"></image>
  <image id="2" name="sub/c.jpg" width="100" height="80">
    <polygon label="weed" occluded="0" points="1,2;11,4;6,12" z_order="0"></polygon>
  </image>
</annotations>
"""
BOXES = [  # (frame, label, xmin, ymin, xmax, ymax, attributes) of XML
    (0, "weed", 10.5, 20.0, 30.0, 40.25, {"occluded": False, "species": "thistle", "z_order": 1}),
    (0, "crop", 50.0, 5.0, 99.0, 79.0, {"occluded": True, "z_order": 0}),
    (
        2,
        "weed",
        1.0,
        2.0,
        11.0,
        12.0,
        {
            "occluded": False,
            "z_order": 0,
            "cvat_shape": {"type": "polygon", "points": "1,2;11,4;6,12"},
        },
    ),
]


def write_task(root, task=TASK, xml=XML, images=IMAGES):
    """A task folder with `xml` as annotations.xml and empty placeholder frames."""
    folder = root / task
    for name in images:
        (folder / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "images" / name).touch()
    (folder / "annotations.xml").write_text(xml)
    return folder


def coco_document():
    """The boxes of XML as CVAT's COCO export writes them (image ids from 1)."""
    categories = [{"id": 1, "name": "weed"}, {"id": 2, "name": "crop"}]
    images = [
        {"id": i + 1, "file_name": name, "width": 100, "height": 80}
        for i, name in enumerate(IMAGES)
    ]
    annotations = [
        {"id": n + 1, "image_id": frame + 1, "category_id": 1 if label == "weed" else 2,
         "bbox": [x0, y0, x1 - x0, y1 - y0], "attributes": attributes}
        for n, (frame, label, x0, y0, x1, y1, attributes) in enumerate(BOXES)
    ]  # fmt: skip
    return {"images": images, "annotations": annotations, "categories": categories}


def test_read_cvat_xml_rows(tmp_path):
    folder = write_task(tmp_path)
    rows = read_cvat_xml(folder / "annotations.xml", TASK)
    assert len(rows) == 4
    boxes = [r for r in rows if r["label"] is not None]
    got = [(r["frame"], r["label"], r["xmin"], r["ymin"], r["xmax"], r["ymax"]) for r in boxes]
    assert got == [b[:6] for b in BOXES]
    assert [json.loads(r["attributes"]) for r in boxes] == [b[6] for b in BOXES]
    background = [r for r in rows if r["label"] is None]
    assert [(r["frame"], r["image"], r["attributes"]) for r in background] == [
        (1, f"{TASK}/images/b.jpg", "{}")
    ]
    assert np.isnan(background[0]["xmin"])
    assert rows[-1]["image"] == f"{TASK}/images/sub/c.jpg"


def test_table_columns_dtypes_and_order(tmp_path):
    write_task(tmp_path)
    table, labels, skipped = build_table(tmp_path, [], [], "error")
    assert list(table.columns) == COLUMNS
    assert {c: str(table[c].dtype) for c in ("frame", "width", "height")} == dict.fromkeys(
        ("frame", "width", "height"), "int64"
    )
    assert all(table[c].dtype == np.float64 for c in ("xmin", "ymin", "xmax", "ymax"))
    assert all(pd.api.types.is_string_dtype(table[c]) for c in ("task", "image", "label"))
    assert table["frame"].tolist() == [0, 0, 1, 2]
    assert table["label"].isna().tolist() == [False, False, True, False]
    assert labels == ["crop", "weed"] and skipped == []
    configured, labels, _ = build_table(tmp_path, [], ["weed", "crop"], "error")
    assert labels == ["weed", "crop"]
    pd.testing.assert_frame_equal(configured, table)


def test_xml_and_coco_of_the_same_boxes_give_equal_tables(tmp_path):
    write_task(tmp_path / "xml")
    coco = write_task(tmp_path / "coco")
    (coco / "annotations.xml").unlink()
    (coco / "annotations.json").write_text(json.dumps(coco_document()))
    from_xml = build_table(tmp_path / "xml", [TASK], [], "error")[0]
    from_coco = build_table(tmp_path / "coco", [TASK], [], "error")[0]
    pd.testing.assert_frame_equal(from_xml, from_coco)
    assert len(read_coco(coco / "annotations.json", TASK)) == 4


def test_frames_come_out_sorted(tmp_path):
    shuffled = XML.replace('<image id="0"', '<image id="9"')
    write_task(tmp_path, xml=shuffled)
    table = build_table(tmp_path, [], [], "error")[0]
    assert table["frame"].tolist() == [1, 2, 9, 9]
    assert table["label"].tolist()[2:] == ["weed", "crop"]  # box order kept within the frame


BAD = [  # (case, old, new, frame, words in the reason, frames and boxes left under skip)
    ("missing key", 'xtl="10.5" ', "", 0, "lacks xtl", 3, 2),
    ("zero size", 'xbr="30"', 'xbr="10.5"', 0, "zero or negative size", 3, 2),
    ("negative size", 'xbr="30"', 'xbr="5"', 0, "zero or negative size", 3, 2),
    ("far outside", 'xtl="50" ytl="5" xbr="99"', 'xtl="150" ytl="5" xbr="199"', 0,
     "sticks out of the 100 x 80 image", 3, 2),
    ("NaN", 'xtl="10.5"', 'xtl="nan"', 0, "non-finite", 3, 2),
    ("huge", 'ybr="40.25"', 'ybr="1e300"', 0, "sticks out", 3, 2),
    ("not a number", 'ytl="20"', 'ytl="twenty"', 0, "are not all numbers", 3, 2),
    ("unknown label", '<box label="crop"', '<box label="stone"', 0,
     "'stone' is not one of the configured labels", 3, 2),
    ("traversal", 'name="b.jpg"', 'name="../x.jpg"', 1, "leaves the task's images folder", 2, 3),
    ("absolute", 'name="b.jpg"', 'name="/etc/passwd"', 1, "leaves the task's images", 2, 3),
    ("duplicate id", '<image id="2"', '<image id="1"', 1, "duplicate image id 1", 2, 2),
    ("missing width", 'name="b.jpg" width="100"', 'name="b.jpg"', 1, "image size None", 2, 3),
    ("polygon", 'points="1,2;11,4;6,12"', 'points="1,2;11"', 2, "<polygon> points", 3, 2),
]  # fmt: skip


@pytest.mark.parametrize(("case", "old", "new", "frame", "words", "frames", "boxes"), BAD)
def test_bad_input_names_task_and_frame_or_is_skipped(
    tmp_path, case, old, new, frame, words, frames, boxes
):
    assert XML.count(old) == 1, case
    folder = write_task(tmp_path, xml=XML.replace(old, new))
    (folder / "x.jpg").touch()  # what ../x.jpg points at: present, yet never used
    with pytest.raises(BadInputError) as error:
        build_table(tmp_path, [TASK], ["weed", "crop"], "error")
    assert error.value.path == str(folder / "annotations.xml")
    assert f"task {TASK!r}, frame {frame}" in error.value.problem
    assert words in error.value.problem
    table, _, skipped = build_table(tmp_path, [TASK], ["weed", "crop"], "skip")
    assert len(skipped) == 1 and words in skipped[0][1]
    assert table.drop_duplicates(["task", "frame"]).shape[0] == frames
    assert table["label"].notna().sum() == boxes
    assert not table["image"].str.contains(r"\.\.|passwd").any()


def test_missing_image_drops_the_frame(tmp_path):
    folder = write_task(tmp_path, images=("a.jpg", "sub/c.jpg"))
    with pytest.raises(BadInputError, match=f"task {TASK!r}, frame 1: image file does not exist"):
        build_table(tmp_path, [], [], "error")
    table, _, skipped = build_table(tmp_path, [], [], "skip")
    assert skipped == [
        (str(folder / "images" / "b.jpg"), f"task {TASK!r}, frame 1: image file does not exist")
    ]
    assert sorted(table["frame"].unique()) == [0, 2]


def test_boxes_sticking_out_by_one_pixel_are_clipped(tmp_path):
    xml = XML.replace('xtl="50"', 'xtl="-0.5"').replace('xbr="99" ybr="79"', 'xbr="101" ybr="80.7"')
    write_task(tmp_path, xml=xml)
    table = build_table(tmp_path, [], [], "error")[0]
    assert table.loc[1, ["xmin", "ymin", "xmax", "ymax"]].tolist() == [0.0, 5.0, 100.0, 80.0]
    outside = XML.replace('xtl="50" ytl="5" xbr="99"', 'xtl="100.2" ytl="5" xbr="100.9"')
    write_task(tmp_path, xml=outside)
    with pytest.raises(BadInputError, match="frame 0: box 'crop' .* lies outside the 100 x 80"):
        build_table(tmp_path, [], [], "error")


def test_a_frame_whose_boxes_are_all_rejected_stays_as_background(tmp_path):
    write_task(tmp_path, xml=XML.replace('points="1,2;11,4;6,12"', 'points="1,2;1,4;1,12"'))
    table, _, skipped = build_table(tmp_path, [], [], "skip")
    assert len(skipped) == 1
    frame = table[table["frame"] == 2]
    assert len(frame) == 1 and frame["label"].isna().all()


def test_malformed_xml_names_the_line(tmp_path):
    lines = XML.splitlines()
    write_task(tmp_path, xml="\n".join(lines[:11]) + "\n  </image>\n</annotations>\n")  # <box> open
    write_task(tmp_path, task=OTHER)
    with pytest.raises(BadInputError, match=f"{TASK!r}: malformed XML at line 12, column 4"):
        build_table(tmp_path, [], [], "error")
    table, _, skipped = build_table(tmp_path, [], [], "skip")
    assert table["task"].unique().tolist() == [OTHER]
    assert len(skipped) == 1 and "malformed XML at line 12" in skipped[0][1]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("<annotations><version>1.0</version></annotations>", "expected CVAT for images 1.1"),
        ("<annotations><track id='0' label='weed'/></annotations>", "CVAT for video"),
        ("<dataset/>", "root is <dataset>, not <annotations>"),
    ],
)
def test_other_xml_formats_are_refused(tmp_path, text, words):
    folder = write_task(tmp_path, xml=text)
    with pytest.raises(BadInputError, match=words):
        read_cvat_xml(folder / "annotations.xml", TASK)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("categories"), "expected COCO lists"),
        (lambda d: d["annotations"][0].pop("bbox"), "annotation 0: annotation lacks bbox"),
        (lambda d: d["annotations"][1].update(bbox=[1, 2, 3]), "annotation 1: bbox [1, 2, 3]"),
        (lambda d: d["annotations"][1].update(category_id=9), "category_id 9, not in categories"),
        (lambda d: d["images"][1].update(id="two"), "image id 'two': image id 'two' is not an"),
        (lambda d: d["images"][1].update(file_name="../../x.jpg"), "frame 1: image name"),
    ],
)
def test_bad_coco_is_refused(tmp_path, change, words):
    document = coco_document()
    change(document)
    folder = write_task(tmp_path)
    (folder / "annotations.xml").unlink()
    (folder / "annotations.json").write_text(json.dumps(document))
    with pytest.raises(BadInputError, match=words.replace("[", r"\[")) as error:
        build_table(tmp_path, [], [], "error")
    assert TASK in str(error.value)
    (folder / "annotations.json").write_text('{"images": [')
    with pytest.raises(BadInputError, match="malformed JSON"):
        build_table(tmp_path, [], [], "error")


def test_task_selection(tmp_path):
    write_task(tmp_path)
    write_task(tmp_path, task=OTHER)
    (tmp_path / ".cache").mkdir()
    assert build_table(tmp_path, [], [], "error")[0]["task"].unique().tolist() == [OTHER, TASK]
    assert build_table(tmp_path, [TASK], [], "error")[0]["task"].unique().tolist() == [TASK]
    with pytest.raises(BadInputError, match="task 'FieldData 2099' has no folder"):
        build_table(tmp_path, [TASK, "FieldData 2099"], [], "skip")
    with pytest.raises(BadInputError, match="is not a single folder name"):
        build_table(tmp_path, ["../raw"], [], "error")
    (tmp_path / "empty task").mkdir()
    with pytest.raises(BadInputError, match="has neither annotations.xml nor annotations.json"):
        build_table(tmp_path, [], [], "error")


def test_prepare_writes_all_outputs_atomically(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "prepared"
    folder = write_task(raw, xml=XML.replace('<box label="crop"', '<box label="stone"'))
    table = prepare(raw, out, [TASK], ["weed", "crop"], "skip")
    assert sorted(p.name for p in out.iterdir()) == [
        "annotations.parquet", "info.json", "labels.json", "skipped.csv",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_parquet(out / "annotations.parquet"), table)
    assert json.loads((out / "labels.json").read_text()) == ["weed", "crop"]
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped["source"].tolist() == [str(folder / "annotations.xml")]
    info = json.loads((out / "info.json").read_text())
    assert info["tasks"] == [TASK] and info["mongo"] is None
    assert info["counts"] == {"frames": 3, "boxes": 2, "background_frames": 1, "skipped": 1,
                              "boxes_per_label": {"weed": 2, "crop": 0}}  # fmt: skip
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(BadInputError):
        prepare(raw, out, [TASK], ["weed", "crop"], "error")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def mongo_client():
    """obdb's MongoDB layout holding the boxes of XML for TASK and one box for OTHER."""
    client = mongomock.MongoClient()
    db = client["annotations"]
    frames = [{"name": name, "width": 100, "height": 80} for name in IMAGES]
    db.meta.insert_many([{"task_name": TASK, "frames": frames},
                         {"task_name": OTHER, "frames": frames[:1]}])  # fmt: skip
    polygon = [1, 2, 11, 4, 6, 12]
    db.annotation_data.insert_many([
        {"task_name": TASK, "img_path": "a.jpg", "object_class": "weed",
         "shape_types": "rectangle", "points": [10.5, 20, 30, 40.25]},
        {"task_name": TASK, "img_path": "a.jpg", "object_class": "crop",
         "shape_types": "rectangle", "points": ["50", "5", "99", "79"]},
        {"task_name": TASK, "img_path": "sub/c.jpg", "object_class": "weed",
         "shape_types": "polygon", "points": polygon},
        {"task_name": OTHER, "img_path": "a.jpg", "object_class": "weed",
         "shape_types": "rectangle", "points": [1, 1, 5, 5]},
    ])  # fmt: skip
    return client


def test_mongo_round_trip_matches_the_xml_table(tmp_path):
    write_task(tmp_path / "xml")
    write_task(tmp_path / "raw")
    write_task(tmp_path / "raw", task=OTHER, images=IMAGES[:1])
    client = mongo_client()
    mongo = {"uri": "mongodb://obdb:secret@db:27018", "client": client}
    from_mongo, labels, skipped = build_table(tmp_path / "raw", [TASK], [], "error", mongo=mongo)
    from_xml = build_table(tmp_path / "xml", [TASK], [], "error")[0]
    assert skipped == [] and labels == ["crop", "weed"]
    pd.testing.assert_frame_equal(from_mongo.drop(columns="attributes"),
                                  from_xml.drop(columns="attributes"))  # fmt: skip
    every = read_mongo("mongodb://db", "annotations", "annotation_data", [], client)
    assert sorted({row["task"] for row in every}) == [OTHER, TASK]
    with pytest.raises(BadInputError, match=r"task\(s\) \['FieldData 2099'\] not found") as error:
        build_table(tmp_path / "raw", ["FieldData 2099"], [], "error", mongo=mongo)
    assert "secret" not in str(error.value)
    prepare(tmp_path / "raw", tmp_path / "out", [], [], "error", mongo=mongo)
    info = json.loads((tmp_path / "out" / "info.json").read_text())
    assert info["mongo"]["uri"] == "mongodb://db:27018"
    assert info["tasks"] == [OTHER, TASK] and info["counts"]["boxes"] == 4


def test_mongo_bad_documents_are_rejected_or_skipped(tmp_path):
    write_task(tmp_path)
    client = mongo_client()
    shapes = client["annotations"]["annotation_data"]
    shapes.insert_one({"task_name": TASK, "img_path": "gone.jpg", "object_class": "weed",
                       "points": [1, 2, 3, 4]})  # fmt: skip
    shapes.insert_one({"task_name": TASK, "img_path": "b.jpg", "object_class": "weed",
                       "points": [1, 2, 3]})  # fmt: skip
    mongo = {"uri": "mongodb://db", "client": client}
    with pytest.raises(BadInputError, match="'gone.jpg'.*frame not in the task's meta"):
        build_table(tmp_path, [TASK], [], "error", mongo=mongo)
    table, _, skipped = build_table(tmp_path, [TASK], [], "skip", mongo=mongo)
    assert len(skipped) == 2
    assert skipped[0][1].endswith("('gone.jpg'): frame not in the task's meta")
    assert skipped[1][1].startswith(f"task {TASK!r}, frame 1: points [1, 2, 3] are neither")
    assert skipped[1][0] == "mongodb://db/annotations.annotation_data"
    assert table["label"].notna().sum() == 3


def test_mongo_settings_and_connection_errors(tmp_path):
    write_task(tmp_path)
    with pytest.raises(ValueError, match="mongo settings need a uri and only"):
        build_table(tmp_path, [], [], "error", mongo={"uri": "mongodb://db", "colection": "x"})
    with pytest.raises(BadInputError, match="not a usable MongoDB URI") as error:
        read_mongo("mongodb://obdb:secret@db:99999", "annotations", "annotation_data", [])
    assert error.value.path == "mongodb://db:99999/annotations.annotation_data"
    assert "secret" not in str(error.value)
