"""Auto-annotation outputs: CVAT 1.1 XML, COCO JSON, the review list and the merged table."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd
import torch
from torchvision.ops import box_iou

from visionflow.data.cvat.shapes import ROTATION, SHAPE_KEY
from visionflow.io import BadInputError, atomic_directory, atomic_path, write_json, write_table

FRAME = ["task", "frame"]
BOX = ["xmin", "ymin", "xmax", "ymax"]
CORNERS = {"xmin": "xtl", "ymin": "ytl", "xmax": "xbr", "ymax": "ybr"}  # CVAT's names
FRAME_INFO = [*FRAME, "image", "width", "height"]
ANNOTATION_COLUMNS = [*FRAME_INFO, "label", *BOX, "attributes"]
REVIEW_COLUMNS = [*FRAME, "image", "label", "score", *BOX]
# XML attributes of a shape element, not <attribute> children
SHAPE_FLAGS = ("occluded", "z_order", "source", "group_id")
RESERVED = {"merged", "review.csv"}  # names of the export's own entries in out_dir


def _check_tasks(boxes: pd.DataFrame, task: str) -> None:
    others = set(boxes["task"]) - {task}
    if others:
        raise ValueError(f"boxes of task {task!r} include rows of other tasks {sorted(others)}")


def _check_labels(boxes: pd.DataFrame, labels: Sequence[str]) -> None:
    unknown = set(boxes["label"].dropna()) - set(labels)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not among the classes {list(labels)}")


def _image_name(image: str, task: str) -> str:
    """The frame's name inside its task (the table keeps it under '<task>/images/')."""
    prefix = f"{task}/images/"
    return image[len(prefix) :] if image.startswith(prefix) else image


def _score(row: pd.Series) -> float | None:
    score = row.get("score")
    return None if score is None or math.isnan(score) else float(score)


def _flag(value: object) -> str:
    return "1" if str(value).lower() in {"1", "true"} else "0"


def _geometry(element: ET.Element, row: pd.Series, shape: dict | None) -> None:
    """Set the shape's geometry: the kept one of the file it came from, else the row's box."""
    if shape is None:
        for column, name in CORNERS.items():
            element.set(name, f"{row[column]:.2f}")
        return
    for name, value in shape.items():
        if name not in ("type", "elements"):
            element.set(name, str(value))
    for part in shape.get("elements", []):
        point = ET.SubElement(element, "points")
        for name, value in part.items():
            if name != "attributes":
                point.set(name, str(value))
        for name, value in part.get("attributes", {}).items():
            ET.SubElement(point, "attribute", name=name).text = str(value)


def _shape_element(image: ET.Element, row: pd.Series) -> None:
    """Append one shape (and its <attribute> children) for a labelled table row.

    A row read from a shape other than an unrotated box is written as that shape again.
    """
    attributes = json.loads(row["attributes"])
    score = _score(row)
    if score is not None:
        attributes.setdefault("score", score)
    shape, rotation = attributes.pop(SHAPE_KEY, None), attributes.pop(ROTATION, None)
    if rotation and shape is None:
        raise ValueError(f"frame {row['frame']}: a rotation without the unrotated box")
    tag = "box" if shape is None else shape["type"]
    source = attributes.get("source", "auto" if "score" in attributes else "manual")
    element = ET.SubElement(image, tag, label=str(row["label"]), source=str(source))
    if tag != "skeleton":
        element.set("occluded", _flag(attributes.get("occluded", 0)))
    _geometry(element, row, shape)
    if rotation:
        element.set("rotation", f"{rotation:.2f}")
    element.set("z_order", str(attributes.get("z_order", 0)))
    if attributes.get("group_id"):
        element.set("group_id", str(attributes["group_id"]))
    for name, value in attributes.items():
        if name not in SHAPE_FLAGS:
            text = f"{value:.4f}" if name == "score" else str(value)
            ET.SubElement(element, "attribute", name=name).text = text


