"""Every case of tests/bad_inputs.py through the project's real reader, and docs/reliability.md.

A case passes with a clear error (BadInputError, or a Snakemake error for the config, naming
the damaged file or key, any earlier output left byte-identical) or a recorded skip (the file
named in the output's skipped.csv). With VISIONFLOW_WRITE_RELIABILITY=1 the table is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from bad_inputs import CORPUS, Case
from helpers import REPO, subprocess_env

from visionflow.io import BadInputError

DOC = REPO / "docs" / "reliability.md"
KINDS = ("error", "skip", "crash")


class SnakemakeRejected(Exception):
    """`snakemake -n` stopped with an error message (no Python traceback)."""


# ---------------------------------------------------------------- valid inputs and readers

VALID_INI = """[training]
batch_size = 8
update_per_step = 8
max_epoch = 200
early_stopping = {'metric' : ('val','loss'), 'mode': 'min', 'patience': 50, 'min_delta': 0.01}

[optimizer]
eps = 1e-8
backbone_init_lr = 1e-5
backbone_weight_decay = 1e-4
classifier_init_lr = 1e-3
classifier_weight_decay = 1e-4

[model_params]
drop_p = 0.5

[scheduler]
tmax = 100
eta_min = 0

[data]
num_frames = 32
frame_size = 224
"""
SETTINGS = {
    "variants": ["resnet18", "resnet34"],
    "resnet18": {"run_hpo": 0, "optimal_hpo_settings": {
        "gamma": 0.03, "lr": 4e-05, "momentum": 0.33, "step_size": 3, "weight_decay": 0.55}},
    "resnet34": {"run_hpo": 1},
    "max_plateau_count": 20, "search_epochs": 10, "num_initial_data_points": 5,
    "max_num_trials": 16, "annotations_list": ["FieldData 20200520145736 1L GH020068"],
    "sherpa_parameters": {"lr": [5e-6, 1e-3], "weight_decay": [1e-5, 0.9],
                          "momentum": [0.1, 0.9], "step_size": [1, 5], "gamma": [0.01, 0.5]},
}  # fmt: skip
SALIENCY_CONFIG = {  # the PR #2 era layout, shortened
    "all_tasks": ["UniSal", "SAM", "IKN"], "skip": ["pretrain_weights"],
    "model": {"use_eval_mode": False,
              "hnet": {"type": "chunked", "task_cnt": 3, "embedding_size": 64,
                       "chunk_size": 4096, "chunk_emb_size": 8},
              "mnet": {"type": "original", "encoder_type": "mv2", "decoder_type": "full",
                       "decoder_non_linearity": "ReLU6"}},
    "train": {"tasks": ["UniSal", "SAM"], "imgs_per_task_train": 40, "imgs_per_task_val": 20,
              "loss": "BCELoss", "batch_size": 4, "lr": 0.001},
    "train_generalization_task": {"tasks": ["IKN"], "train_img_cnt": 10, "val_img_cnt": 20,
                                  "freeze_hnet_shared_steps": 5},
    "test": {"tasks": ["UniSal", "SAM", "IKN"], "per_image_statistics": False},
    "preprocess": {"histogram_matching": {"default": "none", "description": "",
                                          "valid_values": ["equalization", "none"]}},
}  # fmt: skip
GRID = [["train/lr", [0.001, 0.01]], ["model/hnet/embedding_size", [32]]]


def write_files(files: dict[str, str]) -> Callable[[Path], None]:
    """A builder writing `files` (relative path: text) under the folder it is given."""

    def build(root: Path) -> None:
        for name, text in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)

    return build


def demo(module: str, *args: Any, **kwargs: Any) -> Callable[[Path], None]:
    """A builder running visionflow.demo.<module>.generate into the folder."""

    def build(root: Path) -> None:
        import importlib

        importlib.import_module(f"visionflow.demo.{module}").generate(root, *args, **kwargs)

    return build


def copy_workflow(root: Path) -> None:
    """The workflow, its config and environments, as tests/test_workflow.py copies them."""
    for name in ("workflow", "config", "envs"):
        shutil.copytree(REPO / name, root / name)


SNAKEMAKES_OWN = ("Using workflow specific profile", "Config file ")  # notices, not errors


def dry_run(root: Path, out: Path | None, policy: str) -> None:
    """`snakemake -n` in `root`; SnakemakeRejected with the error part of a clean refusal
    (a traceback reaching outside the workflow's own files is a crash)."""
    env = subprocess_env()
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=root,
                            env=env, capture_output=True, text=True)  # fmt: skip
    if result.returncode == 0:
        return
    output = result.stdout + result.stderr
    raised = re.search(r"^\w+(Error|Exception)\b", output, re.M)
    own = [line for line in output.splitlines() if not line.startswith(SNAKEMAKES_OWN)]
    error = output[raised.start() :] if raised else "\n".join(own)  # a config problem's lines
    frames = re.findall(r'^\s+File "([^"]+)"', error, re.M)
    if any(not Path(frame).is_relative_to(root / "workflow") for frame in frames):
        raise RuntimeError(f"snakemake failed with a traceback:\n{error}")
    raise SnakemakeRejected(error)


