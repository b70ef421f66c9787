"""CVAT XML to annotation table throughput: build_table vs a naive minidom reader.

Both read the same synthetic CVAT for images 1.1 exports (default 10 tasks x 2000 frames x
5 boxes = 100k boxes, with empty placeholder frames so the image-exists check runs) into a
DataFrame with the table's columns:

  build_table  visionflow.data.cvat.table.build_table: streaming iterparse, validation (labels,
               box geometry, image files), sorted table with fixed dtypes;
  minidom      the straightforward reader: xml.dom.minidom parses each whole file, one dict
               is appended per box, one DataFrame is made at the end; no validation.

Repetitions alternate the two; the report gives the median boxes per second of each and
the ratio build_table / minidom, and whether both give the same boxes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from xml.dom import minidom

import numpy as np
import pandas as pd

from visionflow.data.cvat.rows import COLUMNS
from visionflow.data.cvat.table import build_table
from visionflow.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "annotation_table.json"
LABELS = ("crop", "weed", "stone")


def export(root: Path, tasks: int, frames: int, boxes: int, size: int, seed: int) -> None:
    """Write `tasks` CVAT XML exports of `frames` frames with `boxes` boxes each."""
    rng = np.random.default_rng(seed)
    for task in range(tasks):
        folder = root / f"FieldData 2020052014{task:04d} 1L GH02{task:04d}"
        (folder / "images").mkdir(parents=True)
        lines = [
            '<?xml version="1.0" encoding="utf-8"?>',
            "<annotations>",
            "<version>1.1</version>",
        ]
        corners = rng.uniform(0, size / 2, size=(frames, boxes, 2))
        sides = rng.uniform(4, size / 2, size=(frames, boxes, 2))
        labels = rng.integers(len(LABELS), size=(frames, boxes))
        for frame in range(frames):
            name = f"frame_{frame:06d}.jpg"
            (folder / "images" / name).touch()
            lines.append(f'<image id="{frame}" name="{name}" width="{size}" height="{size}">')
            for (x, y), (w, h), label in zip(
                corners[frame], sides[frame], labels[frame], strict=True
            ):
                lines.append(
                    f'<box label="{LABELS[label]}" occluded="0" xtl="{x:.2f}" ytl="{y:.2f}" '
                    f'xbr="{x + w:.2f}" ybr="{y + h:.2f}" z_order="0"></box>'
                )
            lines.append("</image>")
        lines.append("</annotations>")
        (folder / "annotations.xml").write_text("\n".join(lines) + "\n")


def minidom_table(root: Path) -> pd.DataFrame:
    """The naive reader: whole-document minidom parse, one dict appended per box."""
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        document = minidom.parse(str(folder / "annotations.xml"))
        for image in document.getElementsByTagName("image"):
            for box in image.getElementsByTagName("box"):
                attributes = {"occluded": box.getAttribute("occluded") == "1",
                              "z_order": int(box.getAttribute("z_order"))}  # fmt: skip
                rows.append({
                    "task": folder.name, "frame": int(image.getAttribute("id")),
                    "image": f"{folder.name}/images/{image.getAttribute('name')}",
                    "width": int(image.getAttribute("width")),
                    "height": int(image.getAttribute("height")),
                    "label": box.getAttribute("label"),
                    "xmin": float(box.getAttribute("xtl")), "ymin": float(box.getAttribute("ytl")),
                    "xmax": float(box.getAttribute("xbr")), "ymax": float(box.getAttribute("ybr")),
                    "attributes": json.dumps(attributes, sort_keys=True),
                })  # fmt: skip
    return pd.DataFrame(rows, columns=COLUMNS)


def timed(read) -> tuple[float, pd.DataFrame]:
    """(seconds, table) of one call of `read`."""
    start = time.perf_counter()
    table = read()
    return time.perf_counter() - start, table


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--frames", type=int, default=2000, help="frames per task")
    parser.add_argument("--boxes", type=int, default=5, help="boxes per frame")
    parser.add_argument("--size", type=int, default=1920, help="frame width and height")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    readers = {
        "build_table": lambda root: build_table(root, [], list(LABELS), "error")[0],
        "minidom": minidom_table,
    }
    rates: dict[str, list[float]] = {name: [] for name in readers}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "raw"
        export(root, args.tasks, args.frames, args.boxes, args.size, seed=0)
        megabytes = sum(p.stat().st_size for p in root.glob("*/annotations.xml")) / 2**20
        tables = {}
        for _ in range(args.repeats):
            for name, read in readers.items():
                seconds, tables[name] = timed(lambda read=read: read(root))
                rates[name].append(len(tables[name]) / seconds)
    columns = ["xmin", "ymin", "xmax", "ymax"]
    same = (
        all(
            np.array_equal(tables["build_table"][c].to_numpy(), tables["minidom"][c].to_numpy())
            for c in columns
        )
        and tables["build_table"]["label"].tolist() == tables["minidom"]["label"].tolist()
    )
    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = median["build_table"] / median["minidom"]
    boxes = args.tasks * args.frames * args.boxes
    print(f"{boxes} boxes in {args.tasks} tasks x {args.frames} frames x {args.boxes} boxes, "
          f"{megabytes:.1f} MiB of XML; same boxes: {same}")  # fmt: skip
    for name, values in rates.items():
        print(f"{name:<11} median {median[name]:10.0f} boxes/s (min {min(values):.0f})")
    print(f"ratio build_table/minidom: {ratio:.1f}x")
    report = {"rates": rates, "median": median, "ratio": ratio, "identical": same,
              "boxes": boxes, "xml_mib": megabytes}  # fmt: skip
    write_json(args.out, report)


if __name__ == "__main__":
    main()
