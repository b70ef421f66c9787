"""Conversion cost at paper scale: synthetic raw data in the real formats and resolutions,
converted by the real `prepare` functions at two sizes N, extrapolated to the paper datasets.

Per dataset and N, one fresh process runs the conversion (its configured workers) and
reports wall seconds and peak RSS (its own and its largest worker's, from getrusage); the
store's bytes are counted on disk. Raw data:

  miniimagenet  JPEGs (quality 90) of ImageNet sizes (500x375, 375x500, 500x333, 500x500),
                textured content, train/val class folders; stored at short_side 256 (paper);
  wlasl         H.264 mp4 (CRF 23) at 640x480, 25 fps, 50-80 frames, a textured signer
                scene with moving hands and sensor noise, the WLASL index (bbox, frame
                ranges); stored at 256 px (paper).

The raw bytes per sample are those of the synthetic files (their content decides how well
they compress, so the ratio, not the absolute size, is the measured figure). Extrapolation
multiplies the per-sample figures by each paper dataset's sample count; "RSS grows" compares
peak RSS from the smallest to the largest N (target: within 20%). Writes
bench/results/scale.json; `bench/report.py` puts the table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from visionflow.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
PAPER = {  # dataset -> (paper dataset, samples), from the datasets' own descriptions
    "miniimagenet": [("MiniImageNet", 60_000)],
    "wlasl": [("WLASL asl100", 2_038), ("WLASL asl2000", 21_095)],
}
SIZES = {"miniimagenet": (300, 1_200), "wlasl": (30, 120)}
WORKERS = 2  # this machine's cores; paper.yaml asks for 4-6
JPEG_SIZES = [(500, 375), (375, 500), (500, 333), (500, 500)]
VIDEO = (640, 480, 25)  # width, height, fps


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Photo-like uint8 content: smooth colour fields plus fine detail."""
    coarse = rng.integers(0, 256, (height // 25 + 2, width // 25 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC))
    detail = rng.normal(0, 12, (height, width, 3))
    return np.clip(smooth + detail, 0, 255).astype(np.uint8)


def make_miniimagenet(root: Path, samples: int, classes: int = 20) -> None:
    """`samples` JPEGs in train/ (5/6) and val/ (1/6) folders of `classes` wnids."""
    rng = np.random.default_rng(0)
    for index in range(samples):
        split = "val" if index % 6 == 5 else "train"
        folder = root / split / f"n{index // 6 % classes:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        width, height = JPEG_SIZES[index % len(JPEG_SIZES)]
        image = Image.fromarray(texture(rng, height, width))
        image.save(folder / f"{index:06d}.JPEG", quality=90)


def make_wlasl(root: Path, samples: int, glosses: int = 10) -> None:
    """`samples` videos and their WLASL_v0.3.json, instances spread over `glosses` glosses."""
    rng = np.random.default_rng(0)
    (root / "videos").mkdir(parents=True, exist_ok=True)
    width, height, fps = VIDEO
    entries = [{"gloss": f"gloss{g}", "instances": []} for g in range(glosses)]
    background = texture(rng, height, width)
    for index in range(samples):
        frames = int(rng.integers(50, 81))
        name = f"{index:05d}"
        with av.open(str(root / "videos" / f"{name}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"crf": "23", "preset": "veryfast"}
            for t in range(frames):
                frame = scene(background, t / frames, rng)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
        split = ("train", "train", "train", "val", "test")[index % 5]
        entries[index % glosses]["instances"].append({
            "video_id": name, "split": split, "frame_start": 1, "frame_end": -1,
            "bbox": [120, 40, 520, 480], "instance_id": index, "signer_id": index % 7,
            "fps": fps, "source": "synthetic", "url": "", "variation_id": 0,
        })  # fmt: skip
    (root / "WLASL_v0.3.json").write_text(json.dumps(entries))


def scene(background: np.ndarray, phase: float, rng: np.random.Generator) -> np.ndarray:
    """One frame: the background, a torso and two hands moving with `phase`, sensor noise."""
    frame = background.astype(np.int16)
    height, width = frame.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width]
    torso = ((xx - width / 2) / 120) ** 2 + ((yy - height * 0.8) / 200) ** 2 < 1
    frame[torso] = (60, 70, 110)
    for side in (-1, 1):
        cx = width / 2 + side * (80 + 60 * np.sin(2 * np.pi * phase))
        cy = height * 0.45 + 50 * np.cos(2 * np.pi * phase * side)
        frame[((xx - cx) / 35) ** 2 + ((yy - cy) / 45) ** 2 < 1] = (205, 160, 130)
    frame += rng.integers(-3, 4, frame.shape, dtype=np.int16)
    return np.clip(frame, 0, 255).astype(np.uint8)


def convert(dataset: str, raw: Path, out: Path) -> None:
    """Run the real conversion (the child process of one measurement)."""
    if dataset == "miniimagenet":
        from visionflow.data.miniimagenet import prepare

        prepare(raw, out, 256, "error", WORKERS)
    else:
        from visionflow.data.wlasl import prepare

        prepare(raw / "WLASL_v0.3.json", raw / "videos", out, "asl10", 256, workers=WORKERS)


def measured_convert(dataset: str, raw: Path, out: Path) -> dict[str, float]:
    """Seconds and peak RSS (MB) of one conversion in a fresh process."""
    script = (
        "import json, resource, sys, time; sys.path.insert(0, sys.argv[1]); import scale;"
        " from pathlib import Path; t = time.perf_counter();"
        " scale.convert(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]));"
        " own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        " kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss;"
        " print(json.dumps([time.perf_counter() - t, own / 1024, kids / 1024]))"
    )
    args = [sys.executable, "-c", script, str(Path(__file__).parent), dataset, str(raw), str(out)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{dataset} conversion failed:\n{result.stderr[-2000:]}")
    seconds, own, worker = json.loads(result.stdout.strip().splitlines()[-1])
    return {"seconds": seconds, "rss_mb": own, "worker_rss_mb": worker}


def size_of(path: Path) -> int:
    """Bytes of every file under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(dataset: str, samples: int, scratch: Path) -> dict[str, float]:
    """Generate `samples` raw samples, convert them, return per-sample and peak figures."""
    raw, out = scratch / f"{dataset}-{samples}-raw", scratch / f"{dataset}-{samples}-store"
    started = time.perf_counter()
    (make_miniimagenet if dataset == "miniimagenet" else make_wlasl)(raw, samples)
    log(f"{dataset} N={samples}: raw data written in {time.perf_counter() - started:.0f} s")
    run = measured_convert(dataset, raw, out)
    stored = size_of(out)
    row = {
        "samples": samples,
        "raw_bytes_per_sample": size_of(raw) / samples,
        "store_bytes_per_sample": stored / samples,
        "core_seconds_per_sample": run["seconds"] * WORKERS / samples,
        **run,
    }
    log(f"{dataset} N={samples}: {json.dumps(row)}")
    return row


def extrapolated(dataset: str, rows: list[dict[str, float]]) -> list[dict[str, object]]:
    """One line per paper dataset from the largest N's per-sample figures."""
    large, small = rows[-1], rows[0]
    peak = max(large["rss_mb"], large["worker_rss_mb"])
    growth = peak / max(small["rss_mb"], small["worker_rss_mb"]) - 1
    return [
        {
            "dataset": name,
            "samples": count,
            "raw_gb": large["raw_bytes_per_sample"] * count / 1e9,
            "store_gb": large["store_bytes_per_sample"] * count / 1e9,
            "ratio": large["store_bytes_per_sample"] / large["raw_bytes_per_sample"],
            "core_hours": large["core_seconds_per_sample"] * count / 3600,
            "peak_rss_mb": peak,
            "rss_growth": growth,
        }
        for name, count in PAPER[dataset]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    report: dict[str, object] = {"workers": WORKERS, "sizes": {}, "paper": []}
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        for dataset in args.datasets:
            rows = [measure(dataset, n, Path(scratch)) for n in SIZES[dataset]]
            report["sizes"][dataset] = rows
            report["paper"] += extrapolated(dataset, rows)
    write_json(args.out, report)
    print(json.dumps(report["paper"], indent=1))


if __name__ == "__main__":
    main()
