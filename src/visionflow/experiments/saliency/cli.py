"""`visionflow saliency <verb>`: prepare the store, train the hypernetwork stage by stage, test,
run on new images, score evaluation sets, summarize the grid, import the original's config."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common
from visionflow.experiments.saliency import STAGES

STORE = "prepared saliency store"
PROCESSING = "JSON: {preprocess: {...}, postprocess: {...}}, the original's options (default {})"


def weights_by_task(paths: list[Path], tasks: list[str]) -> dict[str, str]:
    """pretrain_weights' files by task: each file stem names a task, case aside (the
    original's students are `<TASK>/exported/<task lower>.pth`)."""
    from visionflow.io import BadInputError

    by_name = {task.lower(): task for task in tasks}
    found = {}
    for path in paths:
        if path.stem.lower() not in by_name:
            raise BadInputError(path, f"the file name names none of the tasks {tasks}")
        found[by_name[path.stem.lower()]] = str(path)
    return found


def _prepare(args: argparse.Namespace) -> None:
    from visionflow.data.saliency import prepare

    prepare(
        args.root,
        args.out,
        tuple(args.size),
        tuple(args.splits),
        args.seed,
        args.on_bad_sample,
        args.workers,
    )


def _train(args: argparse.Namespace) -> None:
    from visionflow.experiments.saliency.training import train

    weights = weights_by_task(args.weights, args.settings["tasks"]) if args.weights else None
    train(args.data, args.run_dir, args.settings, args.stage, args.previous, weights)


def _test(args: argparse.Namespace) -> None:
    from visionflow.experiments.saliency.evaluation import evaluate
    from visionflow.experiments.saliency.figures import plot_saliency_metrics
    from visionflow.io import write_table

    table, images = evaluate(
        args.export, args.data, args.split, args.batch_size, args.tasks, args.processing
    )
    plot_saliency_metrics(table, args.figure, title=f"{args.name}: {args.split} split")
    if args.per_image:
        write_table(args.per_image, images)
    common.emit_table(table, args.out)


def _run(args: argparse.Namespace) -> None:
    from visionflow.experiments.saliency.evaluation import read_images, run_maps, save_maps
    from visionflow.experiments.saliency.figures import plot_saliency_grid

    names, images = read_images(args.images, tuple(args.size))
    maps = run_maps(args.export, images, args.tasks, args.processing.get("postprocess"))
    save_maps(args.out, names, maps)
    shown = slice(0, args.shown)
    plot_saliency_grid(
        names[shown],
        images[shown].permute(0, 2, 3, 1).numpy(),
        {task: m[shown] for task, m in maps.items()},
        args.figure,
    )


def _eval(args: argparse.Namespace) -> None:
    from visionflow.experiments.saliency.evaluation import evaluate_sets
    from visionflow.experiments.saliency.tables import table1, table2
    from visionflow.io import BadInputError, atomic_directory, write_table, write_text

    sets = args.settings["sets"]
    if not sets:
        raise BadInputError("saliency.eval.sets", "no evaluation set given")
    results = evaluate_sets(args.export, sets, args.settings["tasks"], args.processing)
    tasks = list(results[sets[0]["name"]]["Model"])
    groups: dict[str, list[str]] = {}
    for entry in sets:
        groups.setdefault(entry["group"], []).append(entry["name"])
    with atomic_directory(args.out) as staging:
        for name, table in results.items():
            write_table(staging / f"{name}.csv", table)
        columns = args.settings["table1"] or [entry["name"] for entry in sets[:2]]
        write_text(staging / "table1.tex", table1(results, columns, tasks))
        write_text(staging / "table2.tex", table2(results, groups, tasks))
    print(f"wrote {len(results)} evaluation sets and table1.tex, table2.tex to {args.out}")


def _summarize(args: argparse.Namespace) -> None:
    from visionflow.experiments.saliency.evaluation import summarize
    from visionflow.experiments.saliency.figures import plot_saliency_summary

    table = summarize(args.tables, args.grid)
    plot_saliency_summary(table, args.grid, args.figure)
    common.emit_summary(table, args.out)


def _export_weights(args: argparse.Namespace) -> None:
    from visionflow.experiments.saliency.evaluation import task_weights
    from visionflow.io import save_torch

    weights = task_weights(args.export)
    for task, state in weights.items():
        save_torch(args.out / f"{task}.pt", state)
    print(f"wrote {len(weights)} main-network state dicts to {args.out}")


