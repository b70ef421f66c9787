"""`visionflow grasp <verb>`: train, test, visualise, plot and summarize NeuroVis runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common
from visionflow.experiments.grasp import TASKS

STORE = "prepared Jacquard store"


def _test(args: argparse.Namespace) -> None:
    from visionflow.experiments.grasp.evaluation import evaluate

    metrics = evaluate(args.ckpt, args.data, args.split, args.batch_size, args.workers, args.task)
    common.emit_json(metrics, args.out)


def _vis(args: argparse.Namespace) -> None:
    from visionflow.data.jacquard.store import PackedJacquard
    from visionflow.experiments.grasp.evaluation import load, prediction_panels
    from visionflow.experiments.grasp.figures import plot_class_maps, plot_prediction_grid

    module = load(args.ckpt, args.task)
    panels = prediction_panels(module, args.data, args.samples)
    if module.hparams.task == "cls":
        classes = PackedJacquard(args.data, "test").classes
        plot_class_maps(panels, args.out, [classes[k] for k in sorted(classes)])
    else:
        plot_prediction_grid(panels, args.out)


def _confusion(args: argparse.Namespace) -> None:
    from visionflow.experiments.grasp.evaluation import confusion, load
    from visionflow.figures import plot_confusion_matrix

    matrix, names = confusion(load(args.ckpt, args.task), args.data)
    plot_confusion_matrix(matrix, names, args.out, title="CLS confusion")


def _plot(args: argparse.Namespace) -> None:
    from visionflow.engine.recipe import run_history
    from visionflow.experiments.grasp.evaluation import run_label
    from visionflow.figures import plot_accuracy, plot_loss

    runs = run_history(args.runs, run_label)
    title = "NeuroVis: CLS and GRASP accuracy"
    splits = {"test": "test split", "val": "held-out train part"}
    plot_accuracy(runs, args.accuracy, title=title, splits=splits)
    plot_loss(runs, args.loss, "NeuroVis: loss", ylabel="double-log loss", splits=splits)


def _summarize(args: argparse.Namespace) -> None:
    from visionflow.experiments.grasp.evaluation import summarize
    from visionflow.io import write_markdown_table

    table = summarize(args.runs)
    write_markdown_table(args.markdown, table)
    common.emit_summary(table, args.out)


def add_checkpoint(parser: argparse.ArgumentParser) -> None:
    """`--ckpt` (a visionflow checkpoint or an original NeuroVis .pth) and its `--task`."""
    parser.add_argument(
        "--ckpt", type=Path, required=True, help="final.ckpt, or an original AlexnetMap_v3 .pth"
    )
    parser.add_argument(
        "--task", choices=TASKS, help="the task of an original .pth (a checkpoint says its own)"
    )


def register(areas: common.Areas) -> None:
    """`visionflow grasp ...`."""
    verbs = common.add_area(areas, "grasp", "NeuroVis CLS/GRASP experiment on Jacquard")
    common.add_train_verb(verbs, "grasp", STORE)
    p = common.add_verb(verbs, "test", _test, "loss and accuracy of a checkpoint")
    add_checkpoint(p)
    common.add_data(p, STORE)
    p.add_argument("--split", default="test", help="split of the store (default test)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
    common.add_workers(p)
    for name, handler, help in (
        ("vis", _vis, "GRASP rectangles or CLS class maps, predicted and true, on test views"),
        ("confusion", _confusion, "CLS confusion matrix on the test split"),
    ):
        p = common.add_verb(verbs, name, handler, help)
        add_checkpoint(p)
        common.add_data(p, STORE)
        p.add_argument("--out", type=Path, required=True, help="PNG to write")
    verbs.choices["vis"].add_argument(
        "--samples", type=int, default=8, help="test views shown (default 8)"
    )
    p = common.add_verb(verbs, "plot", _plot, "accuracy and loss curves of the task runs")
    common.add_runs(p)
    p.add_argument("--accuracy", type=Path, required=True, help="PNG to write")
    p.add_argument("--loss", type=Path, required=True, help="PNG to write")
    p = common.add_verb(verbs, "summarize", _summarize, "the train/test accuracy table")
    common.add_runs(p)
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--markdown", type=Path, required=True, help="markdown twin to write")
