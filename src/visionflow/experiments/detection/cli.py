"""`visionflow detection <verb>`: search, train, predict, test and summarize detector variants,
turn detections into CVAT annotations, import the original's settings file."""

from __future__ import annotations

import argparse
from pathlib import Path

from visionflow.cli import common

STORE = "prepared CVAT store (annotations/ and split/)"
AUTO_PREFIX = "auto_annotation_"  # the original's name of auto-annotation tasks


def _search(args: argparse.Namespace) -> None:
    from visionflow.experiments.detection.training import search
    from visionflow.io import write_json

    trials = search(args.data, args.hpo_dir, args.settings, args.root, args.job, args.jobs)
    write_json(args.out, {"worker": args.job, "trials": trials})


def _select(args: argparse.Namespace) -> None:
    from visionflow.experiments.detection.figures import plot_hpo_history
    from visionflow.experiments.detection.training import optimal
    from visionflow.io import write_table

    best, trials = optimal(args.hpo_dir, args.settings)
    write_table(args.trials, trials)
    plot_hpo_history(trials, args.figure, title=f"{args.settings['variant']}: Optuna search")
    common.emit_json(best, args.out)


def _train(args: argparse.Namespace) -> None:
    import json

    from visionflow.experiments.detection import SEARCH_SPACE
    from visionflow.experiments.detection.training import train

    settings = args.settings
    if args.optimal:
        found = json.loads(args.optimal.read_text())
        settings |= {k: found[k] for k in SEARCH_SPACE}
    train(args.data, args.run_dir, settings, args.root)


def _predict(args: argparse.Namespace) -> None:
    from visionflow.experiments.detection.evaluation import predict
    from visionflow.io import write_table

    predictions = predict(args.ckpt, args.data, args.root, args.batch_size, args.workers)
    write_table(args.out, predictions)
    frames = predictions[["task", "frame"]].drop_duplicates().shape[0]
    print(f"{len(predictions)} detections on {frames} validation frames with detections")


def _test(args: argparse.Namespace) -> None:
    import pandas as pd

    from visionflow.experiments.detection.evaluation import evaluate
    from visionflow.experiments.detection.figures import plot_prf_curves, plot_prf_heatmaps
    from visionflow.io import write_table

    predictions = pd.read_parquet(args.predictions)
    thresholds = (args.score_thresholds, args.iou_thresholds)
    grid, per_class, coco = evaluate(predictions, args.data, *thresholds)
    write_table(args.grid, grid)
    write_table(args.per_class, per_class)
    plot_prf_heatmaps(grid, args.figure, title=f"{args.name}: validation frames")
    plot_prf_curves(per_class, args.curves, title=f"{args.name}: P/R/F1 per class")
    common.emit_json(coco, args.coco)


def _annotate(args: argparse.Namespace) -> None:
    import pandas as pd

    from visionflow.data.cvat.export import export_auto_annotations
    from visionflow.experiments.detection.frames import prepared, split_frames

    table, split, labels = prepared(args.data)
    predictions = pd.read_parquet(args.predictions)
    truth = split_frames(table, split, "val")
    export_auto_annotations(predictions, truth, labels, args.out, args.threshold, args.iou)


def _upload(args: argparse.Namespace) -> None:
    from visionflow.data.cvat.server import upload_folder
    from visionflow.io import BadInputError

    if args.create and args.root is None:
        raise BadInputError("--root", "--create needs the raw CVAT folder the frames come from")
    create = (args.root, args.prefix) if args.create else None
    upload_folder(args.dir / "merged" if args.merged else args.dir, args.url, args.complete, create)


def _update_ground_truth(args: argparse.Namespace) -> None:
    from visionflow.data.cvat.server import update_ground_truth

    common.print_json(update_ground_truth(args.url, args.prefix))


def _summarize(args: argparse.Namespace) -> None:
    from visionflow.engine.recipe import run_history
    from visionflow.experiments.detection.evaluation import run_label, scores, summarize
    from visionflow.experiments.detection.figures import plot_detection_comparison
    from visionflow.figures import plot_loss

    plot_detection_comparison(*scores(args.runs), args.figure)
    runs = run_history(args.runs, run_label)
    plot_loss(runs, args.loss, "Detection: loss", ylabel="sum of Faster R-CNN losses")
    table = summarize(args.runs)
    common.emit_summary(table, args.out)


def _import_config(args: argparse.Namespace) -> None:
    from visionflow.experiments.detection.importer import import_config

    common.emit_yaml(import_config(args.settings, args.hpo_result, args.task_list), args.out)


def _add_frames(p: argparse.ArgumentParser) -> None:
    common.add_data(p, STORE)
    p.add_argument("--root", type=Path, required=True, help="raw CVAT folder (the frames)")