def _import_config(args: argparse.Namespace) -> None:
    from visionflow.experiments.saliency.importer import import_config

    common.emit_yaml({"saliency": import_config(args.config, args.grid)}, args.out)


def _add_tasks(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks", type=common.json_value, default=None, help="JSON list of tasks (default all)"
    )


def _add_settings(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--settings", type=common.json_object, required=True, help=f"JSON: {what}")


def _add_size(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--size",
        type=int,
        nargs=2,
        default=[192, 256],
        metavar=("H", "W"),
        help=f"{what} (default 192 256)",
    )


def register(areas: common.Areas) -> None:
    """`visionflow saliency ...`."""
    verbs = common.add_area(areas, "saliency", "saliency hypernetworks (kdsalbox)")
    p = common.add_verb(verbs, "prepare", _prepare, "resize images and task maps into a store")
    p.add_argument("--root", type=Path, required=True, help="images/ and saliencies/<task>/")
    p.add_argument("--out", type=Path, required=True, help="prepared store directory")
    _add_size(p, "stored size")
    p.add_argument(
        "--splits",
        type=float,
        nargs=3,
        default=[0.7, 0.15, 0.15],
        help="train/val/test fractions (default 0.7 0.15 0.15)",
    )
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    common.add_conversion(p)
    p = common.add_verb(verbs, "train", _train, "run one training stage (resumes if interrupted)")
    p.add_argument("stage", choices=STAGES)
    common.add_data(p, STORE)
    p.add_argument("--run-dir", type=Path, required=True, help="the stage's folder to write")
    _add_settings(p, "tasks, model, seed, the stage's")
    p.add_argument("--previous", type=Path, help="the previous stage's export.pt")
    p.add_argument("--weights", type=Path, nargs="+", help="pretrain_weights: <task>.pt files")
    p = common.add_verb(verbs, "test", _test, "BCE/NSS/CC/SIM/KL per task of an export")
    p.add_argument("--export", type=Path, required=True, help="a stage's export.pt")
    common.add_data(p, STORE)
    p.add_argument("--split", default="test", help="split of the store (default test)")
    p.add_argument("--batch-size", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--name", default="saliency", help="for the figure title (default saliency)")
    _add_tasks(p)
    p.add_argument("--processing", type=common.json_object, default={}, help=PROCESSING)
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--per-image", type=Path, help="also write the metrics of every image here")
    p.add_argument("--figure", type=Path, required=True, help="PNG to write")
    p = common.add_verb(verbs, "run", _run, "saliency maps of a folder of images for every task")
    p.add_argument("--export", type=Path, required=True, help="a stage's export.pt")
    p.add_argument("--images", type=Path, required=True, help="folder of images")
    _add_size(p, "size the images are resized to")
    p.add_argument("--out", type=Path, required=True, help="folder: <task>/<image>.png")
    p.add_argument("--figure", type=Path, required=True, help="PNG to write")
    p.add_argument("--shown", type=int, default=6, help="images in the figure (default 6)")
    _add_tasks(p)
    p.add_argument("--processing", type=common.json_object, default={}, help=PROCESSING)
    p = common.add_verb(verbs, "eval", _eval, "CC and KL of evaluation sets, and LaTeX tables")
    p.add_argument("--export", type=Path, required=True, help="a stage's export.pt")
    _add_settings(p, "sets [{name, group, root}], tasks (null: all), table1 (set names)")
    p.add_argument("--processing", type=common.json_object, default={}, help=PROCESSING)
    p.add_argument("--out", type=Path, required=True, help="folder: <set>.csv, table1/2.tex")
    p = common.add_verb(verbs, "summarize", _summarize, "grid points side by side")
    p.add_argument("tables", type=Path, nargs="+", help="each point's test metrics.csv")
    p.add_argument(
        "--grid", type=common.json_value, required=True, help="JSON list of each point's overrides"
    )
    p.add_argument("--out", type=Path, required=True, help="summary CSV to write")
    p.add_argument("--figure", type=Path, required=True, help="PNG to write")
    p = common.add_verb(
        verbs,
        "export-weights",
        _export_weights,
        "per-task main-network state dicts of an export (for pretrain_weights)",
    )
    p.add_argument("export", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder for <task>.pt")
    p = common.add_verb(
        verbs,
        "import-config",
        _import_config,
        "the original's config.json (+ gridsearch.json) as a config section",
    )
    p.add_argument("config", type=Path)
    p.add_argument("--grid", type=Path, help="gridsearch.json")
    p.add_argument("--out", type=Path, help="also write the YAML here")
