"""`visionflow slr <verb>`: train, test, plot and summarize the SLR run queue; import .ini files."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from visionflow.cli import common
from visionflow.experiments.slr.figures import GRAPHS
from visionflow.models.catalog import VIDEO_MODELS

STORE = "prepared WLASL split store"


def _test(args: argparse.Namespace) -> None:
    from visionflow.experiments.slr import evaluation
    from visionflow.experiments.slr.figures import check_display, plot_class_figures, show
    from visionflow.io import write_json

    options = {"batch_size": args.batch_size, "workers": args.workers, "model": args.model,
               "num_frames": args.num_frames, "frame_size": args.frame_size}  # fmt: skip
    results = args.run_dir / "results"
    if args.mode == "full":  # always saved: the workflow's test rule needs every file
        report, classes, names = evaluation.evaluate(args.run_dir, args.data, **options)
        for set_name, shuffle, result in evaluation.report_parts(report):
            name, stem = evaluation.result_files("best", set_name, shuffle)
            write_json(results / name, result)
            if (set_name, shuffle) == ("test", False):
                plot_class_figures(classes, names, results / stem, GRAPHS)
        write_json(results / "best_val_loss.json", report)
        common.print_json(report)
        return
    if args.display:
        check_display()
    result, classes, names = evaluation.evaluate_set(
        args.run_dir, args.data, args.set, args.checkpoint, args.shuffle_frames, **options
    )
    name, stem = evaluation.result_files(args.checkpoint, args.set, args.shuffle_frames)
    graphs = [graph for graph in GRAPHS if getattr(args, graph)]
    if args.save:
        write_json(results / name, result)
    if graphs and (args.save or args.display):
        with tempfile.TemporaryDirectory() as scratch:
            folder = results if args.save else Path(scratch)
            paths = plot_class_figures(classes, names, folder / stem, graphs)
            if args.display:
                show(paths)
    common.print_json(result)


def _import_config(args: argparse.Namespace) -> None:
    from visionflow.experiments.slr.importer import import_config

    common.emit_yaml([import_config(args.ini, args.model, args.split, args.exp)], args.out)


def _clean(args: argparse.Namespace) -> None:
    from visionflow.experiments.slr.training import clean_checkpoints

    for run_dir in args.runs:
        clean_checkpoints(run_dir, args.dry_run)


def _plot(args: argparse.Namespace) -> None:
    from visionflow.engine.recipe import run_history
    from visionflow.experiments.slr.evaluation import run_label, summarize
    from visionflow.experiments.slr.figures import plot_shuffled
    from visionflow.figures import plot_loss, plot_top1

    runs = run_history(args.runs, run_label)
    plot_top1(runs, args.top1, title="SLR: validation top-1")
    plot_loss(runs, args.loss, "SLR: loss")
    plot_shuffled(summarize(args.runs), args.shuffled)


def register(areas: common.Areas) -> None:
    """`visionflow slr ...`."""
    verbs = common.add_area(areas, "slr", "SLR video classification on WLASL")
    common.add_train_verb(verbs, "slr", STORE)
    p = common.add_verb(verbs, "test", _test, "partial: one set; full: test, val, shuffled test")
    modes = p.add_subparsers(dest="mode", required=True)
    for mode in ("partial", "full"):
        m = modes.add_parser(mode)
        m.add_argument(
            "run_dir", type=Path, help="results/slr/<split>/<model>_<exp>, or an original run"
        )
        common.add_data(m, STORE)
        m.add_argument("--batch-size", type=int, default=8, help="batch size (default 8)")
        common.add_workers(m)
        m.add_argument("--num-frames", type=int, help="overrides data_info.json")
        m.add_argument("--frame-size", type=int, help="overrides data_info.json")
        m.add_argument(
            "--model",
            choices=VIDEO_MODELS,
            help="architecture of an original .pth whose run is not named <MODEL>_exp<NNN>",
        )
    partial = modes.choices["partial"]
    partial.add_argument("set", choices=["test", "val", "train"])
    partial.add_argument(
        "--checkpoint",
        default="best",
        help="name in checkpoints/ (default best); an original's best.pth or checkpoint_EEE.pth",
    )
    partial.add_argument("--shuffle-frames", action="store_true", help="frames shuffled")
    for flag, graph, what in (
        ("--bar-graph", "bargraph", "per-class precision/recall/F1 bars"),
        ("--confusion-matrix", "confmat", "confusion"),
        ("--heatmap", "heatmap", "per-class precision/recall/F1 heatmap"),
    ):
        partial.add_argument(flag, dest=graph, action="store_true", help=f"draw the {what} figure")
    partial.add_argument(
        "--save", action="store_true", help="write the result JSON and figures under results/"
    )
    partial.add_argument(
        "--display", action="store_true", help="show each figure in a window (needs a display)"
    )
    p = common.add_verb(
        verbs,
        "import-config",
        _import_config,
        "turn an original experiment .ini into a config entry",
    )
    p.add_argument("ini", type=Path)
    p.add_argument("--model", help="if the path does not follow configfiles/<split>/<MODEL>/")
    p.add_argument("--split", help="if the path does not name it")
    p.add_argument("--exp", type=int, help="if the file name does not number it")
    p.add_argument("--out", type=Path, help="also write the YAML here")
    p = common.add_verb(verbs, "clean-checkpoints", _clean, "delete all but best and last")
    p.add_argument("runs", type=Path, nargs="+", help="run directories")
    p.add_argument("--dry-run", action="store_true", help="only list what would go")
    p = common.add_verb(verbs, "plot", _plot, "curves of several runs and shuffled-frames bars")
    common.add_runs(p)
    p.add_argument("--top1", type=Path, required=True, help="PNG to write")
    p.add_argument("--loss", type=Path, required=True, help="PNG to write")
    p.add_argument("--shuffled", type=Path, required=True, help="PNG to write")
    common.add_summarize_verb(verbs, "slr", "best val and full-test numbers per run")