def write_cvat_xml(path: str | Path, boxes: pd.DataFrame, labels: Sequence[str], task: str) -> None:
    """Write one task's boxes (annotation-table rows, optional `score`) as CVAT for images 1.1.

    Every frame in `boxes` becomes an <image>; its background row makes an empty one.
    """
    _check_tasks(boxes, task)
    _check_labels(boxes, labels)
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(ET.SubElement(root, "meta"), "task")
    ET.SubElement(meta, "name").text = task
    ET.SubElement(meta, "size").text = str(boxes["frame"].nunique())
    label_list = ET.SubElement(meta, "labels")
    for name in labels:
        label = ET.SubElement(label_list, "label")
        ET.SubElement(label, "name").text = name
        ET.SubElement(label, "attributes")
    for frame, rows in boxes.sort_values("frame", kind="stable").groupby("frame", sort=False):
        first = rows.iloc[0]
        image = ET.SubElement(root, "image", id=str(int(frame)))
        image.set("name", _image_name(first["image"], task))
        image.set("width", str(int(first["width"])))
        image.set("height", str(int(first["height"])))
        for _, row in rows[rows["label"].notna()].iterrows():
            _shape_element(image, row)
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)


def write_coco(path: str | Path, boxes: pd.DataFrame, labels: Sequence[str]) -> None:
    """Write boxes (annotation-table rows, optional `score`) as COCO instances JSON.

    Category ids are 1..K in `labels` order; image ids are frame + 1; bbox is [x, y, w, h].
    As CVAT writes them, a rotated box is its unrotated bbox with `rotation` in the
    attributes; other shapes are written as their boxes.
    """
    _check_labels(boxes, labels)
    ids = {name: index + 1 for index, name in enumerate(labels)}
    frames = boxes.drop_duplicates(FRAME).sort_values(FRAME, kind="stable")
    images = [
        {
            "id": int(row.frame) + 1,
            "file_name": _image_name(row.image, row.task),
            "width": int(row.width),
            "height": int(row.height),
        }
        for row in frames.itertuples()
    ]
    annotations = []
    for _, row in boxes[boxes["label"].notna()].iterrows():
        attributes = json.loads(row["attributes"])
        x0, y0, x1, y1 = (float(row[k]) for k in BOX)
        shape = attributes.pop(SHAPE_KEY, None)
        if shape is not None and shape["type"] == "box":
            x0, y0, x1, y1 = (float(shape[k]) for k in CORNERS.values())
        elif shape is not None:
            attributes.pop(ROTATION, None)
        annotation = {
            "id": len(annotations) + 1,
            "image_id": int(row["frame"]) + 1,
            "category_id": ids[row["label"]],
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": (x1 - x0) * (y1 - y0),
            "iscrowd": 0,
            "segmentation": [],
            "attributes": attributes,
        }
        score = _score(row)
        if score is not None:
            annotation["score"] = score
        annotations.append(annotation)
    categories = [{"id": ids[name], "name": name, "supercategory": ""} for name in labels]
    coco = {"info": {}, "licenses": [], "images": images, "annotations": annotations}
    write_json(path, coco | {"categories": categories})


def _frame_info(frames: pd.DataFrame) -> pd.DataFrame:
    return frames[FRAME_INFO].drop_duplicates(FRAME)


def _on_known_frames(table: pd.DataFrame, info: pd.DataFrame, what: str) -> pd.DataFrame:
    """`table` joined to the frame info; a row on a frame the annotation table lacks is an error."""
    joined = table.drop(columns=["image", "width", "height"], errors="ignore").merge(
        info, on=FRAME, how="left", validate="many_to_one"
    )
    missing = joined["image"].isna()
    if missing.any():
        task, frame = joined.loc[missing, FRAME].iloc[0]
        raise ValueError(
            f"{int(missing.sum())} {what} are on frames missing from the annotation table, "
            f"e.g. task {task!r} frame {frame}"
        )
    return joined


def detections_to_boxes(
    predictions: pd.DataFrame, frames: pd.DataFrame, threshold: float
) -> pd.DataFrame:
    """Detections with score >= `threshold` as annotation-table rows with a `score` column.

    Every frame of `frames` (an annotation table) appears; one without detections as a
    background row.
    """
    info = _frame_info(frames)
    kept = predictions[predictions["score"] >= threshold]
    kept = kept.sort_values("score", ascending=False, kind="stable")
    detected = _on_known_frames(kept, info, "detections").assign(attributes="{}")
    seen = pd.MultiIndex.from_frame(detected[FRAME])
    empty = info[~pd.MultiIndex.from_frame(info[FRAME]).isin(seen)]
    background = empty.assign(
        label=None, attributes="{}", score=np.nan, **dict.fromkeys(BOX, np.nan)
    )
    table = pd.concat([detected, background], ignore_index=True)
    table = table.sort_values(FRAME, kind="stable", ignore_index=True)
    return table[[*ANNOTATION_COLUMNS, "score"]]


