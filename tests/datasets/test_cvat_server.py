"""The CVAT server side through cvat-sdk, against a fake client: annotation import, task
creation with frame upload, ground-truth update and "set complete" (no network)."""

from types import SimpleNamespace

import cvat_sdk
import pandas as pd
import pytest
from cvat_sdk import models
from cvat_sdk.core.proxies.annotations import AnnotationUpdateAction
from cvat_sdk.core.proxies.tasks import ResourceType

from visionflow.data.cvat.export import write_cvat_xml
from visionflow.data.cvat.rows import COLUMNS
from visionflow.data.cvat.server import (
    create_tasks,
    update_ground_truth,
    upload_annotations,
    upload_folder,
)
from visionflow.io import BadInputError

TASK = "FieldData 20200520145736 1L GH020068"
ENV = {"CVAT_USERNAME": "ann", "CVAT_PASSWORD": "secret"}


class FakeJob:
    def __init__(self):
        self.updates = []

    def update(self, values):
        self.updates.append(values)


class FakeTask:
    """A server task: its frames, labels, shapes and jobs; records what is done to it."""

    def __init__(self, name, task_id, frames=(), labels=(), shapes=(), status="annotation"):
        self.name, self.id, self.status = name, task_id, status
        self.frames = [SimpleNamespace(name=f) for f in frames]
        self.labels = [SimpleNamespace(name=n, id=task_id * 100 + i) for i, n in enumerate(labels)]
        self.shapes = list(shapes)
        self.jobs = [FakeJob(), FakeJob()]
        self.imports, self.patches = [], []

    def import_annotations(self, format_name, filename):
        self.imports.append((format_name, filename))

    def get_jobs(self):
        return self.jobs

    def get_meta(self):
        return SimpleNamespace(frames=self.frames)

    def get_labels(self):
        return self.labels

    def get_annotations(self):
        return models.LabeledData(version=0, shapes=self.shapes, tags=[], tracks=[])

    def update_annotations(self, data, *, action):
        self.patches.append((data, action))


class FakeTasks:
    def __init__(self, tasks):
        self.tasks, self.created = tasks, []

    def list(self, **query):
        name = query.get("name", "")
        return [t for t in self.tasks if name.lower() in t.name.lower()]  # icontains

    def create_from_data(self, spec, **kwargs):
        task = FakeTask(spec.name, 50 + len(self.created))
        self.created.append((spec, kwargs))
        self.tasks.append(task)
        return task


class FakeClient:
    def __init__(self, tasks):
        self.tasks, self.closed = FakeTasks(tasks), False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True


@pytest.fixture
def server(monkeypatch):
    """A fake CVAT server; `add` puts tasks on it. Returns (tasks, client, logins)."""
    tasks = [FakeTask(TASK, 7), FakeTask(TASK + " copy", 8), FakeTask("other", 9)]
    client = FakeClient(tasks)
    logins = []

    def make_client(host, **login):
        logins.append((host, login))
        return client

    monkeypatch.setattr(cvat_sdk, "make_client", make_client)
    return tasks, client, logins


def xml_files(tmp_path, names):
    paths = {}
    for name in names:
        paths[name] = tmp_path / f"{len(paths)}.xml"
        paths[name].write_text("<annotations/>")
    return paths


def completed(task):
    return [job.updates for job in task.jobs] == [[models.PatchedJobWriteRequest(
        stage="acceptance", state="completed")]] * 2  # fmt: skip


def test_upload_imports_each_file_into_its_task(tmp_path, server):
    tasks, client, logins = server
    files = xml_files(tmp_path, [TASK, "other"])
    upload_annotations(files, "http://cvat:8080", env=ENV)
    assert logins == [("http://cvat:8080", {"credentials": ("ann", "secret")})]
    assert tasks[0].imports == [("CVAT 1.1", files[TASK])]
    assert tasks[1].imports == []
    assert tasks[2].imports == [("CVAT 1.1", files["other"])]
    assert client.closed and not completed(tasks[0])
    upload_annotations(files, "http://cvat:8080", env={"CVAT_ACCESS_TOKEN": "tok"}, complete=True)
    assert logins[-1] == ("http://cvat:8080", {"access_token": "tok"})
    assert completed(tasks[0]) and completed(tasks[2]) and not completed(tasks[1])


def test_upload_needs_credentials_from_the_environment(tmp_path, server):
    tasks, _, logins = server
    files = xml_files(tmp_path, [TASK])
    with pytest.raises(BadInputError, match="CVAT_PASSWORD not set"):
        upload_annotations(files, "http://cvat", env={"CVAT_USERNAME": "ann"})
    with pytest.raises(BadInputError, match="CVAT_USERNAME and CVAT_PASSWORD not set"):
        upload_annotations(files, "http://cvat", env={})
    assert logins == [] and tasks[0].imports == []


def test_upload_refuses_a_task_the_server_lacks_before_importing_any(tmp_path, server):
    tasks, _, _ = server
    files = xml_files(tmp_path, [TASK, "missing task"])
    with pytest.raises(BadInputError, match="one task named 'missing task', found 0"):
        upload_annotations(files, "http://cvat", env=ENV)
    assert tasks[0].imports == []
    with pytest.raises(BadInputError, match="annotation file does not exist"):
        upload_annotations({TASK: tmp_path / "nope.xml"}, "http://cvat", env=ENV)


