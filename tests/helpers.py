"""What several test modules share: running the CLI, Snakemake and DVC in subprocesses, the
workflow copied into a scratch folder, the tiny config and tiny run settings."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from visionflow.io import safe_torch_load, sha256_file

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
VISIONFLOW = [sys.executable, "-m", "visionflow.cli"]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
WORKFLOW_FILES = ("workflow", "config", "envs")
TINY_CLIP = Path(__file__).parent / "data" / "tiny-clip.json"
DVC_IGNORE_FILES = (".dvcignore", ".gitignore")
DVC_LOCAL_STATE = shutil.ignore_patterns("cache", "tmp", "config.local")  # untracked
GIT_AUTHOR = {f"GIT_{role}_{field}": value for role in ("AUTHOR", "COMMITTER")
              for field, value in (("NAME", "visionflow tests"),
                                   ("EMAIL", "tests@visionflow.invalid"))}  # fmt: skip
JOB = re.compile(r"^(?:local)?rule (\w+):$", re.MULTILINE)


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: one torch thread, no GPU, the repo's code and this
    environment's tools first on the paths."""
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", **extra)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["PATH"] = str(BIN) + os.pathsep + env["PATH"]  # rules and stages call `visionflow`
    return env


def run(
    command: list[str], cwd: Path | None = None, check: bool = True, **extra: str
) -> subprocess.CompletedProcess:
    """Run `command` in `cwd`; a failure (with `check`) fails the test with its output."""
    result = subprocess.run(command, cwd=cwd, env=subprocess_env(**extra),
                            capture_output=True, text=True)  # fmt: skip
    if check and result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        pytest.fail(f"{' '.join(map(str, command))} failed:\n{output}")
    return result


def snakemake_command(*args: str, cores: int = 2) -> list[str]:
    """Snakemake with the GPU limit of the used-by commands; targets go before the options
    (--resources takes several values and would swallow them)."""
    return [*SNAKEMAKE, *args, "--cores", str(cores), "--resources", "gpu=1"]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Snakemake in `workdir` (a workflow copy)."""
    return run(snakemake_command(*args), cwd=workdir, check=check)


def visionflow(
    cwd: Path, *args: str, check: bool = True, **extra: str
) -> subprocess.CompletedProcess:
    """The visionflow CLI in `cwd` (`extra`: environment variables)."""
    return run([*VISIONFLOW, *args], cwd=cwd, check=check, **extra)


def sh(cwd: Path, *command: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    """`command` in `cwd`, with a git author set (commits work on any machine)."""
    return run(list(command), cwd=cwd, check=check, **GIT_AUTHOR, **extra)


def dvc(cwd: Path, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    """DVC in `cwd` (`extra`: environment variables)."""
    return sh(cwd, str(BIN / "dvc"), *args, check=check, **extra)


def dvc_project(workdir: Path, *targets: str, remote: Path | None = None) -> Path:
    """`workdir` (a workflow copy) as a committed git + DVC project with the repository's DVC
    config, its dvc.yaml built for `targets`; `remote`: a local default DVC remote."""
    shutil.copytree(REPO / ".dvc", workdir / ".dvc", ignore=DVC_LOCAL_STATE)
    for name in DVC_IGNORE_FILES:
        shutil.copy(REPO / name, workdir / name)
    sh(workdir, "git", "init", "-q")
    if remote:
        dvc(workdir, "remote", "add", "--default", "--force", "local", str(remote))
    visionflow(workdir, "dvc", "stages", *targets)
    sh(workdir, "git", "add", "-A")
    sh(workdir, "git", "commit", "-qm", "tiny demo")
    return workdir


def jobs_run(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Snakemake jobs a command started, per rule (from its output, or its DVC stages')."""
    return dict(Counter(JOB.findall(result.stdout + result.stderr)))


def assert_in_sync(repo: Path, *targets: str) -> None:
    """Snakemake has nothing to do for `targets` and DVC sees no change."""
    assert "Nothing to be done" in snakemake(repo, "-n", *targets).stdout
    assert json.loads(dvc(repo, "status", "--json").stdout) == {}


def workflow_copy(root: Path, **sections: dict) -> Path:
    """The workflow, its config and environments in `root`, the demo config's sections
    updated with `sections`."""
    for name in WORKFLOW_FILES:
        shutil.copytree(REPO / name, root / name)
    config = read_config(root)
    for section, values in sections.items():
        config[section].update(values)
    write_config(root, config)
    return root