def unmatched_detections(
    predictions: pd.DataFrame, truth: pd.DataFrame, iou: float, threshold: float
) -> pd.DataFrame:
    """Detections with score >= `threshold` that no truth box (any label) overlaps at IoU >= `iou`.

    These are the candidate missing annotations to review; rows as in `detections_to_boxes`.
    """
    boxes = detections_to_boxes(predictions, truth, threshold)
    boxes = boxes[boxes["label"].notna()].reset_index(drop=True)
    gt = truth[truth["label"].notna()]
    gt_groups = gt.groupby(FRAME, sort=False).indices
    gt_boxes = torch.as_tensor(gt[BOX].to_numpy(np.float64, copy=True))
    det_boxes = torch.as_tensor(boxes[BOX].to_numpy(np.float64, copy=True))
    keep = np.ones(len(boxes), dtype=bool)
    for key, rows in boxes.groupby(FRAME, sort=False).indices.items():
        gt_rows = gt_groups.get(key)
        if gt_rows is not None:
            overlap = box_iou(det_boxes[rows], gt_boxes[gt_rows]).amax(dim=1).numpy()
            keep[rows] = overlap < iou
    return boxes[keep].reset_index(drop=True)


def merge_annotations(truth: pd.DataFrame, unmatched: pd.DataFrame) -> pd.DataFrame:
    """The annotation table with the reviewed detections (review-list rows) added as auto boxes.

    A background frame that gains boxes loses its background row.
    """
    reviewed = unmatched[[*FRAME, "label", "score", *BOX]]
    added = _on_known_frames(reviewed, _frame_info(truth), "reviewed boxes")
    added["attributes"] = [
        json.dumps({"score": float(score), "source": "auto"}, sort_keys=True)
        for score in added["score"]
    ]
    merged = pd.concat([truth[ANNOTATION_COLUMNS], added[ANNOTATION_COLUMNS]], ignore_index=True)
    labelled = pd.MultiIndex.from_frame(merged.loc[merged["label"].notna(), FRAME])
    stale = merged["label"].isna() & pd.MultiIndex.from_frame(merged[FRAME]).isin(labelled)
    return merged[~stale].sort_values(FRAME, kind="stable", ignore_index=True)


def _check_task_name(out_dir: Path, task: str) -> None:
    """A task names a folder inside `out_dir`; a name that could leave it is bad input."""
    single = all(len(path.parts) == 1 for path in (PurePosixPath(task), PureWindowsPath(task)))
    if not single or task in {"", ".", "..", *RESERVED}:
        raise BadInputError(out_dir, f"task name {task!r} cannot be a folder inside the export")


def export_auto_annotations(
    predictions: pd.DataFrame,
    truth: pd.DataFrame,
    labels: Sequence[str],
    out_dir: str | Path,
    threshold: float,
    iou: float,
) -> None:
    """Write per task the auto annotations (CVAT XML, COCO), the review list, the merged XML.

    Layout: <task>/annotations.xml, <task>/instances.json, review.csv,
    merged/<task>/annotations.xml; the folder appears complete or not at all.
    """
    out_dir = Path(out_dir)
    tasks = list(truth["task"].unique())
    for task in tasks:
        _check_task_name(out_dir, task)
    auto = detections_to_boxes(predictions, truth, threshold)
    unmatched = unmatched_detections(predictions, truth, iou, threshold)
    merged = merge_annotations(truth, unmatched)
    with atomic_directory(out_dir) as staging:
        for task in tasks:
            rows = auto[auto["task"] == task]
            write_cvat_xml(staging / task / "annotations.xml", rows, labels, task)
            write_coco(staging / task / "instances.json", rows, labels)
            merged_rows = merged[merged["task"] == task]
            write_cvat_xml(staging / "merged" / task / "annotations.xml", merged_rows, labels, task)
        write_table(staging / "review.csv", unmatched[REVIEW_COLUMNS])
