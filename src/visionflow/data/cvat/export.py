"""Auto-annotation outputs: CVAT 1.1 XML, COCO JSON, the review list, and upload to CVAT."""

from __future__ import annotations

import json
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

import cvat_sdk
import numpy as np
import pandas as pd
import torch
from torchvision.ops import box_iou

from visionflow.io import BadInputError, atomic_directory, atomic_path, write_json, write_table

FRAME = ["task", "frame"]
BOX = ["xmin", "ymin", "xmax", "ymax"]
CORNERS = {"xmin": "xtl", "ymin": "ytl", "xmax": "xbr", "ymax": "ybr"}  # CVAT's names
FRAME_INFO = [*FRAME, "image", "width", "height"]
ANNOTATION_COLUMNS = [*FRAME_INFO, "label", *BOX, "attributes"]
REVIEW_COLUMNS = [*FRAME, "image", "label", "score", *BOX]
BOX_FLAGS = ("occluded", "z_order", "source")  # XML attributes of <box>, not <attribute> children
RESERVED = {"merged", "review.csv"}  # names of the export's own entries in out_dir
CVAT_FORMAT = "CVAT 1.1"


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


def _box_element(image: ET.Element, row: pd.Series) -> None:
    """Append one <box> (and its <attribute> children) for a labelled table row."""
    attributes = json.loads(row["attributes"])
    score = _score(row)
    if score is not None:
        attributes.setdefault("score", score)
    source = attributes.get("source", "auto" if "score" in attributes else "manual")
    box = ET.SubElement(image, "box", label=str(row["label"]), source=str(source))
    box.set("occluded", _flag(attributes.get("occluded", 0)))
    for column, name in CORNERS.items():
        box.set(name, f"{row[column]:.2f}")
    box.set("z_order", str(attributes.get("z_order", 0)))
    for name, value in attributes.items():
        if name not in BOX_FLAGS:
            text = f"{value:.4f}" if name == "score" else str(value)
            ET.SubElement(box, "attribute", name=name).text = text


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
            _box_element(image, row)
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)


def write_coco(path: str | Path, boxes: pd.DataFrame, labels: Sequence[str]) -> None:
    """Write boxes (annotation-table rows, optional `score`) as COCO instances JSON.

    Category ids are 1..K in `labels` order; image ids are frame + 1; bbox is [x, y, w, h].
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
        width, height = row["xmax"] - row["xmin"], row["ymax"] - row["ymin"]
        annotation = {
            "id": len(annotations) + 1,
            "image_id": int(row["frame"]) + 1,
            "category_id": ids[row["label"]],
            "bbox": [float(row["xmin"]), float(row["ymin"]), float(width), float(height)],
            "area": float(width * height),
            "iscrowd": 0,
            "segmentation": [],
            "attributes": json.loads(row["attributes"]),
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


def _credentials(env: Mapping[str, str]) -> dict[str, object]:
    """make_client keyword arguments from CVAT_ACCESS_TOKEN, else CVAT_USERNAME/CVAT_PASSWORD."""
    if env.get("CVAT_ACCESS_TOKEN"):
        return {"access_token": env["CVAT_ACCESS_TOKEN"]}
    missing = [name for name in ("CVAT_USERNAME", "CVAT_PASSWORD") if not env.get(name)]
    if missing:
        raise BadInputError(
            "environment",
            f"{' and '.join(missing)} not set (CVAT credentials are read only from "
            "CVAT_USERNAME and CVAT_PASSWORD, or CVAT_ACCESS_TOKEN)",
        )
    return {"credentials": (env["CVAT_USERNAME"], env["CVAT_PASSWORD"])}


def upload_annotations(
    xml_by_task: Mapping[str, Path], url: str, env: Mapping[str, str] = os.environ
) -> None:
    """Import each CVAT 1.1 XML into the server task of the same name, via cvat-sdk.

    Every file and task is checked before the first import, so a bad name uploads nothing.
    """
    login = _credentials(env)
    for xml in xml_by_task.values():
        if not Path(xml).is_file():
            raise BadInputError(xml, "annotation file does not exist")
    with cvat_sdk.make_client(url, **login) as client:
        targets = {}
        for task, xml in xml_by_task.items():
            found = [t for t in client.tasks.list(name=task) if t.name == task]
            if len(found) != 1:
                raise BadInputError(url, f"expected one task named {task!r}, found {len(found)}")
            targets[task] = (found[0], xml)
        for target, xml in targets.values():
            target.import_annotations(format_name=CVAT_FORMAT, filename=Path(xml))


def upload_folder(folder: Path, url: str) -> None:
    """Upload every <task>/annotations.xml of an auto-annotation folder (`upload_annotations`)."""
    xml_by_task = {path.parent.name: path for path in sorted(folder.glob("*/annotations.xml"))}
    if not xml_by_task:
        raise BadInputError(folder, "no <task>/annotations.xml to upload")
    upload_annotations(xml_by_task, url)