def validated(name: str = "config.yaml", **sections) -> dict:
    """A config file of the repository, sections updated, validated with defaults filled in."""
    from visionflow.config import checked

    config = yaml.safe_load((REPO / "config" / name).read_text())
    for section, values in sections.items():
        if isinstance(values, dict):
            config[section].update(values)
        else:
            config[section] = values
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    return checked(config, schema, [f"config/{name}"], {})


def read_config(workdir: Path) -> dict:
    return yaml.safe_load((workdir / "config" / "config.yaml").read_text())


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    table = dry_run_output.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    counts = dict(line.split() for line in table if line.strip())
    counts.pop("total", None)
    return {job: int(n) for job, n in counts.items()}


def tiny_clip_weights(path: Path) -> Path:
    """Random weights of the tiny open_clip architecture of tests/data, as a state dict."""
    import open_clip

    open_clip.add_model_config(TINY_CLIP)
    torch.manual_seed(0)
    torch.save(open_clip.create_model("tiny-clip", pretrained=None).state_dict(), path)
    return path


def tiny_config(workdir: Path) -> dict:
    """The demo config shrunk to seconds per job: few images, narrow CORnet, 1-2 epochs,
    and CLIP as a random tiny open_clip model."""
    config = read_config(workdir)
    config["cornet"].update(outer_times=[1, 2], width=0.125, epochs=2, crop_size=32,
                            resize_size=36, batch_size=8)  # fmt: skip
    config["miniimagenet"].update(short_side=40)
    config["miniimagenet"]["demo"].update(classes=3, train_per_class=8, val_per_class=4)
    config["jacquard"]["demo"].update(objects_per_class=3, views_per_object=1, size=128)
    config["grasp"].update(epochs=1, vis_samples=2)
    config["wlasl"].update(size=32, demo={"glosses": 3, "train": 3, "val": 2, "test": 2})
    [slr_run] = config["slr"]["runs"]
    slr_run.update(split="asl3", training={"batch_size": 4, "max_epoch": 1},
                   data={"num_frames": 4, "frame_size": 28})  # fmt: skip
    models = {"grasp": ["cls", "grasp"], "cornet": ["outer1", "outer2"]}
    compare = {"grasp": [["cls", "grasp"]], "cornet": [["outer1", "outer2"]]}
    shapley = {"models": {"grasp": ["cls"], "cornet": ["outer2"]}, "per_class": 1, "shards": 2,
               "rounds": 2, "iterations": 2, "top_k": 3}  # fmt: skip
    attribution = {"models": {"grasp": ["cls"], "cornet": ["outer2"]}, "per_class": 1,
                   "filters": 2, "am": {"filters": 4, "size": 24, "steps": 3}}  # fmt: skip
    clip = {"arch": "tiny-clip", "arch_config": str(TINY_CLIP), "sheet_size": 4,
            "weights": str(tiny_clip_weights(workdir / "tiny-clip.pt"))}  # fmt: skip
    config["analysis"] = {"rsm": {"models": models, "compare": compare, "per_class": 2},
                          "shapley": shapley, "attribution": attribution, "clip": clip}  # fmt: skip
    config["cvat"]["demo"] = {"tasks": 2, "frames_per_task": 12, "size": 64}
    config["cvat"]["split"].update(clusters=2, perplexity=5)
    config["detection"].update(image_size=64, max_train_epochs=2)
    config["detection"]["hpo"].update(search_epochs=1, max_num_trials=2, num_initial_data_points=1)
    saliency = config["saliency"]
    saliency.update(size=[32, 32], demo={"images": 40, "size": 48})
    for stage in ("pretrain_one_task", "train_catchup", "train"):
        saliency[stage].update(epochs=1, batches_per_task_train=2, batches_per_task_val=1)
    saliency["train"].update(decay_epochs=[], freeze_encoder_epochs=1)
    return config


def tiny_workflow(root: Path) -> Path:
    """A workflow copy in `root` running the tiny config."""
    workdir = workflow_copy(root)
    write_config(workdir, tiny_config(workdir))
    return workdir