def _prepare(module: str, *args: Any) -> Callable[[Path, Path | None, str], Any]:
    """A reader calling visionflow.data.<module>.prepare(raw, out, *args, policy)."""

    def read(raw: Path, out: Path | None, policy: str) -> Any:
        import importlib

        return importlib.import_module(f"visionflow.data.{module}").prepare(raw, out, *args, policy)

    return read


def _jacquard(raw: Path, out: Path | None, policy: str) -> Any:
    from visionflow.data.jacquard.prepare import prepare

    return prepare(raw, out, JACQUARD_CLASSES, 16, policy, splits=("train",))


def _wlasl(raw: Path, out: Path | None, policy: str) -> Any:
    from visionflow.data.wlasl import prepare

    return prepare(raw / "WLASL_v0.3.json", raw / "videos", out, "asl2", 16, on_bad_sample=policy)


def _wlasl_split(raw: Path, out: Path | None, policy: str) -> Any:
    from visionflow.data.wlasl import prepare

    index, split_file = raw / "WLASL_v0.3.json", raw / "nslt_2.json"
    return prepare(index, raw / "videos", out, "asl2", 16, on_bad_sample=policy,
                   split_file=split_file)  # fmt: skip


def wlasl_with_split_file(root: Path) -> None:
    """The demo WLASL index and videos, and nslt_2.json over its two glosses as the I3D
    preprocessing lays such files out (one line)."""
    demo("wlasl", 2, {"train": 2}, seed=0)(root)
    index = json.loads((root / "WLASL_v0.3.json").read_text())
    nslt = {
        i["video_id"]: {"subset": i["split"], "action": [label, i["frame_start"], i["frame_end"]]}
        for label, entry in enumerate(index)
        for i in entry["instances"]
    }
    (root / "nslt_2.json").write_text(json.dumps(nslt))


def _ini(raw: Path, out: Path | None, policy: str) -> Any:
    from visionflow.experiments.slr.importer import import_config

    return import_config(raw / "configfiles" / "asl100" / "S3D" / "exp004.ini")


def _detection_settings(raw: Path, out: Path | None, policy: str) -> Any:
    from visionflow.experiments.detection.importer import import_config

    return import_config(raw / "settings_file.json")


def _saliency_config(raw: Path, out: Path | None, policy: str) -> Any:
    from visionflow.experiments.saliency.importer import import_config

    return import_config(raw / "config.json", raw / "gridsearch.json")


STUDENT_TASKS = ("AIM", "UniSal")


def _student_model() -> Any:
    """A small hypernetwork over a main network with the original student's seven decoder
    stages (so its files load by the students' names)."""
    from visionflow.experiments.saliency.training import build_model

    model = {"encoder_cutoff": 1, "decoder_channels": [4] * 7, "generated": ["decoder"],
             "decoder_activation": "relu", "use_eval_mode": True,
             "hnet": {"type": "single_layer"}}  # fmt: skip
    return build_model(model, len(STUDENT_TASKS), imagenet=False)


def _write_students(root: Path) -> None:
    """models/<Task>/exported/<task>.pth as the original's Trainer.save writes them."""
    import torch

    from visionflow.models.saliency_net import STUDENT_NAMES

    state = {f"model.{k}": v for k, v in _student_model().model.state_dict().items()}
    names = {new: old for old, new in STUDENT_NAMES.items()}
    for task in STUDENT_TASKS:
        student = {}
        for key, shape in _student_model().generated_shapes.items():
            module, _, leaf = key.rpartition(".")
            student[f"{names[module]}.{leaf}"] = torch.zeros(shape)
        student |= {k.removeprefix("model."): v for k, v in state.items() if "encoder" in k}
        folder = root / "models" / task / "exported"
        folder.mkdir(parents=True)
        torch.save({"student_model": student}, folder / f"{task.lower()}.pth")


def _students(raw: Path, out: Path | None, policy: str) -> Any:
    from visionflow.experiments.saliency import task_weights_path
    from visionflow.experiments.saliency.training import _weights_targets

    paths = {task: task_weights_path(str(raw / "models"), task) for task in STUDENT_TASKS}
    return _weights_targets(_student_model(), paths, STUDENT_TASKS)


