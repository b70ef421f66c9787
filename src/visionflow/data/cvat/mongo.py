"""Rows of the CVAT annotations obdb stored in MongoDB, and its connection settings."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from visionflow.data.conversion import Problem, reject
from visionflow.data.cvat.geometry import extent
from visionflow.data.cvat.rows import Row, as_floats, box, frame_base, frame_rows, task_problem
from visionflow.io import BadInputError
from visionflow.progress import progress_bar


def redact(uri: str) -> str:
    """`uri` without its user:password part, fit for messages and files."""
    return re.sub(r"//[^@/]*@", "//", uri)


MONGO_DEFAULTS = {  # obdb's names; client (a MongoClient to use) is for tests
    "database": "annotations",
    "collection": "annotation_data",
    "meta_collection": "meta",
    "username": None,
    "password": None,
    "client": None,
}


def mongo_settings(mongo: Mapping[str, Any]) -> dict[str, Any]:
    """`mongo` (uri plus any of MONGO_DEFAULTS' keys) completed with the defaults."""
    unknown = set(mongo) - set(MONGO_DEFAULTS) - {"uri"}
    if "uri" not in mongo or unknown:
        raise ValueError(f"mongo settings need a uri and only {sorted(MONGO_DEFAULTS)}")
    return MONGO_DEFAULTS | dict(mongo)


def with_env_credentials(
    mongo: Mapping[str, Any], env: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """`mongo` with the username and password of MONGODB_USERNAME and MONGODB_PASSWORD, the
    only place credentials are read from (never the config, which is versioned)."""
    mongo = dict(mongo)
    for key, variable in (("username", "MONGODB_USERNAME"), ("password", "MONGODB_PASSWORD")):
        if env.get(variable):
            mongo[key] = env[variable]
    return mongo


def _mongo_task(
    task: str,
    meta: list[dict[str, Any]],
    annotations: Iterable[dict[str, Any]],
    sources: tuple[str, str],
    on_bad_sample: str,
    skipped: list[Problem],
) -> list[Row]:
    """Rows of one task from its meta documents and its annotation documents."""
    meta_source, source = sources
    frames = meta[0].get("frames") if len(meta) == 1 else None
    if not isinstance(frames, list):
        problem = f"task {task!r}: needs one meta document with a frames list, found {len(meta)}"
        reject(meta_source, problem, on_bad_sample, skipped)
        return []
    bases: dict[str, Row] = {}
    seen: dict[int, str] = {}
    for index, entry in enumerate(frames):
        entry = entry if isinstance(entry, dict) else {}
        fields = (entry.get(k) for k in ("name", "width", "height"))
        base = frame_base(task, index, *fields, seen)
        if isinstance(base, str):
            reject(meta_source, f"task {task!r}, frame {index}: {base}", on_bad_sample, skipped)
            continue
        bases[entry["name"]] = base
    names = {entry.get("name") for entry in frames if isinstance(entry, dict)}
    boxes: dict[str, list[Row]] = {name: [] for name in bases}
    for doc in annotations:
        where = f"task {task!r}, annotation {doc.get('_id')}"
        missing = [k for k in ("img_path", "object_class", "points") if k not in doc]
        points = as_floats(doc["points"]) if isinstance(doc.get("points"), list) else None
        if missing or not isinstance(doc["img_path"], str) or doc["img_path"] not in names:
            reason = f"lacks {', '.join(missing)}" if missing else "frame not in the task's meta"
            reject(source, f"{where} ({doc.get('img_path')!r}): {reason}", on_bad_sample, skipped)
        elif doc["img_path"] not in bases:
            continue  # its frame was rejected whole
        elif points is None or not (
            len(points) == 4 or (len(points) >= 6 and len(points) % 2 == 0)
        ):
            reason = f"points {doc['points']!r} are neither a box (4) nor a polygon (x, y pairs)"
            frame = bases[doc["img_path"]]["frame"]
            reject(source, f"task {task!r}, frame {frame}: {reason}", on_bad_sample, skipped)
        else:
            coords = points if len(points) == 4 else extent(points)
            boxes[doc["img_path"]].append(
                box(bases[doc["img_path"]], doc["object_class"], coords, "{}")
            )
    return [row for name, base in bases.items() for row in frame_rows(base, boxes[name])]


def read_mongo(
    uri: str,
    database: str,
    collection: str,
    tasks: Sequence[str],
    client: Any = None,
    *,
    meta_collection: str = "meta",
    username: str | None = None,
    password: str | None = None,
    on_bad_sample: str = "error",
    skipped: list[Problem] | None = None,
) -> list[Row]:
    """Rows of the CVAT annotations obdb stored in MongoDB (its `annotations` database).

    `meta_collection` holds one document per task, {task_name, frames: [{name, width,
    height}, ...]} (frame id = list position); `collection` (obdb: annotation_data) one per
    shape, {task_name, img_path (a frame name), object_class, points}: 4 points are
    [xmin, ymin, xmax, ymax], more are a flat x, y polygon taken as its bounding box.
    Empty `tasks` means every task in the meta collection. Credentials authenticate
    against `database`, as obdb's did.
    """
    import pymongo
    from pymongo.errors import PyMongoError

    skipped = [] if skipped is None else skipped
    sources = (
        f"{redact(uri)}/{database}.{meta_collection}",
        f"{redact(uri)}/{database}.{collection}",
    )
    own = client is None
    if own:
        login = {"username": username, "password": password, "authSource": database}
        try:
            client = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=10_000, **(login if username else {})
            )
        except (PyMongoError, ValueError) as exc:  # pymongo raises ValueError for bad URIs
            raise BadInputError(sources[1], f"not a usable MongoDB URI ({exc})") from None
    try:
        meta, shapes = client[database][meta_collection], client[database][collection]
        names = list(tasks) or sorted(meta.distinct("task_name"))
        for task in names:
            if problem := task_problem(task):
                raise BadInputError(sources[0], problem)
        found = set(meta.distinct("task_name", {"task_name": {"$in": names}}))
        if missing := [t for t in names if t not in found]:
            raise BadInputError(sources[0], f"task(s) {missing} not found")
        rows = []
        for task in progress_bar(names, desc="reading MongoDB tasks", unit="task"):
            docs = list(meta.find({"task_name": task}))
            annotations = shapes.find({"task_name": task}).sort("_id", 1)
            rows += _mongo_task(task, docs, annotations, sources, on_bad_sample, skipped)
    except PyMongoError as exc:
        raise BadInputError(sources[1], f"MongoDB read failed ({exc})") from None
    finally:
        if own:
            client.close()
    return rows