def copy_run(workdir: Path, target: Path) -> Path:
    """A copy of a workflow folder with its outputs, timestamps and Snakemake metadata."""
    shutil.copytree(workdir, target, symlinks=True)
    return target


def tiny_settings(**overrides) -> dict:
    """CORnet run settings small enough for seconds on one core."""
    settings = {
        "seed": 0, "model": "S100", "outer_times": 2, "width": 0.125, "pretrained": None,
        "epochs": 3, "batch_size": 8, "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4,
        "step_size": 2, "gamma": 0.1, "crop_size": 32, "resize_size": 36, "min_crop_scale": 0.35,
        "workers": 0, "devices": 1,
    }  # fmt: skip
    return settings | overrides


def slr_settings(**overrides) -> dict:
    """An SLR run small enough for seconds on one core: R(2+1)D_18, 4 frames of 28 px."""
    settings = {
        "model": "R(2+1)D_18", "split": "asl4", "exp": 1, "seed": 0,
        "training": {"batch_size": 4, "update_per_step": 1, "max_epoch": 2},
        "optimizer": {"eps": 1e-8, "backbone_init_lr": 1e-3, "backbone_weight_decay": 1e-4,
                      "classifier_init_lr": 1e-3, "classifier_weight_decay": 1e-4},
        "model_params": {"drop_p": 0.2},
        "scheduler": {"type": "CosineAnnealingLR", "tmax": 2, "eta_min": 0.0},
        "data": {"num_frames": 4, "frame_size": 28},
        "early_stopping": None, "pretrained": None, "save_every": 1, "workers": 0, "devices": 1,
    }  # fmt: skip
    return settings | overrides


def cornet_train_command(store: Path, run_dir: Path, settings: dict) -> list[str]:
    """`visionflow cornet train` of one run, as the workflow calls it."""
    return [*VISIONFLOW, "--threads", "1", "cornet", "train", "--data", str(store),
            "--run-dir", str(run_dir), "--settings", json.dumps(settings)]  # fmt: skip


PUBLISHED = ("best.ckpt", "final.ckpt")  # the checkpoints rules read, copies of their epoch's


def assert_one_file_per_checkpoint(run_dir: Path) -> None:
    """No two checkpoint files of a run hold the same bytes unless they are one file (hard
    links), but for the published best.ckpt or final.ckpt: a copy, which DVC can track."""
    files: dict[tuple[int, int], Path] = {}
    for path in sorted((run_dir / "checkpoints").glob("*.ckpt")):
        if path.name in PUBLISHED:
            continue
        files.setdefault((path.stat().st_dev, path.stat().st_ino), path)
    by_digest: dict[str, list[str]] = {}
    for path in files.values():
        by_digest.setdefault(sha256_file(path), []).append(path.name)
    copies = [names for names in by_digest.values() if len(names) > 1]
    assert not copies, f"identical checkpoint copies in {run_dir}: {copies}"


def comparable(metrics_csv: Path) -> pd.DataFrame:
    """metrics.csv without the wall-clock column, which legitimately differs."""
    return pd.read_csv(metrics_csv).drop(columns="duration")