@dataclass(frozen=True)
class Reader:
    """How to build a valid input for a reader and run the reader on it."""

    build: Callable[[Path], None]
    read: Callable[[Path, Path | None, str], Any]
    writes: bool = True  # fills an output folder holding skipped.csv
    errors: tuple[type[Exception], ...] = (BadInputError,)


JACQUARD_CLASSES = ("Chair", "Lamp")
LABELS = ["circle", "square", "triangle"]
READERS = {
    "miniimagenet": Reader(demo("miniimagenet", 2, 2, 1, seed=0), _prepare("miniimagenet", 16)),
    "jacquard": Reader(
        demo("jacquard", JACQUARD_CLASSES, 1, 1, {"train": 1.0}, size=64, seed=0),
        _jacquard,
    ),
    "wlasl": Reader(demo("wlasl", 2, {"train": 2}, seed=0), _wlasl),
    "wlasl_split": Reader(wlasl_with_split_file, _wlasl_split),
    "cvat": Reader(demo("cvat", 2, 3, 48, seed=0), _prepare("cvat.table", [], LABELS)),
    "saliency": Reader(
        demo("saliency", 3, 32, seed=0, tasks=("centre_bias", "edge_density")),
        _prepare("saliency", (16, 16), (0.6, 0.2, 0.2), 0),
    ),
    "config": Reader(copy_workflow, dry_run, writes=False, errors=(SnakemakeRejected,)),
    "ini": Reader(write_files({"configfiles/asl100/S3D/exp004.ini": VALID_INI}), _ini, False),
    "detection_settings": Reader(
        write_files({"settings_file.json": json.dumps(SETTINGS, indent=1)}),
        _detection_settings,
        writes=False,
    ),
    "saliency_config": Reader(
        write_files(
            {
                "config.json": json.dumps(SALIENCY_CONFIG, indent=1),
                "gridsearch.json": json.dumps(GRID),
            }
        ),
        _saliency_config,
        writes=False,
    ),
    "saliency_students": Reader(_write_students, _students, writes=False),
}


# ---------------------------------------------------------------- running and classifying


