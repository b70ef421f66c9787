"""Auto-annotation outputs: CVAT 1.1 XML and COCO writers, review list, merge."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from helpers import prediction_table
from pycocotools.coco import COCO

from visionflow.data.cvat.coco import read_coco
from visionflow.data.cvat.cvat_xml import read_cvat_xml
from visionflow.data.cvat.export import (
    REVIEW_COLUMNS,
    detections_to_boxes,
    export_auto_annotations,
    merge_annotations,
    unmatched_detections,
    write_coco,
    write_cvat_xml,
)
from visionflow.data.cvat.rows import COLUMNS
from visionflow.io import BadInputError

TASK = "FieldData 20200520145736 1L GH020068"
LABELS = ["thistle", "dock"]
A = [10.0, 10.0, 30.0, 30.0]
B = [50.0, 40.0, 80.0, 60.0]
HALF_A = [10.0, 10.0, 30.0, 20.0]  # IoU with A exactly 0.5
FAR = [100.0, 100.0, 120.0, 110.0]


def annotation_table(rows):
    """Annotation-table rows from (task, frame, label, box or None, attributes)."""
    records = []
    for task, frame, label, box, attributes in rows:
        corners = box or [np.nan] * 4
        records.append(
            {"task": task, "frame": frame, "image": f"{task}/images/f{frame:03d}.jpg",
             "width": 160, "height": 120, "label": label,
             **dict(zip(["xmin", "ymin", "xmax", "ymax"], corners, strict=True)),
             "attributes": json.dumps(attributes, sort_keys=True)}
        )  # fmt: skip
    types = {"frame": "int64", "width": "int64", "height": "int64"}
    return pd.DataFrame(records, columns=COLUMNS).astype(types)


GT_ATTRIBUTES = {"occluded": False, "z_order": 0, "growth": "early"}
TRUTH = annotation_table(
    [
        (TASK, 0, "thistle", A, GT_ATTRIBUTES),
        (TASK, 1, None, None, {}),
        (TASK, 2, "dock", B, {"occluded": True, "z_order": 1}),
    ]
)
PREDICTIONS = prediction_table(
    [
        (TASK, 0, "dock", 0.9, HALF_A),  # overlaps the thistle at IoU 0.5: not missing
        (TASK, 0, "thistle", 0.8, FAR),  # on no box: missing
        (TASK, 0, "thistle", 0.3, B),  # below the threshold
        (TASK, 1, "dock", 0.95, B),  # on a background frame: missing
        (TASK, 2, "dock", 0.7, B),  # found
    ]
)


def box_tuples(table):
    rows = table[table["label"].notna()]
    return [
        (r.frame, r.label, round(r.xmin, 2), round(r.ymin, 2), round(r.xmax, 2), round(r.ymax, 2))
        for r in rows.itertuples()
    ]


def test_detections_become_boxes_on_every_frame():
    boxes = detections_to_boxes(PREDICTIONS, TRUTH, threshold=0.5)
    assert list(boxes.columns) == [*COLUMNS, "score"]
    assert boxes["frame"].tolist() == [0, 0, 1, 2]
    assert boxes["score"].tolist() == [0.9, 0.8, 0.95, 0.7]
    assert (boxes["image"] == [f"{TASK}/images/f{f:03d}.jpg" for f in (0, 0, 1, 2)]).all()
    empty = detections_to_boxes(PREDICTIONS, TRUTH, threshold=0.99)
    assert empty["label"].isna().all() and empty["frame"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="frame 9"):
        detections_to_boxes(prediction_table([(TASK, 9, "dock", 0.9, A)]), TRUTH, 0.5)


def test_cvat_xml_has_the_cvat_1_1_structure(tmp_path):
    boxes = detections_to_boxes(PREDICTIONS, TRUTH, threshold=0.5)
    path = tmp_path / "annotations.xml"
    write_cvat_xml(path, boxes, LABELS, TASK)
    assert path.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.parse(path).getroot()
    assert root.tag == "annotations"
    assert [child.tag for child in root] == ["version", "meta", "image", "image", "image"]
    assert root.findtext("version") == "1.1"
    assert root.findtext("meta/task/name") == TASK
    labels = root.findall("meta/task/labels/label")
    assert [label.findtext("name") for label in labels] == LABELS
    assert all(label.find("attributes") is not None for label in labels)
    images = root.findall("image")
    assert [image.attrib for image in images] == [
        {"id": str(f), "name": f"f{f:03d}.jpg", "width": "160", "height": "120"} for f in (0, 1, 2)
    ]
    first = images[0].findall("box")[0]
    assert first.attrib == {
        "label": "dock", "source": "auto", "occluded": "0",
        "xtl": "10.00", "ytl": "10.00", "xbr": "30.00", "ybr": "20.00", "z_order": "0",
    }  # fmt: skip
    assert [(a.get("name"), a.text) for a in first.findall("attribute")] == [("score", "0.9000")]
    assert [len(image.findall("box")) for image in images] == [2, 1, 1]


def test_xml_of_the_wrong_task_or_an_unknown_label_is_refused(tmp_path):
    with pytest.raises(ValueError, match="other tasks"):
        write_cvat_xml(tmp_path / "a.xml", TRUTH, LABELS, "another task")
    with pytest.raises(ValueError, match="not among the classes"):
        write_cvat_xml(tmp_path / "a.xml", TRUTH, ["thistle"], TASK)


def test_xml_read_back_gives_the_same_table(tmp_path):
    merged = merge_annotations(TRUTH, unmatched_detections(PREDICTIONS, TRUTH, 0.5, 0.5))
    write_cvat_xml(tmp_path / "merged.xml", merged, LABELS, TASK)
    back = pd.DataFrame(read_cvat_xml(tmp_path / "merged.xml", TASK), columns=COLUMNS)
    frame_columns = ["task", "frame", "image", "width", "height", "label"]
    pd.testing.assert_frame_equal(
        back[frame_columns], merged[frame_columns], check_dtype=False, check_index_type=False
    )
    assert box_tuples(back) == box_tuples(merged)
    attributes = [json.loads(text) for text in back["attributes"]]
    assert attributes[0] == GT_ATTRIBUTES | {"source": "manual"}  # ground truth keeps its own
    assert attributes[1] == {"occluded": False, "z_order": 0, "score": "0.8000", "source": "auto"}
    assert attributes[3] == {"occluded": True, "z_order": 1, "source": "manual"}


def test_coco_json_loads_in_pycocotools_and_reads_back(tmp_path):
    boxes = detections_to_boxes(PREDICTIONS, TRUTH, threshold=0.5)
    path = tmp_path / "instances.json"
    write_coco(path, boxes, LABELS)
    coco = COCO(str(path))
    assert [(c["id"], c["name"]) for c in coco.loadCats(coco.getCatIds())] == [
        (1, "thistle"),
        (2, "dock"),
    ]
    assert sorted(coco.getImgIds()) == [1, 2, 3]
    first = coco.loadAnns(coco.getAnnIds(imgIds=[1]))[0]
    assert first["bbox"] == [10.0, 10.0, 20.0, 10.0]
    assert first["category_id"] == 2 and first["score"] == 0.9
    back = pd.DataFrame(read_coco(path, TASK), columns=COLUMNS)
    assert box_tuples(back) == box_tuples(boxes)
    assert back["image"].tolist() == boxes["image"].tolist()


def test_review_list_holds_detections_no_box_covers():
    review = unmatched_detections(PREDICTIONS, TRUTH, iou=0.5, threshold=0.5)
    assert box_tuples(review) == [(0, "thistle", *FAR), (1, "dock", *B)]
    assert review["score"].tolist() == [0.8, 0.95]
    # just above the half-overlap, the dock on the thistle is missing too
    looser = unmatched_detections(PREDICTIONS, TRUTH, iou=0.51, threshold=0.5)
    assert box_tuples(looser)[0] == (0, "dock", *HALF_A)
    assert len(looser) == 3


def test_merge_adds_reviewed_boxes_and_drops_the_background_row():
    review = unmatched_detections(PREDICTIONS, TRUTH, iou=0.5, threshold=0.5)
    merged = merge_annotations(TRUTH, review[REVIEW_COLUMNS])  # review.csv's columns suffice
    assert list(merged.columns) == COLUMNS
    assert box_tuples(merged) == [
        (0, "thistle", *A),
        (0, "thistle", *FAR),
        (1, "dock", *B),
        (2, "dock", *B),
    ]
    assert merged["label"].notna().all()  # frame 1 lost its background row
    assert json.loads(merged["attributes"][1]) == {"score": 0.8, "source": "auto"}
    assert json.loads(merged["attributes"][0]) == GT_ATTRIBUTES


def test_export_writes_every_file_per_task(tmp_path):
    other = "FieldData 20200515101008 3R GH070071"
    truth = pd.concat([TRUTH, annotation_table([(other, 0, None, None, {})])], ignore_index=True)
    out = tmp_path / "auto"
    export_auto_annotations(PREDICTIONS, truth, LABELS, out, threshold=0.5, iou=0.5)
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted(
        [f"{t}/{name}" for t in (TASK, other) for name in ("annotations.xml", "instances.json")]
        + [f"merged/{t}/annotations.xml" for t in (TASK, other)]
        + ["review.csv"]
    )
    review = pd.read_csv(out / "review.csv")
    assert list(review.columns) == REVIEW_COLUMNS
    assert review["frame"].tolist() == [0, 1]
    merged = ET.parse(out / "merged" / TASK / "annotations.xml").getroot()
    assert [len(image.findall("box")) for image in merged.findall("image")] == [2, 1, 1]
    auto = ET.parse(out / TASK / "annotations.xml").getroot()
    assert [len(image.findall("box")) for image in auto.findall("image")] == [2, 1, 1]
    empty = ET.parse(out / other / "annotations.xml").getroot().findall("image")
    assert len(empty) == 1 and not list(empty[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["auto"]  # no staging left behind


@pytest.mark.parametrize("task", ["..", "a/b", "/etc", "a\\b", "merged", "review.csv", ""])
def test_task_names_that_leave_the_export_are_rejected(tmp_path, task):
    truth = annotation_table([(task, 0, None, None, {})])
    with pytest.raises(BadInputError, match="cannot be a folder inside the export"):
        export_auto_annotations(PREDICTIONS.iloc[:0], truth, LABELS, tmp_path / "out", 0.5, 0.5)
    assert not (tmp_path / "out").exists()
