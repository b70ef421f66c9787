"""`visionflow cvat|detection <verb>`: CVAT annotations in, detectors trained and searched,
evaluated and turned back into annotations."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

from visionflow.cli_util import add_verb as _add
from visionflow.cli_util import emit_yaml, run_history
from visionflow.io import BadInputError, write_json, write_table


def _demo_cvat(args: argparse.Namespace) -> None:
    from visionflow.demo.cvat import generate

    generate(args.out, args.tasks, args.frames_per_task, args.size, args.seed, tuple(args.labels))


def _mongo_settings(args: argparse.Namespace) -> dict | None:
    """The configured MongoDB location plus credentials from the environment only."""
    if args.source != "mongo":
        return None
    mongo = json.loads(args.mongo)
    for key, variable in (("username", "MONGODB_USERNAME"), ("password", "MONGODB_PASSWORD")):
        if os.environ.get(variable):
            mongo[key] = os.environ[variable]
    return mongo


def _prepare_cvat(args: argparse.Namespace) -> None:
    from visionflow.data.cvat import prepare

    source = "mongo" if args.source == "mongo" else "auto"
    prepare(args.root, args.out, json.loads(args.tasks), json.loads(args.labels),
            args.on_bad_sample, _mongo_settings(args), source)  # fmt: skip


def _split_cvat(args: argparse.Namespace) -> None:
    from visionflow.data.detection_splits import make_split, write_split

    table = pd.read_parquet(args.table)
    split = make_split(table, args.method, args.root, json.loads(args.options))
    write_split(args.out_dir, split)
    counts = split["split"].value_counts()
    print(f"{counts.get('train', 0)} train and {counts.get('val', 0)} val frames ({args.method})")


def _plot_split(args: argparse.Namespace) -> None:
    from visionflow import plots

    split = pd.read_csv(args.split)
    if "tsne_x" not in split.columns:
        raise BadInputError(args.split, "has no t-SNE coordinates (not a feature_space split)")
    plots.plot_tsne_split(split, args.out, title="Frames in feature space (t-SNE)")


def _inputs(args: argparse.Namespace) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    from visionflow.train.detection import read_labels

    return pd.read_parquet(args.table), pd.read_csv(args.split), read_labels(args.labels)


def _search(args: argparse.Namespace) -> None:
    from visionflow.train import detection

    table, split, labels = _inputs(args)
    settings = json.loads(args.settings)
    trials = detection.search(table, split, labels, args.root, args.hpo_dir, settings,
                              args.worker, args.workers)  # fmt: skip
    write_json(args.out, {"worker": args.worker, "trials": trials})


def _optimal(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.train import detection, hpo

    settings = json.loads(args.settings)
    search = settings["hpo"]
    name = detection.hpo_study_name(settings)
    study = hpo.open_study(args.hpo_dir / "study.journal", name,
                           search["num_initial_data_points"], settings["seed"])  # fmt: skip
    optimal = hpo.optimal_settings(study)
    trials = hpo.trials_table(study)
    write_table(args.trials, trials)
    plots.plot_hpo_history(trials, args.figure, title=f"{settings['variant']}: Optuna search")
    write_json(args.out, optimal)
    print(json.dumps(optimal, indent=2))


def _train(args: argparse.Namespace) -> None:
    from visionflow.train import detection
    from visionflow.train.hpo import SEARCH_SPACE

    table, split, labels = _inputs(args)
    settings = json.loads(args.settings)
    if args.optimal:
        optimal = json.loads(args.optimal.read_text())
        settings |= {k: optimal[k] for k in SEARCH_SPACE}
    detection.fit(table, split, labels, args.root, args.run_dir, settings)


def _predict(args: argparse.Namespace) -> None:
    from visionflow.train import detection

    table, split, labels = _inputs(args)
    frames = detection.split_frames(table, split, "val")
    predictions = detection.predict(args.ckpt, frames, args.root, labels, args.batch_size)
    write_table(args.out, predictions)
    print(f"{len(predictions)} detections on {frames[['task', 'frame']].drop_duplicates().shape[0]}"
          " validation frames")  # fmt: skip


def _evaluate(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.metrics.detection import coco_map, prf_grid
    from visionflow.train.detection import split_frames

    table, split, labels = _inputs(args)
    truth = split_frames(table, split, "val")
    predictions = pd.read_parquet(args.predictions)
    grid = prf_grid(predictions, truth, json.loads(args.score_thresholds),
                    json.loads(args.iou_thresholds))  # fmt: skip
    coco = coco_map(predictions, truth, labels)
    write_table(args.grid, grid)
    write_json(args.coco, coco)
    plots.plot_prf_heatmaps(grid, args.figure, title=f"{args.name}: validation frames")
    print(json.dumps(coco, indent=2))


def _auto_annotate(args: argparse.Namespace) -> None:
    from visionflow.data.cvat_export import export_auto_annotations
    from visionflow.train.detection import split_frames

    table, split, labels = _inputs(args)
    predictions = pd.read_parquet(args.predictions)
    truth = split_frames(table, split, "val")
    export_auto_annotations(predictions, truth, labels, args.out, args.threshold, args.iou)


def _upload(args: argparse.Namespace) -> None:
    from visionflow.data.cvat_export import upload_annotations

    folder = args.dir / "merged" if args.merged else args.dir
    xml_by_task = {path.parent.name: path for path in sorted(folder.glob("*/annotations.xml"))}
    if not xml_by_task:
        raise BadInputError(folder, "no <task>/annotations.xml to upload")
    upload_annotations(xml_by_task, args.url)


def _compare(args: argparse.Namespace) -> None:
    from visionflow import plots
    from visionflow.train.detection import summarize

    grids = {run.name: pd.read_csv(run / "eval" / "prf.csv") for run in args.runs}
    maps = {run.name: json.loads((run / "eval" / "coco.json").read_text()) for run in args.runs}
    plots.plot_detection_comparison(grids, maps, args.figure)
    runs = run_history(args.runs, lambda settings: settings["variant"])
    plots.plot_loss(runs, args.loss, "Detection: loss", ylabel="sum of Faster R-CNN losses")
    table = summarize(runs, grids, maps)
    write_table(args.summary, table)
    print(table.to_string(index=False))


def _import_settings(args: argparse.Namespace) -> None:
    from visionflow.train.detection_config import import_settings

    emit_yaml(import_settings(args.settings), args.out)


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", type=Path, required=True, help="annotations.parquet")
    p.add_argument("--labels", type=Path, required=True, help="labels.json")
    p.add_argument("--split", type=Path, required=True, help="split.csv")
    p.add_argument("--root", type=Path, required=True, help="raw CVAT folder (the frames)")


def add_detection_areas(areas: argparse._SubParsersAction, demo_verbs) -> None:
    """`visionflow demo cvat`, `visionflow cvat ...` and `visionflow detection ...`."""
    p = _add(demo_verbs, "cvat", _demo_cvat, "CVAT for images 1.1 tasks of simple shapes")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tasks", type=int, default=3)
    p.add_argument("--frames-per-task", type=int, default=40)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--labels", nargs="+", default=["circle", "square", "triangle"])
    p.add_argument("--seed", type=int, default=0)

    cvat = areas.add_parser("cvat", help="CVAT annotations of the detection experiment")
    verbs = cvat.add_subparsers(dest="verb", required=True)
    p = _add(verbs, "prepare", _prepare_cvat, "one annotation table from CVAT/COCO/MongoDB")
    p.add_argument("--root", type=Path, required=True, help="one folder per task")
    p.add_argument("--out", type=Path, required=True, help="folder for annotations.parquet")
    p.add_argument("--tasks", default="[]", help="JSON list of task names ([] = all)")
    p.add_argument("--labels", default="[]", help="JSON list of class names ([] = all found)")
    p.add_argument("--source", choices=["files", "mongo"], default="files")
    p.add_argument("--mongo", default="{}", help="JSON {uri, database, collection}")
    p.add_argument("--on-bad-sample", choices=["error", "skip"], default="error")
    p = _add(verbs, "split", _split_cvat, "train/val split of the frames")
    p.add_argument("--table", type=Path, required=True, help="annotations.parquet")
    p.add_argument("--root", type=Path, required=True, help="raw CVAT folder (the frames)")
    p.add_argument("--method", choices=["every_nth", "list", "feature_space"], required=True)
    p.add_argument("--options", default="{}", help="JSON options of the method")
    p.add_argument("--out-dir", type=Path, required=True, help="for split.csv, clusters.csv")
    p = _add(verbs, "plot-split", _plot_split, "t-SNE scatter of a feature-space split")
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)

    detection = areas.add_parser("detection", help="Faster R-CNN detectors (obdb)")
    verbs = detection.add_subparsers(dest="verb", required=True)
    p = _add(verbs, "search", _search, "run trials of a variant's Optuna study (one worker)")
    _add_data(p)
    p.add_argument("--hpo-dir", type=Path, required=True, help="folder of the study journal")
    p.add_argument("--settings", required=True, help="JSON run and search settings")
    p.add_argument("--worker", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="workers configured for the study")
    p.add_argument("--out", type=Path, required=True, help="JSON of this worker's trials")
    p = _add(verbs, "optimal", _optimal, "best settings, trial table and history figure")
    p.add_argument("--hpo-dir", type=Path, required=True)
    p.add_argument("--settings", required=True, help="JSON run and search settings")
    p.add_argument("--out", type=Path, required=True, help="optimal_hpo_settings.json")
    p.add_argument("--trials", type=Path, required=True, help="CSV of every trial")
    p.add_argument("--figure", type=Path, required=True)
    p = _add(verbs, "train", _train, "train one variant (resumes if interrupted)")
    _add_data(p)
    p.add_argument("--run-dir", type=Path, required=True)
    p.add_argument("--settings", required=True, help="JSON run settings")
    p.add_argument("--optimal", type=Path, help="optimal_hpo_settings.json of a search")
    p = _add(verbs, "predict", _predict, "detections of a checkpoint on the validation frames")
    _add_data(p)
    p.add_argument("--ckpt", type=Path, required=True)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--out", type=Path, required=True, help="predictions.parquet")
    p = _add(verbs, "evaluate", _evaluate, "P/R/F1 grid and COCO mAP of predictions")
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--score-thresholds", default="[0.5]", help="JSON list")
    p.add_argument("--iou-thresholds", default="[0.5]", help="JSON list")
    p.add_argument("--name", default="detector", help="variant name for the figure title")
    p.add_argument("--grid", type=Path, required=True, help="CSV to write")
    p.add_argument("--coco", type=Path, required=True, help="JSON to write")
    p.add_argument("--figure", type=Path, required=True)
    p = _add(verbs, "auto-annotate", _auto_annotate, "CVAT XML/COCO of detections, review list")
    p.add_argument("--predictions", type=Path, required=True)
    p.add_argument("--table", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--iou", type=float, default=0.5)
    p.add_argument("--out", type=Path, required=True, help="folder to write")
    p = _add(verbs, "upload", _upload, "import auto annotations into CVAT tasks (cvat-sdk)")
    p.add_argument("dir", type=Path, help="an auto_annotation folder")
    p.add_argument("--url", required=True, help="CVAT server; credentials from the environment")
    p.add_argument("--merged", action="store_true", help="upload merged/ (ground truth + new)")
    p = _add(verbs, "compare", _compare, "variants side by side: figure, loss curves, table")
    p.add_argument("--runs", type=Path, nargs="+", required=True, help="variant run folders")
    p.add_argument("--figure", type=Path, required=True)
    p.add_argument("--loss", type=Path, required=True)
    p.add_argument("--summary", type=Path, required=True)
    p = _add(verbs, "import-settings", _import_settings, "original settings JSON to config YAML")
    p.add_argument("settings", type=Path)
    p.add_argument("--out", type=Path, help="also write the YAML here")
