"""`visionflow preflight`: everything a config needs before cluster hours are spent, checked
in a minute: data roots and named files (the start-up check), each root's layout and first
samples, weights that load, each model's training step at full size (memory per GPU, FLOPs),
the disk the stores and checkpoints will take, and the jobs and GPU hours of `all`. Every
problem is collected; none stops the others."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from snakemake.utils import update_config

from visionflow.config import checked
from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.catalog import CORNET_FEEDBACK, CORNET_RECURRENT
from visionflow.preflight import DATASETS, budget, samples, startup
from visionflow.preflight.estimate import StepCost, step_cost

DEFAULT_CONFIG = "config/config.yaml"
SCHEMA = "workflow/schemas/config.schema.yaml"
WEIGHTS_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".tar")
# Prepared store bytes per raw byte, measured by `make bench-scale` (bench/RESULTS.md) and
# rounded up: MiniImageNet keeps uint8 pixels at short side 256 (2.27x the real 112 KB mean
# JPEG), WLASL re-encodes clips at the stored size (1.38x), Jacquard reads half of each view's
# files (0.51x), CVAT stores only the annotation table (its frames stay raw); saliency, not
# measured, gets the 2x bound every store is meant to keep.
STORE_RATIO = {"miniimagenet": 2.3, "wlasl": 1.4, "jacquard": 0.55, "cvat": 0.001}
STORE_BOUND = 2.0
# Studies whose step is not estimated, and why (they are still built and run by the tests).
STEPS_UNESTIMATED = {
    "detection": "the detector's size follows its search and the data's image sizes",
    "saliency": "the hypernetwork's generated layers follow its grid points",
}
CHECKPOINTS_PER_RUN = 2  # best.ckpt and last.ckpt
GB = 1e9
MINIIMAGENET_CLASSES = 100  # the CORnet head's width before the store says otherwise


@dataclass
class Report:
    """What preflight found: lines to read and the problems that stop a run."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One model's training step: label, builder, batch builder, global batch size, optimizer
    states per parameter, number of runs, epochs, config section (of `devices`, `nodes`),
    key of the batch size and, for SLR, the WLASL split it trains on."""

    label: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[int], tuple[torch.Tensor, ...]]
    batch_size: int
    optimizer_states: int
    runs: int
    epochs: int
    section: str
    batch_key: str
    split: str = ""


def world_size(section: Mapping[str, Any]) -> int:
    """Data-parallel processes of a training section (`devices: auto` counts as one GPU)."""
    devices = section["devices"]
    return (devices if isinstance(devices, int) and devices > 0 else 1) * section["nodes"]


def load_config(configfile: str | None) -> dict[str, Any]:
    """The workflow config as Snakemake sees it: the demo config, updated by `configfile`."""
    files = [DEFAULT_CONFIG] + ([configfile] if configfile and configfile != DEFAULT_CONFIG else [])
    config: dict[str, Any] = {}
    for name in files:
        try:
            update_config(config, yaml.safe_load(Path(name).read_text()) or {})
        except OSError as exc:
            raise BadInputError(name, f"config file cannot be read ({exc.strerror})") from None
    return checked(config, SCHEMA, files, {})


def training_steps(config: Mapping[str, Any]) -> Iterator[Step]:
    """The training step of every active study whose model size the config fixes."""
    from visionflow.experiments.cornet.training import build_model as cornet
    from visionflow.models import video
    from visionflow.models.grasp import AlexnetMap

    active = config["experiments"]
    if "cornet" in active:
        c = config["cornet"]
        hparams = {"model": c["model"], "num_classes": MINIIMAGENET_CLASSES, "width": c["width"]}
        runs = 1  # R, RT, S, Z: one run; S100: one per outer_times value, the largest costs most
        if c["model"] == CORNET_FEEDBACK:
            hparams["outer_times"], runs = max(c["outer_times"]), len(c["outer_times"])
        elif c["model"] in CORNET_RECURRENT:
            hparams["times"] = c["times"]
        crop = c["crop_size"]
        yield Step("cornet", lambda: cornet(hparams), lambda b: (torch.empty(b, 3, crop, crop),),
                   c["batch_size"], 1, runs, c["epochs"], "cornet",
                   "cornet.batch_size")  # fmt: skip
    if "grasp" in active:
        g, size = config["grasp"], config["jacquard"]["size"]
        yield Step("grasp", lambda: AlexnetMap(g["dropout"]),
                   lambda b: (torch.empty(b, 3, size, size), torch.empty(b, 1, size, size)),
                   g["batch_size"], 2, len(g["tasks"]), g["epochs"], "grasp",
                   "grasp.batch_size")  # fmt: skip
    if "slr" in active:
        for index, run in enumerate(config["slr"]["runs"]):
            yield _slr_step(index, run, video)


def _slr_step(index: int, run: Mapping[str, Any], video: Any) -> Step:
    """The training step of one SLR queue entry (AdamW: two states per parameter)."""
    classes = int(run["split"].removeprefix("asl"))
    frames, size = run["data"]["num_frames"], run["data"]["frame_size"]
    drop = run.get("model_params", {}).get("drop_p")
    label = f"slr {run['split']} {run['model']}"
    return Step(label, lambda: video.build(run["model"], classes, drop),
                lambda b: (torch.empty(b, 3, frames, size, size),),
                run["training"]["batch_size"], 2, 1, run["training"]["max_epoch"], "slr",
                f"slr.runs.{index}.training.batch_size", run["split"])  # fmt: skip


def check_weights(config: Mapping[str, Any], report: Report) -> None:
    """Every weights file the active studies name, loaded (weights only, on the CPU)."""
    for study, key, path in startup.named_files(config):
        named = path and os.path.isfile(path) and str(path).endswith(WEIGHTS_SUFFIXES)
        if study in config["experiments"] and named:
            try:
                safe_torch_load(path)
                report.lines.append(f"weights {'.'.join(map(str, key))}: {path} loads")
            except BadInputError as exc:
                report.problems.append(f"{'.'.join(map(str, key))}: {exc}")


def check_steps(config: Mapping[str, Any], report: Report) -> list[tuple[Step, StepCost]]:
    """Each model's step on one device's share of the batch against the configured GPU
    memory; the cost kept is the whole step's (FLOPs of every device)."""
    limits = config["preflight"]
    costs = []
    for step in training_steps(config):
        world = world_size(config[step.section])
        if step.batch_size % world:
            report.problems.append(f"{step.batch_key}: the global batch {step.batch_size} does"
                                   f" not divide over {world} devices")  # fmt: skip
            continue
        share = step.batch_size // world
        try:
            cost = step_cost(step.build, step.inputs, share, step.optimizer_states)
        except (RuntimeError, ValueError) as exc:
            report.problems.append(f"{step.label}: one training step fails ({exc})")
            continue
        costs.append((step, StepCost(cost.parameters, cost.memory_bytes, cost.flops * world)))
        memory = cost.memory_bytes / GB
        per_device = f", {share} per device" if world > 1 else ""
        report.lines.append(
            f"model {step.label}: {cost.parameters:,} parameters, batch {step.batch_size}"
            f"{per_device}: {memory:.2f} GB per GPU, {cost.flops * world / 1e12:.3f} TFLOP"
            " per step"
        )
        if memory > limits["gpu_memory_gb"]:
            report.problems.append(
                f"{step.label}: a batch of {share} needs about {memory:.1f} GB per GPU,"
                f" more than preflight.gpu_memory_gb ({limits['gpu_memory_gb']:g})"
            )
    estimated = {step.label.split()[0] for step, _ in costs}
    for study in config["experiments"]:
        if study in STEPS_UNESTIMATED and study not in estimated:
            report.lines.append(f"model {study}: not estimated ({STEPS_UNESTIMATED[study]})")
    return costs


