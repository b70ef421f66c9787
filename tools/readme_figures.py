"""Refresh the README's demo figures and numbers from a finished demo run (`make readme-figures`).

Each number in README.md sits between `<!-- n:KEY -->` and `<!-- /n -->`; NUMBERS says which
file of the finished run it is read from, FIGURES which figure each docs/figures file is.
"""

import argparse
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
import yaml

MARKER = re.compile(r"<!-- n:(?P<key>[\w.]+) -->(?P<value>.*?)<!-- /n -->")


def row(table: Path, **where: str) -> pd.Series:
    """The one row of a result CSV whose columns equal `where`."""
    frame = pd.read_csv(table)
    for column, value in where.items():
        frame = frame[frame[column] == value]
    if len(frame) != 1:
        raise ValueError(f"{table}: {len(frame)} rows match {where}, expected 1")
    return frame.iloc[0]


def percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def two_places(value: float) -> str:
    return f"{value:.2f}"


def diagonal(table: Path) -> list[float]:
    """Kendall tau of each layer with the same layer of the other run (an rsm-compare CSV)."""
    frame = pd.read_csv(table, index_col=0)
    return [float(frame.loc[layer, layer]) for layer in frame.index if layer in frame.columns]


def single(run: Path, pattern: str) -> Path:
    """The one file of the finished workflow folder `run` matching `pattern`."""
    found = sorted(run.glob(pattern))
    if len(found) != 1:
        raise FileNotFoundError(f"{run / pattern}: {len(found)} files, expected 1")
    return found[0]


DEMO = yaml.safe_load((Path(__file__).parents[1] / "config" / "config.yaml").read_text())
SALIENCY_POINTS = ("gp0", "gp1")  # the README table's columns: the demo grid's two points
GRASP = "results/grasp/summary.csv"
SLR = "results/slr/summary.csv"
RSM = "results/grasp/analysis/rsm/cls_vs_grasp.csv"

NUMBERS: dict[str, Callable[[Path], str]] = {
    "torch": lambda _: torch.__version__.split("+")[0],
    "grasp.cls_test": lambda r: two_places(row(r / GRASP, task="CLS")["test_accuracy"]),
    "grasp.grasp_test": lambda r: two_places(row(r / GRASP, task="GRASP")["test_accuracy"]),
    "grasp.grasp_train": lambda r: two_places(row(r / GRASP, task="GRASP")["train_accuracy"]),
    "slr.val_top1": lambda r: percent(row(r / SLR)["val_top1"]),
    "slr.test_top1": lambda r: percent(row(r / SLR)["test_top1"]),
    "slr.shuffled_top1": lambda r: percent(row(r / SLR)["shuffled_top1"]),
    "rsm.first_layer": lambda r: two_places(diagonal(r / RSM)[0]),
    "rsm.trained_min": lambda r: two_places(min(diagonal(r / RSM)[1:])),
    "rsm.trained_max": lambda r: two_places(max(diagonal(r / RSM)[1:])),
    "detection.map50": lambda r: two_places(
        json.loads(single(r, "results/detection/*/eval/coco.json").read_text())["map_50"]
    ),
}


def saliency_cc(point: str, task: str) -> Callable[[Path], str]:
    """The test CC of one saliency task at one grid point."""
    table = f"results/saliency/{point}/test/metrics.csv"
    return lambda run: two_places(row(run / table, task=task)["cc"])


NUMBERS |= {
    f"saliency.{point}.{task}": saliency_cc(point, task)
    for point in SALIENCY_POINTS
    for task in DEMO["saliency"]["tasks"]
}

FIGURES = {
    "cornet_top1.png": "results/cornet/top1.png",
    "grasp_accuracy.png": "results/grasp/accuracy.png",
    "grasp_predictions.png": "results/grasp/grasp/vis/predictions.png",
    "slr_shuffled.png": "results/slr/shuffled.png",
    "rsm_cls_layers.png": "results/grasp/analysis/rsm/cls/layers.png",
    "rsm_cls_vs_grasp.png": "results/grasp/analysis/rsm/cls_vs_grasp.png",
    "detection_tsne.png": "data/prepared/cvat/split/tsne.png",
    "detection_prf.png": "results/detection/*/eval/prf.png",
    "saliency_run.png": "results/saliency/gp0/run.png",
}


def fill(text: str, values: dict[str, str]) -> str:
    """`text` with every marked number replaced by its value; an unknown key is an error."""
    unknown = {match["key"] for match in MARKER.finditer(text)} - values.keys()
    if unknown:
        raise ValueError(f"README.md: no source for the numbers {sorted(unknown)}")
    return MARKER.sub(
        lambda match: f"<!-- n:{match['key']} -->{values[match['key']]}<!-- /n -->", text
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, default=Path("."), help="a finished demo's workflow folder (default: .)"
    )
    parser.add_argument("--readme", type=Path, default=Path("README.md"), help="default: README.md")
    parser.add_argument(
        "--figures", type=Path, default=Path("docs/figures"), help="default: docs/figures"
    )
    args = parser.parse_args(argv)
    try:
        values = {key: read(args.run) for key, read in NUMBERS.items()}
        sources = {name: single(args.run, pattern) for name, pattern in FIGURES.items()}
        text = fill(args.readme.read_text(), values)
    except (OSError, KeyError, ValueError) as error:
        sys.exit(f"readme-figures: {error}")
    for name, source in sources.items():
        shutil.copyfile(source, args.figures / name)
    args.readme.write_text(text)
    print(f"{args.readme}: {len(values)} numbers; {args.figures}: {len(sources)} figures")


if __name__ == "__main__":
    main()
