"""Grasp-map conversion throughput: vectorised numpy vs the per-pixel Python reference.

Both turn the same demo grasp files (raw 1024 px, as in the real Jacquard images) into the
four 224 x 224 x 6 maps of a sample. Each repetition times every file once with each
implementation, alternating; the report gives the median samples per second of each and the
ratio vectorised / reference (documented target: at least 50). The maps are compared too,
so a fast but different result is visible in the output.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from visionflow.data.jacquard.grasp_maps import grasp_maps
from visionflow.data.jacquard.raw import parse_grasps
from visionflow.demo.jacquard import generate
from visionflow.io import write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "datasets"))
from jacquard_reference import reference_maps  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "jacquard_maps.json"
TARGET_RATIO = 50.0


def rate(convert, samples: list[np.ndarray], raw_size: int, size: int) -> float:
    """Samples per second of `convert` over all `samples`."""
    start = time.perf_counter()
    for grasps in samples:
        convert(grasps, raw_size, size)
    return len(samples) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=2, help="demo objects per class")
    parser.add_argument("--raw-size", type=int, default=1024)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "raw"
        generate(root, objects_per_class=args.objects, views_per_object=1, size=args.raw_size)
        samples = [parse_grasps(path) for path in sorted(root.rglob("*_grasps.txt"))]
    shape = (args.raw_size, args.size)
    same = all(np.array_equal(grasp_maps(g, *shape), reference_maps(g, *shape)) for g in samples)
    rates: dict[str, list[float]] = {"vectorised": [], "reference": []}
    for _ in range(args.repeats):
        rates["vectorised"].append(rate(grasp_maps, samples, args.raw_size, args.size))
        rates["reference"].append(rate(reference_maps, samples, args.raw_size, args.size))
    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = median["vectorised"] / median["reference"]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    grasps = sum(len(g) for g in samples)
    print(f"{len(samples)} samples, {grasps / len(samples):.1f} grasps each, "
          f"{args.raw_size} px raw -> 4 x {args.size} px maps; identical maps: {same}")  # fmt: skip
    for name, values in rates.items():
        print(f"{name:<11} median {median[name]:9.1f} samples/s (min {min(values):.1f})")
    print(f"ratio vectorised/reference: {ratio:.1f}x (target >= {TARGET_RATIO:g}x: {verdict})")
    report = {"rates": rates, "median": median, "ratio": ratio, "identical": same,
              "samples": len(samples), "grasps": grasps, "target": TARGET_RATIO}  # fmt: skip
    write_json(args.out, report)


if __name__ == "__main__":
    main()