def slug(text: str) -> str:
    """`text` as a test-id fragment: lower case, runs of other characters as one dash."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


CASES = {f"{slug(fmt)}:{case.name}": (fmt, case) for fmt, cases in CORPUS.items()
         for case in cases()}  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    kind: str  # one of KINDS
    detail: str


_valid: dict[str, tuple[Path, Path | None]] = {}
_outcomes: dict[str, Outcome] = {}


def valid_input(name: str, factory: pytest.TempPathFactory) -> tuple[Path, Path | None]:
    """(valid raw folder, the reader's output on it or None), built once per session."""
    if name not in _valid:
        reader, base = READERS[name], factory.mktemp(f"valid-{name}")
        reader.build(base / "raw")
        good = base / "out" if reader.writes else None
        reader.read(base / "raw", good, "error")
        _valid[name] = base / "raw", good
    return _valid[name]


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (hidden and temporary ones included)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def classify(case: Case, reader: Reader, raw: Path, out: Path | None, expect: str) -> Outcome:
    """Run the reader on the damaged copy and sort what happened into error, skip or crash.

    The case says which of the two it must be (`Case.outcome`). An error must name `expect`
    and leave the earlier output byte for byte as it was; a skip must leave a skipped.csv
    row naming `expect` in a store that still has every file. Anything else is a crash.
    """
    before = snapshot(out.parent) if out else {}
    try:
        reader.read(raw, out, case.policy)
    except reader.errors as exc:
        if case.outcome != "error":
            return Outcome("crash", f"an error where a recorded skip was due: {exc}")
        if expect not in str(exc):
            return Outcome("crash", f"the error does not name {expect!r}: {exc}")
        if out and snapshot(out.parent) != before:
            return Outcome("crash", f"the earlier output changed: {exc}")
        return Outcome("error", str(exc))
    except Exception as exc:  # anything else is what this module looks for
        return Outcome("crash", f"{type(exc).__name__}: {exc}")
    if case.outcome != "skip":
        return Outcome("crash", f"accepted under the {case.policy} policy without an error")
    skipped = out / "skipped.csv" if out else None
    if not (skipped and skipped.is_file() and expect in skipped.read_text()):
        return Outcome("crash", f"accepted without a skipped.csv row naming {expect!r}")
    stored = {name.removeprefix("store/") for name in before}
    if set(snapshot(out)) != stored:
        return Outcome("crash", f"the rewritten store lacks or adds files: {sorted(snapshot(out))}")
    return Outcome("skip", pd.read_csv(skipped).to_string())


def outcome(case_id: str, factory: pytest.TempPathFactory) -> Outcome:
    """The memoised outcome of one case: a fresh copy of the valid input, one file damaged."""
    if case_id not in _outcomes:
        _, case = CASES[case_id]
        valid, good = valid_input(case.reader, factory)
        work = factory.mktemp(slug(case_id))
        raw = shutil.copytree(valid, work / "raw")
        out = shutil.copytree(good, work / "out" / "store") if good else None
        target = sorted(raw.glob(case.target))[0]
        case.damage(target)
        reader = READERS[case.reader]
        _outcomes[case_id] = classify(case, reader, raw, out, case.expect or target.name)
    return _outcomes[case_id]


def case_params() -> list:
    """Every case; the config's, each a Snakemake dry run of seconds, in the full tier."""
    slow = pytest.mark.slow
    return [pytest.param(key, marks=slow) if case.reader == "config" else key
            for key, (_, case) in CASES.items()]  # fmt: skip


@pytest.mark.parametrize("case_id", case_params())
def test_bad_input_gives_a_clear_error_or_a_recorded_skip(case_id, tmp_path_factory):
    result = outcome(case_id, tmp_path_factory)
    assert result.kind != "crash", result.detail


# ---------------------------------------------------------------- the reliability table


FAULTS = [
    "## Faults", "",
    "- Kill: `tests/faults/test_kill.py` sends SIGKILL to the running jobs or the whole "
    "workflow at seeded moments of conversion, training, evaluation and analysis chains "
    "(32 points, `make test-all`), fails a point whose kill hit nothing alive, reruns the "
    "target, and checks that every file the kill left loads whole and that the rebuilt "
    "outputs equal an uninterrupted run's.",
    "- Unreadable `last.ckpt`: `tests/engine/test_train_resume.py` (falls back to the newest "
    "readable checkpoint of the run, or stops).",
    "- Full disk: `tests/faults/test_disk_full.py` (injected ENOSPC, and a full tmpfs where "
    "the machine can mount one): one clear error, earlier file untouched, rerun completes.",
    "- Two runs: `tests/workflow/test_dvc.py::test_a_second_run_and_dvc_repro_are_locked_out_"
    "while_snakemake_runs`.",
    "- Security: `tests/faults/test_security.py` (no code-executing loads or shells; shell "
    "syntax in config paths stays a path).", "",
]  # fmt: skip


def render(results: dict[str, Outcome]) -> str:
    """docs/reliability.md: intro, counts per format with a total, case names per format."""
    header = "| Format | Tried | Clear errors | Recorded skips | Crashes |"
    lines = [header, "|---|---:|---:|---:|---:|"]
    totals = dict.fromkeys(KINDS, 0)
    names = {}
    for fmt in CORPUS:
        keys = [k for k in results if CASES[k][0] == fmt]
        counts = {kind: sum(results[k].kind == kind for k in keys) for kind in KINDS}
        totals = {kind: totals[kind] + counts[kind] for kind in KINDS}
        lines.append(f"| {fmt} | {len(keys)} | " + " | ".join(str(counts[k]) for k in KINDS) + " |")
        names[fmt] = ", ".join(CASES[k][1].name for k in keys)
    tried = sum(totals.values())
    lines.append(f"| **Total** | **{tried}** | " + " | ".join(f"**{totals[k]}**" for k in KINDS)
                 + " |")  # fmt: skip
    crashed = [k for k in results if results[k].kind == "crash"]
    return "\n".join([
        "# Reliability on malformed inputs", "",
        "Generated by `tests/faults/test_bad_inputs.py` (cases in `tests/faults/bad_inputs.py`: "
        "a small valid demo input with one file damaged, fed to the project's own reader); "
        "regenerate with `make reliability`. Each case says which outcome is due. A clear error "
        "is a `BadInputError` (for the config, a Snakemake error) naming the damaged file or "
        "key, earlier output left byte-identical; a recorded skip (under `on_bad_sample: skip`, "
        "or under every policy for WLASL videos, CVAT shapes without a box and COCO crowd "
        "regions) is a `skipped.csv` row naming the file in a store that keeps every file; "
        "anything else is a crash.", "",
        *lines, "",
        *(f"- **{fmt}**: {names[fmt]}" for fmt in CORPUS), "",
        *([f"Crashes: {', '.join(crashed)}.", ""] if crashed else []),
        *FAULTS,
    ])  # fmt: skip


@pytest.mark.slow  # runs every case, the config's dry runs included
def test_reliability_table_is_current_and_nothing_crashes(tmp_path_factory):
    results = {key: outcome(key, tmp_path_factory) for key in CASES}
    text = render(results)
    if os.environ.get("VISIONFLOW_WRITE_RELIABILITY") == "1":
        DOC.write_text(text)
    assert DOC.read_text() == text, "docs/reliability.md is stale: run `make reliability`"
    crashed = sorted(k for k, result in results.items() if result.kind == "crash")
    assert crashed == [], {k: results[k].detail for k in crashed}