def kill_then_resume(command: list[str], run_dir: Path, epochs: int, pause: float) -> None:
    """Run `command`, SIGKILL it `pause` s after its first last.ckpt, then run it to the end."""
    proc = subprocess.Popen(command, env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(pause)  # into the second epoch
    assert proc.poll() is None, "run finished before it could be killed"
    proc.kill()
    proc.wait()
    assert safe_torch_load(last)["epoch"] < epochs - 1
    subprocess.run(command, env=subprocess_env(), check=True, capture_output=True)


def prediction_table(rows) -> pd.DataFrame:
    """Prediction rows from (task, frame, label, score, box)."""
    records = [
        {"task": task, "frame": frame, "label": label, "score": score,
         **dict(zip(["xmin", "ymin", "xmax", "ymax"], box, strict=True))}
        for task, frame, label, score, box in rows
    ]  # fmt: skip
    columns = ["task", "frame", "label", "score", "xmin", "ymin", "xmax", "ymax"]
    return pd.DataFrame(records, columns=columns).astype({"frame": "int64", "score": float})


def draw(fig):
    """Draw a saved (and closed) figure again; its renderer, for extents in display pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return renderer


def drawn_texts(fig) -> dict[str, object]:
    """Every non-empty title, suptitle, label and tick label as drawn: text -> its extent in
    display pixels (the figure spans (0, 0) to fig.bbox's width and height)."""
    renderer = draw(fig)
    artists = [fig._suptitle] if fig._suptitle else []
    for ax in fig.axes:
        artists += [ax.title, ax.xaxis.label, ax.yaxis.label]
        for axis, coordinate in ((ax.xaxis, 0), (ax.yaxis, 1)):
            low, high = sorted(axis.get_view_interval())
            artists += [label for label in axis.get_ticklabels()
                        if low <= label.get_position()[coordinate] <= high]  # fmt: skip
    return {a.get_text(): a.get_window_extent(renderer) for a in artists if a.get_text()}


def assert_texts_inside(fig) -> None:
    """No title, label or tick label is cut off by the figure's edge."""
    for text, box in drawn_texts(fig).items():
        assert box.x0 >= 0 and box.y0 >= 0, text
        assert box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height, text


def assert_suptitle_clear(fig) -> None:
    """The figure's title overlaps no panel and no panel title."""
    renderer = draw(fig)
    title = fig._suptitle.get_window_extent(renderer)
    for ax in fig.axes:
        assert not title.overlaps(ax.get_window_extent(renderer)), ax.get_title()
        if ax.get_title():
            assert not title.overlaps(ax.title.get_window_extent(renderer)), ax.get_title()


def texts(fig) -> list[str]:
    """Every title, suptitle, axis label and text drawn on a figure, for content checks."""
    found = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        found += [t.get_text() for t in ax.texts]
        found += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend:
            found += [t.get_text() for t in legend.get_texts()]
    return [t for t in found if t]


# The original NeuroVis weights (GrTrainer_paperspace trained-models/
# alexnetMap_{cls,grasp}_top5_v3.2.2_epoch150.pth): a bare state dict of AlexnetMap_v3, these
# 22 float32 tensors in this order (ConvTranspose2d weights are in, out, k, k).
ALEXNETMAP_V3 = (
    ("rgb_features.0.weight", (64, 3, 11, 11)), ("rgb_features.0.bias", (64,)),
    ("d_features.0.weight", (64, 3, 11, 11)), ("d_features.0.bias", (64,)),
    ("features.0.weight", (32, 128, 5, 5)), ("features.0.bias", (32,)),
    ("features.4.weight", (64, 32, 3, 3)), ("features.4.bias", (64,)),
    ("features.7.weight", (64, 64, 3, 3)), ("features.7.bias", (64,)),
    ("features.10.weight", (64, 64, 3, 3)), ("features.10.bias", (64,)),
    ("features.13.weight", (64, 32, 3, 3)), ("features.13.bias", (32,)),
    ("features.15.weight", (32, 32, 5, 5)), ("features.15.bias", (32,)),
    ("features.17.weight", (32, 16, 3, 3)), ("features.17.bias", (16,)),
    ("grasp.0.weight", (16, 5, 11, 11)), ("grasp.0.bias", (5,)),
    ("confidence.0.weight", (16, 1, 11, 11)), ("confidence.0.bias", (1,)),
)  # fmt: skip


def original_neurovis_weights(path: Path, seed: int = 0) -> Path:
    """A file laid out as the original's shipped NeuroVis .pth: the ALEXNETMAP_V3 tensors
    (random, seeded) in a bare OrderedDict, one conv1 shared by the RGB and depth branches,
    saved with every storage tagged `cuda:0` as `torch.save` on the GPU writes them."""
    from collections import OrderedDict

    from torch import serialization

    generator = torch.Generator().manual_seed(seed)
    state = OrderedDict(
        (key, 0.05 * torch.randn(shape, generator=generator)) for key, shape in ALEXNETMAP_V3
    )
    for name in ("weight", "bias"):  # the shipped files share conv1 between both branches
        state[f"d_features.0.{name}"] = state[f"rgb_features.0.{name}"].clone()

    def on_cuda(storage: object) -> str:
        return "cuda:0"

    serialization.register_package(1, on_cuda, lambda storage, location: None)
    try:
        torch.save(state, path)
    finally:
        registry = serialization._package_registry
        registry[:] = [entry for entry in registry if entry[1] is not on_cuda]
    return path
