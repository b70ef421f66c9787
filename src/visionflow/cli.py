"""`visionflow <area> <verb>`: the one entry point every workflow rule calls."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from visionflow.cli_analysis import add_analysis_area
from visionflow.cli_detection import add_detection_areas
from visionflow.cli_saliency import add_saliency_area
from visionflow.cli_util import add_verb as _add
from visionflow.cli_util import run_history
from visionflow.data.jacquard import DEFAULT_CLASSES
from visionflow.io import (
    BadInputError,
    OutOfSpaceError,
    write_json,
    write_markdown_table,
    write_table,
    write_text,
)
from visionflow.share.commands import CommandError


def _demo_miniimagenet(args: argparse.Namespace) -> None:
    from visionflow.demo.miniimagenet import generate

    generate(args.out, args.classes, args.train_per_class, args.val_per_class, args.seed)


def _demo_jacquard(args: argparse.Namespace) -> None:
    from visionflow.demo.jacquard import generate

    generate(
        args.out,
        args.classes,
        args.objects_per_class,
        args.views_per_object,
        size=args.size,
        seed=args.seed,
    )


def _prepare_jacquard(args: argparse.Namespace) -> None:
    from visionflow.data.jacquard import prepare

    prepare(args.root, args.out, args.classes, args.size, args.on_bad_sample, args.workers,
            args.relabel)  # fmt: skip


def _show_jacquard(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.data.jacquard import PackedJacquard, locate_view, maps_to_rectangles
    from visionflow.metrics.grasp import rectangle_corners

    split, index = locate_view(args.data, args.object, args.view)
    sample = PackedJacquard(args.data, split)[index]
    rgb = np.rot90(sample["rgb"], args.rotation)
    rectangles = maps_to_rectangles(sample["maps"][args.rotation], args.threshold)
    corners = [rectangle_corners(*r) for r in rectangles]
    title = (
        f"{args.object} ({split}), rotated {90 * args.rotation} deg: "
        f"{len(corners)} rectangles from the map"
    )
    plots.plot_grasp_rectangles(np.ascontiguousarray(rgb), args.out, corners, title=title)


def _train_grasp(args: argparse.Namespace) -> None:
    from visionflow.train import grasp

    grasp.train(args.data, args.run_dir, json.loads(args.settings))


def _test_grasp(args: argparse.Namespace) -> None:
    from visionflow.train import grasp

    metrics = grasp.test(args.ckpt, args.data, args.split, args.batch_size, args.workers)
    write_json(args.out, metrics)
    print(json.dumps(metrics, indent=2))


def _vis_grasp(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.train import grasp

    panels = grasp.prediction_panels(args.ckpt, args.data, args.samples)
    plots.plot_prediction_grid(panels, args.out)


def _confusion_grasp(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.train import grasp

    matrix, names = grasp.confusion(args.ckpt, args.data)
    plots.plot_confusion_matrix(matrix, names, args.out, title="CLS confusion")


def _plot_grasp(args: argparse.Namespace) -> None:
    from visionflow import plots

    runs = run_history(args.runs, lambda settings: settings["task"].upper())
    title = "NeuroVis: CLS and GRASP accuracy"
    plots.plot_accuracy(runs, args.accuracy, title=title, val_label="test split")
    plots.plot_loss(
        runs, args.loss, "NeuroVis: loss", ylabel="double-log loss", val_label="test split"
    )


def _summarize_grasp(args: argparse.Namespace) -> None:
    from visionflow.train import grasp

    table = grasp.summarize(args.runs)
    write_table(args.out, table)
    write_markdown_table(args.markdown, table)
    print(table.to_string(index=False))


def _demo_wlasl(args: argparse.Namespace) -> None:
    from visionflow.demo.wlasl import generate

    per_split = {"train": args.train, "val": args.val, "test": args.test}
    generate(args.out, args.glosses, per_split, seed=args.seed)


def _prepare_wlasl(args: argparse.Namespace) -> None:
    from visionflow.data.wlasl import prepare

    prepare(
        args.index,
        args.videos,
        args.out,
        args.split,
        args.size,
        args.min_frames,
        args.on_bad_sample,
        args.workers,
    )


def _train_slr(args: argparse.Namespace) -> None:
    from visionflow.train import slr

    slr.train(args.data, args.run_dir, json.loads(args.settings))


def _test_slr(args: argparse.Namespace) -> None:
    from visionflow.train import slr_test

    options = {"batch_size": args.batch_size, "workers": args.workers}
    if args.mode == "full":
        result = slr_test.full(args.run_dir, args.data, **options)
    else:
        graphs = [graph for graph in slr_test.GRAPHS if getattr(args, graph)]
        result = slr_test.partial(
            args.run_dir,
            args.data,
            args.set,
            args.checkpoint,
            args.shuffle_frames,
            graphs,
            args.num_frames,
            args.frame_size,
            **options,
        )
    print(json.dumps(result, indent=2))


def _import_ini(args: argparse.Namespace) -> None:
    from visionflow.train.slr_config import entry_yaml, import_ini

    text = entry_yaml(import_ini(args.ini, args.model, args.split, args.exp))
    if args.out:
        write_text(args.out, text)
    print(text, end="")


def _clean_slr(args: argparse.Namespace) -> None:
    from visionflow.train import slr

    for run_dir in args.runs:
        slr.clean_checkpoints(run_dir, args.dry_run)


def _plot_slr(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.train import slr

    runs = run_history(args.runs, lambda s: f"{s['model']}_{s['exp']:03d} ({s['split']})")
    plots.plot_top1(runs, args.top1, title="SLR: validation top-1")
    plots.plot_loss(runs, args.loss, "SLR: loss")
    plots.plot_shuffled(slr.summarize(args.runs), args.shuffled)


def _summarize_slr(args: argparse.Namespace) -> None:
    from visionflow.train import slr

    table = slr.summarize(args.runs)
    write_table(args.out, table)
    print(table.to_string(index=False))


def _prepare_miniimagenet(args: argparse.Namespace) -> None:
    from visionflow.data.miniimagenet import prepare

    prepare(args.root, args.out, args.short_side, args.on_bad_sample, args.workers)


def _train_cornet(args: argparse.Namespace) -> None:
    from visionflow.train import cornet

    cornet.train(args.data, args.run_dir, json.loads(args.settings))


def _test_cornet(args: argparse.Namespace) -> None:
    from visionflow.train import cornet

    metrics = cornet.test(
        args.ckpt,
        args.data,
        args.split,
        args.batch_size,
        args.workers,
        outer_times=args.outer_times,
        width=args.width,
    )
    write_json(args.out, metrics)
    print(json.dumps(metrics, indent=2))


def _outer_times_label(settings: dict) -> str:
    return f"outer_times={settings['outer_times']}"


def _plot_cornet(args: argparse.Namespace) -> None:
    from visionflow import plots

    runs = run_history(args.runs, _outer_times_label)
    plots.plot_top1(runs, args.top1, title="CORnet-S100: validation top-1")
    plots.plot_loss(runs, args.loss)


def _summarize_cornet(args: argparse.Namespace) -> None:
    from visionflow import plots

    runs = run_history(args.runs, _outer_times_label)
    tests = {
        label: json.loads((run_dir / "eval" / "test.json").read_text())
        for label, run_dir in zip(runs, args.runs, strict=True)
        if (run_dir / "eval" / "test.json").exists()
    }
    write_table(args.out, plots.summarize_runs(runs, tests))


def _dvc_stages(args: argparse.Namespace) -> None:
    from visionflow.share.stages import DVC_YAML, generate, render, untracked_sources

    content = generate(args.configfile, args.targets)
    text = render(content, args.configfile)
    if args.check:
        if not DVC_YAML.exists() or DVC_YAML.read_text() != text:
            raise BadInputError(
                DVC_YAML,
                f"does not match the workflow under {args.configfile};"
                " run `visionflow dvc stages` and commit the result",
            )
        print(f"{DVC_YAML} is current")
        return
    write_text(DVC_YAML, text)
    outs = sum(len(stage["outs"]) for stage in content["stages"].values())
    print(f"wrote {DVC_YAML}: {len(content['stages'])} stages, {outs} outputs")
    for source in untracked_sources(content):
        print(f"note: {source} is read but not versioned; track it with `dvc add {source}`")


def _dvc_pull(args: argparse.Namespace) -> None:
    from visionflow.share.sync import pull

    touched = pull(args.remote, args.jobs)
    print(f"pulled; {touched} outputs re-stamped, `snakemake -n` has nothing to do")


def _dvc_sync(args: argparse.Namespace) -> None:
    from visionflow.share.sync import sync

    touched = sync()
    print(f"{touched} outputs re-stamped, `snakemake -n` has nothing to do")


def _add_conversion_options(parser: argparse.ArgumentParser) -> None:
    """What every raw-to-prepared converter takes besides its paths."""
    parser.add_argument("--on-bad-sample", choices=["error", "skip"], default="error")
    parser.add_argument("--workers", type=int, default=1)


def _add_train(parser: argparse.ArgumentParser, store: str) -> None:
    """The arguments of every `train` verb: prepared `store`, run directory, settings."""
    parser.add_argument("--data", type=Path, required=True, help=store)
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--settings", required=True, help="JSON object of run settings")


def build_parser() -> argparse.ArgumentParser:
    """The full command tree."""
    parser = argparse.ArgumentParser(prog="visionflow", description=__doc__)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    areas = parser.add_subparsers(dest="area", required=True)

    demo = areas.add_parser("demo", help="generate small raw datasets in their real formats")
    demo_verbs = demo.add_subparsers(dest="verb", required=True)
    p = _add(demo_verbs, "miniimagenet", _demo_miniimagenet, "MiniImageNet-style JPEG folders")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--train-per-class", type=int, default=60)
    p.add_argument("--val-per-class", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)

    p = _add(demo_verbs, "jacquard", _demo_jacquard, "Jacquard-style RGB/TIFF/mask/grasps folders")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--classes", nargs="+", default=list(DEFAULT_CLASSES))
    p.add_argument("--objects-per-class", type=int, default=6)
    p.add_argument("--views-per-object", type=int, default=2)
    p.add_argument("--size", type=int, default=256, help="side of the raw images")
    p.add_argument("--seed", type=int, default=0)

    p = _add(demo_verbs, "wlasl", _demo_wlasl, "WLASL-style index JSON and mp4 videos")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--glosses", type=int, default=10)
    p.add_argument("--train", type=int, default=12, help="train instances per gloss")
    p.add_argument("--val", type=int, default=3, help="val instances per gloss")
    p.add_argument("--test", type=int, default=3, help="test instances per gloss")
    p.add_argument("--seed", type=int, default=0)

    wlasl = areas.add_parser("wlasl", help="WLASL sign-language video dataset")
    wlasl_verbs = wlasl.add_subparsers(dest="verb", required=True)
    p = _add(wlasl_verbs, "prepare", _prepare_wlasl, "decode, crop, resize and pack one split")
    p.add_argument("--index", type=Path, required=True, help="WLASL index JSON")
    p.add_argument("--videos", type=Path, required=True, help="folder of <video_id>.mp4")
    p.add_argument("--out", type=Path, required=True, help="prepared store directory")
    p.add_argument("--split", required=True, help="aslN: the first N glosses of the index")
    p.add_argument("--size", type=int, default=256, help="side of the stored square frames")
    p.add_argument("--min-frames", type=int, default=10, help="shorter clips are skipped")
    _add_conversion_options(p)

    slr = areas.add_parser("slr", help="SLR video classification on WLASL")
    slr_verbs = slr.add_subparsers(dest="verb", required=True)
    _add_train(
        _add(slr_verbs, "train", _train_slr, "train one run (resumes if interrupted)"),
        "prepared WLASL split store",
    )
    p = _add(slr_verbs, "test", _test_slr, "partial: one set; full: test, val, shuffled test")
    modes = p.add_subparsers(dest="mode", required=True)
    for mode in ("partial", "full"):
        m = modes.add_parser(mode)
        m.add_argument("run_dir", type=Path, help="results/slr/<split>/<model>_<exp>")
        m.add_argument("--data", type=Path, required=True, help="prepared WLASL split store")
        m.add_argument("--batch-size", type=int, default=8)
        m.add_argument("--workers", type=int, default=0)
    partial = modes.choices["partial"]
    partial.add_argument("set", choices=["test", "val", "train"])
    partial.add_argument("--checkpoint", default="best", help="name in checkpoints/")
    partial.add_argument("--shuffle-frames", action="store_true")
    partial.add_argument("--num-frames", type=int, help="overrides data_info.json")
    partial.add_argument("--frame-size", type=int, help="overrides data_info.json")
    for flag, graph, what in (
        ("--bar-graph", "bargraph", "per-class accuracy"),
        ("--confusion-matrix", "confmat", "confusion"),
        ("--heatmap", "heatmap", "per-class precision/recall/F1"),
    ):
        partial.add_argument(flag, dest=graph, action="store_true", help=f"draw the {what} figure")
    p = _add(slr_verbs, "import-ini", _import_ini, "turn an original .ini into a config entry")
    p.add_argument("ini", type=Path)
    p.add_argument("--model", help="if the path does not follow configfiles/<split>/<MODEL>/")
    p.add_argument("--split")
    p.add_argument("--exp", type=int)
    p.add_argument("--out", type=Path, help="also write the YAML here")
    p = _add(slr_verbs, "clean-checkpoints", _clean_slr, "delete all but best and last")
    p.add_argument("runs", type=Path, nargs="+", help="run directories")
    p.add_argument("--dry-run", action="store_true", help="only list what would go")
    p = _add(slr_verbs, "plot", _plot_slr, "curves of several runs and shuffled-frames bars")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
    p.add_argument("--top1", type=Path, required=True)
    p.add_argument("--loss", type=Path, required=True)
    p.add_argument("--shuffled", type=Path, required=True)
    p = _add(slr_verbs, "summarize", _summarize_slr, "best val and full-test numbers per run")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
    p.add_argument("--out", type=Path, required=True, help="CSV to write")

    jacquard = areas.add_parser("jacquard", help="Jacquard grasping dataset")
    jacquard_verbs = jacquard.add_subparsers(dest="verb", required=True)
    p = _add(jacquard_verbs, "prepare", _prepare_jacquard, "resize, build grasp maps, pack")
    p.add_argument("--root", type=Path, required=True, help="folder with train/ and test/")
    p.add_argument("--out", type=Path, required=True, help="prepared store directory")
    p.add_argument("--classes", nargs="+", default=list(DEFAULT_CLASSES))
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--relabel", type=Path, help="edited relabel CSV (id, new_class)")
    _add_conversion_options(p)
    p = _add(jacquard_verbs, "show", _show_jacquard, "draw a stored map's rectangles on its RGB")
    p.add_argument("object", help="object id (or a unique prefix of it)")
    p.add_argument("--data", type=Path, required=True, help="prepared Jacquard store")
    p.add_argument("--view", type=int, help="view number n of the object (default: its first)")
    p.add_argument("--rotation", type=int, choices=range(4), default=0, help="quarter turns")
    p.add_argument("--threshold", type=float, default=0.5, help="minimum map confidence")
    p.add_argument("--out", type=Path, required=True)

    grasp = areas.add_parser("grasp", help="NeuroVis CLS/GRASP experiment on Jacquard")
    grasp_verbs = grasp.add_subparsers(dest="verb", required=True)
    _add_train(
        _add(grasp_verbs, "train", _train_grasp, "train one task (resumes if interrupted)"),
        "prepared Jacquard store",
    )
    p = _add(grasp_verbs, "test", _test_grasp, "loss and accuracy of a checkpoint")
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="prepared Jacquard store")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    for name, handler, help in (
        ("vis", _vis_grasp, "predicted vs ground-truth rectangles on test views"),
        ("confusion", _confusion_grasp, "CLS confusion matrix on the test split"),
    ):
        p = _add(grasp_verbs, name, handler, help)
        p.add_argument("--ckpt", type=Path, required=True)
        p.add_argument("--data", type=Path, required=True, help="prepared Jacquard store")
        p.add_argument("--out", type=Path, required=True, help="PNG to write")
    grasp_verbs.choices["vis"].add_argument("--samples", type=int, default=8)
    p = _add(grasp_verbs, "plot", _plot_grasp, "accuracy and loss curves of the task runs")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
    p.add_argument("--accuracy", type=Path, required=True, help="PNG to write")
    p.add_argument("--loss", type=Path, required=True, help="PNG to write")
    p = _add(grasp_verbs, "summarize", _summarize_grasp, "the train/test accuracy table")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--markdown", type=Path, required=True, help="markdown twin to write")

    mini = areas.add_parser("miniimagenet", help="MiniImageNet dataset")
    mini_verbs = mini.add_subparsers(dest="verb", required=True)
    p = _add(mini_verbs, "prepare", _prepare_miniimagenet, "decode, resize and pack once")
    p.add_argument("--root", type=Path, required=True, help="folder with train/ and val/")
    p.add_argument("--out", type=Path, required=True, help="prepared store directory")
    p.add_argument("--short-side", type=int, default=256)
    _add_conversion_options(p)

    cornet = areas.add_parser("cornet", help="CORnet-S100 experiment")
    cornet_verbs = cornet.add_subparsers(dest="verb", required=True)
    _add_train(
        _add(cornet_verbs, "train", _train_cornet, "train one run (resumes if interrupted)"),
        "prepared MiniImageNet store",
    )
    p = _add(cornet_verbs, "test", _test_cornet, "top1/top5/loss of a checkpoint")
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="prepared MiniImageNet store")
    p.add_argument("--split", default="val")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--outer-times", type=int, help="for checkpoints without stored settings")
    p.add_argument("--width", type=float, help="for checkpoints without stored settings")
    for name, handler, help in (
        ("plot", _plot_cornet, "top-1 and loss curves of several runs"),
        ("summarize", _summarize_cornet, "best/final/test numbers of several runs"),
    ):
        p = _add(cornet_verbs, name, handler, help)
        p.add_argument("--runs", type=Path, nargs="+", required=True, help="run directories")
    cornet_verbs.choices["plot"].add_argument("--top1", type=Path, required=True)
    cornet_verbs.choices["plot"].add_argument("--loss", type=Path, required=True)
    cornet_verbs.choices["summarize"].add_argument("--out", type=Path, required=True)
    add_analysis_area(areas)
    add_detection_areas(areas, demo_verbs)
    add_saliency_area(areas, demo_verbs)

    dvc = areas.add_parser("dvc", help="share data and models through DVC")
    dvc_verbs = dvc.add_subparsers(dest="verb", required=True)
    p = _add(dvc_verbs, "stages", _dvc_stages, "write dvc.yaml from the Snakemake DAG")
    p.add_argument("targets", nargs="*", help="Snakemake targets (default: all)")
    p.add_argument("--configfile", default="config/config.yaml")
    p.add_argument("--check", action="store_true", help="fail if dvc.yaml is not current")
    p = _add(dvc_verbs, "pull", _dvc_pull, "dvc pull, then mark the pulled outputs current")
    p.add_argument("-r", "--remote", help="DVC remote (default: the configured default)")
    p.add_argument("-j", "--jobs", type=int, help="parallel transfers")
    _add(dvc_verbs, "sync", _dvc_sync, "mark outputs current after git/dvc checkout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run, and turn input errors into one clear line and exit status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        args.handler(args)
    except (BadInputError, CommandError, OutOfSpaceError) as exc:
        print(f"visionflow: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
