"""`visionflow saliency <verb>`: the saliency hypernetwork stages, their tests and runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from visionflow.cli_util import add_verb as _add
from visionflow.cli_util import emit_yaml
from visionflow.io import BadInputError, atomic_directory, write_table


def _demo_saliency(args: argparse.Namespace) -> None:
    from visionflow.demo.saliency import generate

    generate(args.out, images=args.images, size=args.size, seed=args.seed)


def _prepare(args: argparse.Namespace) -> None:
    from visionflow.data.saliency import prepare

    prepare(args.root, args.out, tuple(args.size), tuple(args.splits), args.seed,
            args.on_bad_sample, args.workers)  # fmt: skip


def _stage(args: argparse.Namespace) -> None:
    from visionflow.train.saliency import train_stage

    settings = json.loads(args.settings)
    weights = None
    if args.weights:
        weights = {Path(path).stem: str(path) for path in args.weights}
    train_stage(args.stage, args.store, args.run_dir, settings, args.previous, weights)


def _test(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.train.saliency_eval import evaluate_export

    table = evaluate_export(args.export, args.store, args.split, args.batch_size)
    write_table(args.out, table)
    plots.plot_saliency_metrics(table, args.figure, title=f"{args.name}: {args.split} split")
    print(table.to_string(index=False))


def _run(args: argparse.Namespace) -> None:
    from PIL import Image

    from visionflow import plots
    from visionflow.train.saliency_eval import read_images, run_export

    names, images = read_images(args.images, tuple(args.size))
    maps = run_export(args.export, images)
    with atomic_directory(args.out) as staging:
        for task, task_maps in maps.items():
            (staging / task).mkdir()
            for name, saliency in zip(names, task_maps, strict=True):
                Image.fromarray(saliency).save(staging / task / f"{name}.png")
    shown = slice(0, args.shown)
    plots.plot_saliency_grid(names[shown], images[shown].permute(0, 2, 3, 1).numpy(),
                             {task: m[shown] for task, m in maps.items()}, args.figure)  # fmt: skip


def _summary(args: argparse.Namespace) -> None:
    from visionflow import plots

    grid = json.loads(args.grid)
    if len(grid) != len(args.tables):
        raise BadInputError(args.tables[0], f"{len(args.tables)} tables for {len(grid)} points")
    rows = []
    for point, (overrides, path) in enumerate(zip(grid, args.tables, strict=True)):
        means = pd.read_csv(path).drop(columns=["task", "images"]).mean(numeric_only=True)
        rows.append({"point": f"gp{point}", **overrides, **means.to_dict()})
    table = pd.DataFrame(rows)
    write_table(args.out, table)
    plots.plot_saliency_summary(table, args.figure)
    print(table.to_string(index=False))


def _export_weights(args: argparse.Namespace) -> None:
    from visionflow.io import save_torch
    from visionflow.train.saliency import load_export

    model, settings = load_export(args.export)
    shared = dict(model.model.state_dict())
    for task_id, task in enumerate(settings["tasks"]):
        weights = shared | {k: v.detach() for k, v in model.weights_for(task_id).items()}
        save_torch(args.out / f"{task}.pt", weights)
    print(f"wrote {len(settings['tasks'])} main-network state dicts to {args.out}")


def _import_config(args: argparse.Namespace) -> None:
    from visionflow.train.saliency_config import import_config

    emit_yaml({"saliency": import_config(args.config, args.grid)}, args.out)


def add_saliency_area(areas: argparse._SubParsersAction, demo_verbs) -> None:
    """`visionflow demo saliency` and `visionflow saliency ...`."""
    p = _add(demo_verbs, "saliency", _demo_saliency, "images and per-task saliency maps")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--images", type=int, default=48)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--seed", type=int, default=0)

    saliency = areas.add_parser("saliency", help="saliency hypernetworks (kdsalbox)")
    verbs = saliency.add_subparsers(dest="verb", required=True)
    p = _add(verbs, "prepare", _prepare, "resize images and task maps into a store")
    p.add_argument("--root", type=Path, required=True, help="images/ and saliencies/<task>/")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", type=int, nargs=2, default=[192, 256], metavar=("H", "W"))
    p.add_argument("--splits", type=float, nargs=3, default=[0.7, 0.15, 0.15])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--on-bad-sample", choices=["error", "skip"], default="error")
    p.add_argument("--workers", type=int, default=1)
    p = _add(verbs, "stage", _stage, "run one training stage (resumes if interrupted)")
    p.add_argument("stage", choices=["pretrain_weights", "pretrain_one_task", "train_catchup",
                                     "train"])  # fmt: skip
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--settings", required=True, help="JSON: tasks, model, seed, the stage's")
    p.add_argument("--previous", type=Path, help="the previous stage's export.pt")
    p.add_argument("--weights", type=Path, nargs="+", help="pretrain_weights: <task>.pt files")
    p = _add(verbs, "test", _test, "BCE/NSS/CC/SIM/KL per task of an export")
    p.add_argument("--export", type=Path, required=True)
    p.add_argument("--store", type=Path, required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--name", default="saliency", help="for the figure title")
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--figure", type=Path, required=True)
    p = _add(verbs, "run", _run, "saliency maps of a folder of images for every task")
    p.add_argument("--export", type=Path, required=True)
    p.add_argument("--images", type=Path, required=True)
    p.add_argument("--size", type=int, nargs=2, default=[192, 256], metavar=("H", "W"))
    p.add_argument("--out", type=Path, required=True, help="folder: <task>/<image>.png")
    p.add_argument("--figure", type=Path, required=True)
    p.add_argument("--shown", type=int, default=6, help="images in the figure")
    p = _add(verbs, "summary", _summary, "grid points side by side")
    p.add_argument("tables", type=Path, nargs="+", help="each point's test metrics.csv")
    p.add_argument("--grid", required=True, help="JSON list of each point's overrides")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--figure", type=Path, required=True)
    p = _add(verbs, "export-weights", _export_weights,
             "per-task main-network state dicts of an export (for pretrain_weights)")  # fmt: skip
    p.add_argument("export", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for <task>.pt")
    p = _add(verbs, "import-config", _import_config,
             "the original's config.json (+ gridsearch.json) as a config section")  # fmt: skip
    p.add_argument("config", type=Path)
    p.add_argument("--grid", type=Path, help="gridsearch.json")
    p.add_argument("--out", type=Path, help="also write the YAML here")
