"""A CVAT server through cvat-sdk: annotations into its tasks, new tasks with their frames,
reviewed auto annotations copied into ground truth, tasks marked complete.

Credentials come only from the environment (CVAT_USERNAME/CVAT_PASSWORD or
CVAT_ACCESS_TOKEN). Every file, task and frame is checked before the first change on the
server, so bad input changes nothing there.
"""

from __future__ import annotations

import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cvat_sdk
from cvat_sdk import models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
from cvat_sdk.core.proxies.tasks import ResourceType

from visionflow.io import BadInputError

log = logging.getLogger(__name__)

CVAT_FORMAT = "CVAT 1.1"
IMAGE_QUALITY = 100  # as the original uploaded its frames
COMPLETE = {"stage": "acceptance", "state": "completed"}  # CVAT 1's job status "completed"


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


def _tasks_named(client: Any, name: str) -> list[Any]:
    """The server's tasks of exactly this name (the server's filter matches substrings)."""
    return [t for t in client.tasks.list(name=name) if t.name == name]


def _one_task(client: Any, name: str, url: str) -> Any:
    found = _tasks_named(client, name)
    if len(found) != 1:
        raise BadInputError(url, f"expected one task named {name!r}, found {len(found)}")
    return found[0]


def _check_files(xml_by_task: Mapping[str, Path]) -> None:
    for xml in xml_by_task.values():
        if not Path(xml).is_file():
            raise BadInputError(xml, "annotation file does not exist")


def set_complete(task: Any) -> None:
    """Mark every job of a server task completed (what the original's status "completed" is)."""
    for job in task.get_jobs():
        job.update(models.PatchedJobWriteRequest(**COMPLETE))


def upload_annotations(
    xml_by_task: Mapping[str, Path],
    url: str,
    env: Mapping[str, str] = os.environ,
    complete: bool = False,
) -> None:
    """Import each CVAT 1.1 XML into the server task of the same name; `complete` marks
    those tasks completed afterwards."""
    login = _credentials(env)
    _check_files(xml_by_task)
    with cvat_sdk.make_client(url, **login) as client:
        targets = [(_one_task(client, task, url), xml) for task, xml in xml_by_task.items()]
        for target, xml in targets:
            target.import_annotations(format_name=CVAT_FORMAT, filename=Path(xml))
            if complete:
                set_complete(target)


def xml_frames(xml: Path) -> tuple[list[str], list[str]]:
    """(image names in frame order, label names) of a CVAT 1.1 XML this package wrote."""
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError) as exc:
        raise BadInputError(xml, f"not a readable CVAT 1.1 XML: {exc}") from None
    images = sorted(root.iter("image"), key=lambda image: int(image.get("id", "0")))
    labels = [label.findtext("name", "") for label in root.iter("label")]
    return [image.get("name", "") for image in images], labels


def create_tasks(
    xml_by_task: Mapping[str, Path],
    root: Path,
    url: str,
    prefix: str,
    env: Mapping[str, str] = os.environ,
    complete: bool = False,
) -> list[str]:
    """Create a server task `<prefix><task>` per XML holding the frames it names (from
    `root/<task>/images/`, uploaded in its frame order) and import the XML into it.

    Returns the created task names. A name the server already has is refused.
    """
    login = _credentials(env)
    _check_files(xml_by_task)
    plans = []
    for task, xml in xml_by_task.items():
        names, labels = xml_frames(Path(xml))
        images = [Path(root) / task / "images" / name for name in names]
        missing = [str(image) for image in images if not image.is_file()]
        if missing:
            raise BadInputError(missing[0], f"frame of {xml} does not exist")
        plans.append((f"{prefix}{task}", labels, images, xml))
    with cvat_sdk.make_client(url, **login) as client:
        for name, *_ in plans:
            if _tasks_named(client, name):
                raise BadInputError(url, f"the server already has a task named {name!r}")
        for name, labels, images, xml in plans:
            spec = models.TaskWriteRequest(
                name=name, labels=[models.PatchedLabelRequest(name=label) for label in labels]
            )
            task = client.tasks.create_from_data(
                spec,
                resources=images,
                resource_type=ResourceType.LOCAL,
                data_params={"image_quality": IMAGE_QUALITY, "sorting_method": "predefined"},
                annotation_path=str(xml),
                annotation_format=CVAT_FORMAT,
            )
            if complete:
                set_complete(task)
    return [name for name, *_ in plans]


