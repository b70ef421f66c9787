"""`visionflow cornet <verb>`: train, test, plot and summarize CORnet-S100 runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common

STORE = "prepared MiniImageNet store"


def _test(args: argparse.Namespace) -> None:
    from visionflow.experiments.cornet.evaluation import evaluate

    metrics = evaluate(
        args.ckpt,
        args.data,
        args.split,
        args.batch_size,
        args.workers,
        outer_times=args.outer_times,
        width=args.width,
    )
    common.emit_json(metrics, args.out)


def _plot(args: argparse.Namespace) -> None:
    from visionflow.engine.recipe import run_history
    from visionflow.experiments.cornet.evaluation import run_label
    from visionflow.figures import plot_loss, plot_top1

    runs = run_history(args.runs, run_label)
    plot_top1(runs, args.top1, title="CORnet-S100: validation top-1")
    plot_loss(runs, args.loss)


def register(areas: common.Areas) -> None:
    """`visionflow cornet ...`."""
    verbs = common.add_area(areas, "cornet", "CORnet-S100 with V4->V1 feedback on MiniImageNet")
    common.add_train_verb(verbs, "cornet", STORE)
    p = common.add_verb(verbs, "test", _test, "top1/top5/loss of a checkpoint on a prepared split")
    p.add_argument("--ckpt", type=Path, required=True, help="visionflow or original checkpoint")
    common.add_data(p, STORE)
    p.add_argument("--split", default="val", help="split of the store (default val)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    common.add_workers(p)
    p.add_argument("--outer-times", type=int, help="for checkpoints without stored settings")
    p.add_argument("--width", type=float, help="for checkpoints without stored settings")
    p = common.add_verb(verbs, "plot", _plot, "top-1 and loss curves of several runs")
    common.add_runs(p)
    p.add_argument("--top1", type=Path, required=True, help="PNG to write")
    p.add_argument("--loss", type=Path, required=True, help="PNG to write")
    common.add_summarize_verb(verbs, "cornet", "best/final/test numbers of several runs")