def register(areas: common.Areas) -> None:
    """`visionflow detection ...`."""
    verbs = common.add_area(areas, "detection", "Faster R-CNN detectors (obdb)")
    p = common.add_verb(
        verbs, "search", _search, "run trials of a variant's Optuna study (one job)"
    )
    _add_frames(p)
    p.add_argument("--hpo-dir", type=Path, required=True, help="folder of the study journal")
    p.add_argument(
        "--settings", type=common.json_object, required=True, help="JSON run and search settings"
    )
    p.add_argument("--job", type=int, default=0, help="this search job's number (default 0)")
    p.add_argument("--jobs", type=int, default=1, help="search jobs sharing the study (default 1)")
    p.add_argument("--out", type=Path, required=True, help="JSON of this job's trials")
    p = common.add_verb(verbs, "select", _select, "best settings, trial table and history figure")
    p.add_argument("--hpo-dir", type=Path, required=True, help="folder of the search jobs' JSONs")
    p.add_argument(
        "--settings", type=common.json_object, required=True, help="JSON run and search settings"
    )
    p.add_argument("--out", type=Path, required=True, help="optimal_hpo_settings.json")
    p.add_argument("--trials", type=Path, required=True, help="CSV of every trial")
    p.add_argument("--figure", type=Path, required=True, help="history PNG to write")
    p = common.add_verb(verbs, "train", _train, "train one variant (resumes if interrupted)")
    _add_frames(p)
    p.add_argument("--run-dir", type=Path, required=True, help="run directory to write")
    p.add_argument("--settings", type=common.json_object, required=True, help="JSON run settings")
    p.add_argument("--optimal", type=Path, help="optimal_hpo_settings.json of a search")
    p = common.add_verb(
        verbs, "predict", _predict, "detections of a checkpoint on the validation frames"
    )
    _add_frames(p)
    p.add_argument("--ckpt", type=Path, required=True, help="checkpoint of a detection run")
    p.add_argument("--batch-size", type=int, default=8, help="batch size (default 8)")
    common.add_workers(p)
    p.add_argument("--out", type=Path, required=True, help="predictions.parquet")
    p = common.add_verb(verbs, "test", _test, "P/R/F1 grid and COCO mAP of predictions")
    p.add_argument("--predictions", type=Path, required=True, help="predictions.parquet")
    common.add_data(p, STORE)
    p.add_argument(
        "--score-thresholds",
        type=common.json_value,
        default=[0.5],
        help="JSON list (default [0.5])",
    )
    p.add_argument(
        "--iou-thresholds", type=common.json_value, default=[0.5], help="JSON list (default [0.5])"
    )
    p.add_argument(
        "--name", default="detector", help="variant name for the figure title (default detector)"
    )
    p.add_argument("--grid", type=Path, required=True, help="CSV to write")
    p.add_argument("--per-class", type=Path, required=True, help="CSV of the grid per class")
    p.add_argument("--coco", type=Path, required=True, help="JSON to write")
    p.add_argument("--figure", type=Path, required=True, help="P/R/F1 PNG to write")
    p.add_argument("--curves", type=Path, required=True, help="per-class P/R/F1 curves")
    p = common.add_verb(
        verbs, "auto-annotate", _annotate, "CVAT XML/COCO of detections, review list"
    )
    p.add_argument("--predictions", type=Path, required=True, help="predictions.parquet")
    common.add_data(p, STORE)
    p.add_argument("--threshold", type=float, default=0.5, help="lowest score kept (default 0.5)")
    p.add_argument(
        "--iou",
        type=float,
        default=0.1,
        help="IoU with a ground-truth box that counts as covered (default 0.1, the original's)",
    )
    p.add_argument("--out", type=Path, required=True, help="folder to write")
    p = common.add_verb(
        verbs, "upload", _upload, "import auto annotations into CVAT tasks (cvat-sdk)"
    )
    p.add_argument("dir", type=Path, help="an auto_annotation folder")
    p.add_argument("--url", required=True, help="CVAT server; credentials from the environment")
    p.add_argument("--merged", action="store_true", help="upload merged/ (ground truth + new)")
    p.add_argument(
        "--create",
        action="store_true",
        help="create a task <prefix><task> per task with its frames instead of importing "
        "into the task of the same name",
    )
    p.add_argument("--root", type=Path, help="raw CVAT folder (the frames), for --create")
    p.add_argument(
        "--prefix", default=AUTO_PREFIX, help=f"of created tasks (default {AUTO_PREFIX})"
    )
    p.add_argument("--complete", action="store_true", help="then mark the tasks completed")
    p = common.add_verb(
        verbs,
        "update-ground-truth",
        _update_ground_truth,
        "copy the new shapes of completed <prefix><task> tasks into <task> (cvat-sdk)",
    )
    p.add_argument("--url", required=True, help="CVAT server; credentials from the environment")
    p.add_argument(
        "--prefix", default=AUTO_PREFIX, help=f"of reviewed tasks (default {AUTO_PREFIX})"
    )
    p = common.add_verb(
        verbs, "summarize", _summarize, "variants side by side: figure, loss curves, table"
    )
    common.add_runs(p)
    p.add_argument("--figure", type=Path, required=True, help="comparison PNG to write")
    p.add_argument("--loss", type=Path, required=True, help="loss curves PNG to write")
    p.add_argument("--out", type=Path, required=True, help="summary CSV to write")
    p = common.add_verb(
        verbs, "import-config", _import_config, "the original's settings JSON as config YAML"
    )
    p.add_argument("settings", type=Path)
    p.add_argument(
        "--hpo-result",
        type=Path,
        help="the original's HPO result (/train/<variant>_settings.json) its variants "
        "with use_settings_file trained with",
    )
    p.add_argument(
        "--task-list",
        help="task list key to import (default: the one the original's runner read)",
    )
    p.add_argument("--out", type=Path, help="also write the YAML here")
