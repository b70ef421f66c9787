"""`visionflow cornet <verb>`: train, test (score or export features), plot and summarize runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common
from visionflow.experiments.cornet import IMAGE_PATTERN
from visionflow.models.catalog import CORNET_MODELS

STORE = "prepared MiniImageNet store"


def _test(args: argparse.Namespace) -> None:
    options = {k: getattr(args, k) for k in ("model", "outer_times", "times", "width")}
    if args.images:
        _export(args, options)
        return
    from visionflow.experiments.cornet.evaluation import evaluate

    metrics = evaluate(args.ckpt, args.data, args.split, args.batch_size, args.workers,
                       args.selected_on, **options)  # fmt: skip
    common.emit_json(metrics, args.out)


def _export(args: argparse.Namespace, options: dict) -> None:
    from visionflow.experiments.cornet import features
    from visionflow.experiments.cornet.evaluation import load

    model, settings = load(args.ckpt, **options)
    class_map = None
    if args.classes:
        class_map = features.checked_class_map(args.classes, settings["num_classes"])
    layer, sublayer = features.readout_tap(model, args.layer, args.sublayer)
    files = features.image_files(args.images, args.pattern)
    found, predicted = features.extract(model, files, layer, sublayer, args.time_step,
                                        args.imsize, args.batch_size)  # fmt: skip
    path = features.write_export(args.out, settings["model"], layer, sublayer, files, found,
                                 predicted, class_map)  # fmt: skip
    common.print_json({"features": str(path), "shape": list(found.shape)})


def _plot(args: argparse.Namespace) -> None:
    from visionflow.engine.recipe import run_history
    from visionflow.experiments.cornet.evaluation import run_label
    from visionflow.experiments.cornet.figures import plot_top1
    from visionflow.figures import plot_loss

    runs = run_history(args.runs, run_label)
    plot_top1(runs, args.top1)
    plot_loss(runs, args.loss)


def _add_test_verb(verbs: argparse._SubParsersAction) -> None:
    help = "score a checkpoint on a prepared split (run.py val), or export features (run.py test)"
    p = common.add_verb(verbs, "test", _test, help)
    p.add_argument("--ckpt", type=Path, required=True, help="visionflow or original checkpoint")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help=f"{STORE} to score on")
    source.add_argument("--images", type=Path, help="JPEG file or folder to export features of")
    p.add_argument("--out", type=Path, required=True, help="JSON (scores) or folder (features)")
    p.add_argument("--split", default="val", help="split of the store (default val)")
    p.add_argument("--selected-on", help="split the checkpoint was chosen on, recorded in the JSON")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    common.add_workers(p)
    p.add_argument("--model", choices=CORNET_MODELS, help="for files without stored settings")
    p.add_argument("--outer-times", type=int, help="S100 passes, for files without settings")
    p.add_argument("--times", type=int, help="R/RT time steps, for files without settings")
    p.add_argument("--width", type=float, help="channel multiplier (original files: 1.0)")
    p.add_argument("--layer", help="block to export (default: the read-out)")
    p.add_argument("--sublayer", help="module of the block (default: its last)")
    p.add_argument(
        "--time-step", type=int, default=0, help="which call of it, -1 = last (default 0)"
    )
    p.add_argument("--imsize", type=int, default=224, help="images squashed to this (default 224)")
    p.add_argument(
        "--pattern", default=IMAGE_PATTERN, help=f"files of --images (default {IMAGE_PATTERN})"
    )
    p.add_argument("--classes", type=Path, help="map_clsloc.txt naming the predicted classes")


def register(areas: common.Areas) -> None:
    """`visionflow cornet ...`."""
    verbs = common.add_area(areas, "cornet", "CORnet-100 (S100, Z, R, RT, S) on MiniImageNet")
    common.add_train_verb(verbs, "cornet", STORE)
    _add_test_verb(verbs)
    p = common.add_verb(verbs, "plot", _plot, "top-1 and loss curves of several runs")
    common.add_runs(p)
    p.add_argument("--top1", type=Path, required=True, help="PNG to write")
    p.add_argument("--loss", type=Path, required=True, help="PNG to write")
    common.add_summarize_verb(verbs, "cornet", "best/final/test numbers of several runs")