def auto_annotation_folder(tmp_path):
    """An auto-annotation folder of one task (frames 4 and 2) and the raw frames it names."""
    rows = [
        {"task": TASK, "frame": frame, "image": f"{TASK}/images/{name}", "width": 64,
         "height": 48, "label": "dock", "xmin": 1.0, "ymin": 2.0, "xmax": 9.0, "ymax": 8.0,
         "attributes": "{}"}
        for frame, name in ((4, "f4.jpg"), (2, "sub/f2.jpg"))
    ]  # fmt: skip
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_cvat_xml(tmp_path / "auto" / TASK / "annotations.xml", table, ["dock", "thistle"], TASK)
    for name in ("f4.jpg", "sub/f2.jpg"):
        (tmp_path / "raw" / TASK / "images" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "raw" / TASK / "images" / name).touch()
    return tmp_path / "auto", tmp_path / "raw"


def test_create_tasks_uploads_the_frames_in_frame_order_and_imports_the_xml(
    tmp_path, server, monkeypatch
):
    tasks, client, _ = server
    folder, raw = auto_annotation_folder(tmp_path)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    upload_folder(folder, "http://cvat", complete=True, create=(raw, "auto_annotation_"))
    [(spec, kwargs)] = client.tasks.created
    assert spec.name == f"auto_annotation_{TASK}"
    assert [label.name for label in spec.labels] == ["dock", "thistle"]
    images = raw / TASK / "images"
    assert kwargs["resources"] == [images / "sub/f2.jpg", images / "f4.jpg"]  # frames 2, 4
    assert kwargs["resource_type"] == ResourceType.LOCAL
    assert kwargs["data_params"] == {"image_quality": 100, "sorting_method": "predefined"}
    assert kwargs["annotation_path"] == str(folder / TASK / "annotations.xml")
    assert kwargs["annotation_format"] == "CVAT 1.1"
    assert completed(tasks[-1])
    with pytest.raises(BadInputError, match="already has a task named 'auto_annotation_Field"):
        create_tasks({TASK: folder / TASK / "annotations.xml"}, raw, "http://c", "auto_annotation_",
                     env=ENV)  # fmt: skip
    (images / "f4.jpg").unlink()
    with pytest.raises(BadInputError, match="frame of .* does not exist") as error:
        create_tasks({TASK: folder / TASK / "annotations.xml"}, raw, "http://c", "new_", env=ENV)
    assert error.value.path == str(images / "f4.jpg") and len(client.tasks.created) == 1


def shape(frame, label_id, points, kind="rectangle"):
    return models.LabeledShape(type=kind, frame=frame, label_id=label_id, points=points,
                               occluded=False, z_order=0, rotation=0.0, source="manual",
                               attributes=[], group=0)  # fmt: skip


def test_update_ground_truth_copies_new_shapes_of_completed_tasks(server):
    tasks, _, _ = server
    truth = FakeTask("gt", 1, ["a.jpg", "b.jpg"], ["thistle", "dock"],
                     [shape(0, 100, [1.0, 2.0, 3.0, 4.0])])  # fmt: skip
    reviewed = FakeTask("auto_annotation_gt", 2, ["b.jpg", "a.jpg"], ["dock", "thistle"], [
        shape(1, 201, [1.0, 2.0, 3.0, 4.004]),  # truth's shape on a.jpg, at CVAT's precision
        shape(0, 200, [10.0, 10.0, 20.0, 30.0]),  # a dock on b.jpg
    ], status="completed")  # fmt: skip
    other = [shape(0, 300, [1.0, 2.0, 3.0, 4.0])]
    pending = FakeTask("auto_annotation_other", 3, ["c.jpg"], ["dock"], other)
    tasks[:] = [truth, reviewed, pending]
    counts = update_ground_truth("http://cvat", "auto_annotation_", env=ENV)
    assert counts == {"gt": {"copied": 1, "already_there": 1}}
    [(request, action)] = truth.patches
    assert action == AnnotationUpdateAction.CREATE
    [copy] = request.shapes
    assert (copy.frame, copy.label_id, copy.points) == (1, 101, [10.0, 10.0, 20.0, 30.0])
    assert (copy.type.value, copy.source) == ("rectangle", "manual")
    assert pending.patches == [] and reviewed.patches == []


def test_update_ground_truth_changes_nothing_when_a_pair_is_missing(server):
    tasks, _, _ = server
    truth = FakeTask("gt", 1, ["a.jpg"], ["dock"], [])
    reviewed = [
        FakeTask("auto_annotation_gt", 2, ["a.jpg"], ["dock"], [shape(0, 200, [1, 1, 5, 5])],
                 status="completed"),
        FakeTask("auto_annotation_lost", 3, ["a.jpg"], ["dock"], [], status="completed"),
    ]  # fmt: skip
    tasks[:] = [truth, *reviewed]
    with pytest.raises(BadInputError, match="one task named 'lost', found 0"):
        update_ground_truth("http://cvat", "auto_annotation_", env=ENV)
    assert truth.patches == []
    tasks[:] = [truth, reviewed[0]]
    truth.labels[0].name = "thistle"
    with pytest.raises(BadInputError, match="cannot copy frame 'a.jpg' / label 'dock' into 'gt'"):
        update_ground_truth("http://cvat", "auto_annotation_", env=ENV)
    assert truth.patches == []


def test_upload_command_needs_the_raw_folder_to_create_tasks(tmp_path, server, capsys):
    from visionflow.cli import main

    folder, _ = auto_annotation_folder(tmp_path)
    assert main(["detection", "upload", str(folder), "--url", "http://cvat", "--create"]) == 2
    assert "--create needs the raw CVAT folder" in capsys.readouterr().err
    assert server[1].tasks.created == []