def _shape_key(shape: Any) -> tuple:
    """What makes two shapes the same: type and points to CVAT's 2 decimals."""
    return (str(getattr(shape.type, "value", shape.type)), *(round(p, 2) for p in shape.points))


def _copies(source: Any, target: Any, name: str) -> tuple[list[Any], int]:
    """Shape requests of `source`'s shapes that `target` lacks, mapped by frame name and
    label name, and how many were already there."""
    frames = {frame.name: index for index, frame in enumerate(target.get_meta().frames)}
    source_frames = [frame.name for frame in source.get_meta().frames]
    label_ids = {label.name: label.id for label in target.get_labels()}
    label_names = {label.id: label.name for label in source.get_labels()}
    existing = {(s.frame, _shape_key(s)) for s in target.get_annotations().shapes}
    copies, duplicates = [], 0
    for shape in source.get_annotations().shapes:
        kind = str(getattr(shape.type, "value", shape.type))
        frame_name, label = source_frames[shape.frame], label_names[shape.label_id]
        if frame_name not in frames or label not in label_ids or kind == "skeleton":
            why = "a skeleton" if kind == "skeleton" else f"frame {frame_name!r} / label {label!r}"
            raise BadInputError(name, f"cannot copy {why} into {target.name!r}")
        frame = frames[frame_name]
        if (frame, _shape_key(shape)) in existing:
            duplicates += 1
            continue
        copies.append(
            models.LabeledShapeRequest(
                type=kind, frame=frame, label_id=label_ids[label], points=list(shape.points),
                occluded=bool(shape.occluded), z_order=int(shape.z_order or 0),
                rotation=float(shape.rotation or 0.0), source="manual", attributes=[],
            )
        )  # fmt: skip
    return copies, duplicates


def update_ground_truth(
    url: str, prefix: str, env: Mapping[str, str] = os.environ
) -> dict[str, dict[str, int]]:
    """Copy the shapes of every completed server task `<prefix><task>` into the task
    `<task>`, leaving out shapes `<task>` already has on that frame (the original's
    "update ground truth"). Returns per ground-truth task the shapes copied and left out."""
    login = _credentials(env)
    with cvat_sdk.make_client(url, **login) as client:
        reviewed = [
            t for t in client.tasks.list() if t.name.startswith(prefix) and t.status == "completed"
        ]
        pairs = [(task, _one_task(client, task.name[len(prefix) :], url)) for task in reviewed]
        plans = [(target, *_copies(source, target, url)) for source, target in pairs]
        counts = {}
        for target, copies, duplicates in plans:
            if copies:
                request = models.PatchedLabeledDataRequest(shapes=copies)
                target.update_annotations(request, action=AnnotationUpdateAction.CREATE)
            counts[target.name] = {"copied": len(copies), "already_there": duplicates}
            log.info("%s: %d shapes copied, %d already there", target.name, len(copies), duplicates)
    return counts


def upload_folder(
    folder: Path,
    url: str,
    complete: bool = False,
    create: tuple[Path, str] | None = None,
) -> None:
    """Upload every <task>/annotations.xml of an auto-annotation folder: into the server's
    tasks of the same names, or, with `create` = (raw root, prefix), into new tasks."""
    xml_by_task = {path.parent.name: path for path in sorted(folder.glob("*/annotations.xml"))}
    if not xml_by_task:
        raise BadInputError(folder, "no <task>/annotations.xml to upload")
    if create is None:
        upload_annotations(xml_by_task, url, complete=complete)
    else:
        create_tasks(xml_by_task, create[0], url, create[1], complete=complete)