def raw_bytes(root: str) -> int:
    """Bytes of every file under a data root (0 if it does not exist)."""
    return sum(
        os.path.getsize(os.path.join(folder, name))
        for folder, _, names in os.walk(root)
        for name in names
    )


def existing_parent(path: str) -> str:
    """`path`, or its nearest existing parent folder."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def check_disk(
    config: Mapping[str, Any], costs: list[tuple[Step, StepCost]], report: Report
) -> None:
    """Stores (raw size times the measured store ratio) and checkpoints against the free disk
    where the stores will be written."""
    stores = 0.0
    for study, dataset in DATASETS.items():
        root = config[dataset]["root"]
        if study in config["experiments"] and os.path.isdir(root):
            stores += raw_bytes(root) * STORE_RATIO.get(dataset, STORE_BOUND)
    checkpoints = sum(
        step.runs * CHECKPOINTS_PER_RUN * 4 * cost.parameters * (1 + step.optimizer_states)
        for step, cost in costs
    )
    margin = config["preflight"]["disk_margin"]
    folder = existing_parent(budget.PREPARED)
    free = shutil.disk_usage(folder).free
    needed = (stores + checkpoints) * margin
    report.lines.append(
        f"disk: stores {stores / GB:.2f} GB + checkpoints {checkpoints / GB:.2f} GB,"
        f" x{margin:g} margin = {needed / GB:.2f} GB; {free / GB:.1f} GB free at {folder}"
    )
    if needed > free:
        report.problems.append(
            f"preflight.disk_margin: {needed / GB:.2f} GB needed (with the margin),"
            f" {free / GB:.1f} GB free"
        )


def check_data(config: Mapping[str, Any], report: Report) -> None:
    """The layout and first samples of every active, existing data root."""
    for dataset, found in samples.check_roots(config).items():
        key = f"{dataset}.root"
        report.problems += [f"{key}: {path}: {why}" for path, why in found.problems]
        report.lines += [f"{key}: {path}: {why}" for path, why in found.notes]
        report.lines.append(f"data {key}: layout read, {found.read} samples read in full")


def runs(count: int) -> str:
    """`count` training runs, in words ("1 run", "4 runs")."""
    return f"{count} run" + ("" if count == 1 else "s")


def gpu_hours(
    config: Mapping[str, Any], costs: list[tuple[Step, StepCost]], report: Report
) -> None:
    """GPU hours of every training run (epochs x steps per epoch x the step's FLOPs at the
    configured TFLOP/s), per 1,000 samples where the data cannot be counted; the total."""
    tflops = config["preflight"]["gpu_tflops"] * 1e12
    total, uncounted = 0.0, []
    for step, cost in costs:
        epoch_step_hours = cost.flops / tflops / 3600 * step.epochs * step.runs
        count = budget.training_samples(config, step.section, step.split)
        if count is None:
            uncounted.append(step.label)
            per_1000 = epoch_step_hours * math.ceil(1000 / step.batch_size)
            report.lines.append(f"gpu hours {step.label}: {per_1000:.2f} per 1,000 training"
                                f" samples ({runs(step.runs)} x {step.epochs} epochs; its data"
                                " cannot be counted)")  # fmt: skip
            continue
        hours = epoch_step_hours * math.ceil(count / step.batch_size)
        total += hours
        report.lines.append(
            f"gpu hours {step.label}: {hours:.2f} ({runs(step.runs)} x {step.epochs} epochs x"
            f" {math.ceil(count / step.batch_size)} steps of {count:,} training samples)"
        )
    unestimated = [study for study in config["experiments"] if study in STEPS_UNESTIMATED]
    report.lines.append(
        f"gpu hours total: {total:.2f} at {tflops / 1e12:g} TFLOP/s (preflight.gpu_tflops)"
        + (f"; without {', '.join(uncounted)} (data not counted)" if uncounted else "")
        + (f"; without {', '.join(unestimated)} (not estimated)" if unestimated else "")
    )


def count_jobs(
    config: Mapping[str, Any],
    costs: list[tuple[Step, StepCost]],
    missing: list[list[Any]],
    report: Report,
) -> None:
    """Jobs and GPU jobs of the `all` target from Snakemake's dry run, with empty stand-ins
    for the `missing` roots and files; without a DAG, why, and the config's training runs."""
    planned = budget.dry_run(config, missing)
    if isinstance(planned, str):
        runs = ", ".join(f"{step.label} {step.runs}" for step, _ in costs) or "none estimated"
        report.lines.append(f"jobs: the DAG of `all` cannot be built ({planned});"
                            f" training runs from the config: {runs}")  # fmt: skip
        return
    stand_ins = f" (stand-ins for the {len(missing)} missing roots and files)" if missing else ""
    report.lines.append(f"jobs: {planned[0]} for `all`, {planned[1]} of them on a GPU{stand_ins}")


def preflight(config: Mapping[str, Any]) -> Report:
    """Run every check on a validated config."""
    report = Report()
    missing = startup.problems(config)
    report.problems += [f"{'.'.join(map(str, key))}: {why}" for key, why in missing]
    check_data(config, report)
    check_weights(config, report)
    costs = check_steps(config, report)
    check_disk(config, costs, report)
    gpu_hours(config, costs, report)
    count_jobs(config, costs, [key for key, _ in missing], report)
    return report
