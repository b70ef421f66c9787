"""Conversion cost at paper scale: synthetic raw data in the real formats and resolutions,
converted by the real `prepare` functions at two sizes N, extrapolated to the paper datasets.

Per dataset and N, one fresh process runs the conversion (its configured workers) and
reports wall seconds, CPU seconds (user + system of the process and its workers, from
getrusage, so other jobs on a busy machine do not inflate them; imports included) and the
peak memory of the whole conversion: the peaks of the summed RSS and of the summed PSS
(shared pages split between the processes sharing them, so forked workers' common pages
count once) and of the summed file-backed RSS (pages of mapped files, e.g. a memory-mapped
store being written) of the process and its workers, sampled every 20 ms; also its own and its
largest worker's getrusage maxima (Linux keeps ru_maxrss across fork and exec, so these
include the generating parent's). The store's bytes are counted on disk. Raw data:

  miniimagenet  JPEGs (quality 90) of ImageNet sizes (500x375, 375x500, 500x333, 500x500),
                textured content, train/val class folders; stored at short_side 256 (paper);
  wlasl         H.264 mp4 (CRF 23) at 640x480, 25 fps, 50-80 frames, a textured signer
                scene with moving hands and sensor noise, the WLASL index (bbox, frame
                ranges); stored at 256 px (paper);
  jacquard      the demo generator's views at 1024x1024 in the Jacquard layout
                (<split>/<class>/<object>/<n>_<object>_RGB.png, _perfect_depth.tiff and
                _stereo_depth.tiff as float32, _mask.png, _grasps.txt), stored at 224 (paper);
  cvat          tasks of 100 3840x2160 JPEG frames (quality 90, panning soil texture with
                weed-coloured patches, 0-8 boxes a frame) and their annotations.xml written
                by the package's CVAT 1.1 exporter; converted with crop_4k (paper).

The raw bytes per sample are those of the synthetic files (their content decides how well
they compress, so the ratio, not the absolute size, is the measured figure). Extrapolation
multiplies the per-sample figures of the largest N by each paper dataset's sample count;
the growths compare peak memory from the smallest to the largest N (target: within 20%).
`--datasets` measures some datasets again and keeps the others' results. Writes
bench/results/scale.json; `bench/report.py` puts the table into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np
import psutil
from PIL import Image

from visionflow.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
PAPER = {  # dataset -> (paper dataset, samples), from the datasets' own descriptions
    "miniimagenet": [("MiniImageNet", 60_000)],
    "wlasl": [("WLASL asl100", 2_038), ("WLASL asl2000", 21_095)],
    "jacquard": [("Jacquard (all views)", 54_485)],  # config/paper.yaml names no top_5 count
    "cvat": [("CVAT, per 1,000 frames", 1_000)],
}
REAL_RAW_BYTES = {"MiniImageNet": 6.7e9 / 60_000}  # the real dataset's mean JPEG (112 KB)
SIZES = {
    "miniimagenet": (300, 1_200),
    "wlasl": (30, 120),
    "jacquard": (40, 160),
    "cvat": (100, 500),
}
WORKERS = {"miniimagenet": 2, "wlasl": 2, "jacquard": 2, "cvat": 1}  # 2 = this machine's cores
CVAT_FRAME, CVAT_TASK_FRAMES = (3840, 2160), 100
CVAT_LABELS = ["Fat hen", "Dandelion", "Cleavers", "Charlock"]
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


def make_jacquard(root: Path, samples: int) -> None:
    """`samples` views (2 per object, 5 classes) at 1024x1024 from the demo generator."""
    from visionflow.demo.jacquard import generate

    generate(root, objects_per_class=samples // 10, views_per_object=2, size=1024)


def make_cvat(root: Path, samples: int) -> None:
    """`samples` 4K frames in tasks of CVAT_TASK_FRAMES, each with its annotations.xml."""
    import pandas as pd

    from visionflow.data.cvat.export import write_cvat_xml

    rng = np.random.default_rng(0)
    width, height = CVAT_FRAME
    for task_index in range(samples // CVAT_TASK_FRAMES):
        task = f"FieldData 2020052{task_index % 10}145736 1L GH0{task_index:05d}"
        (root / task / "images").mkdir(parents=True)
        soil = texture(rng, height, width + CVAT_TASK_FRAMES)
        rows = []
        for frame in range(CVAT_TASK_FRAMES):
            name = f"frame_{frame:06d}.jpg"
            pixels = soil[:, frame : frame + width].copy()
            base = {"task": task, "frame": frame, "image": f"{task}/images/{name}",
                    "width": width, "height": height}  # fmt: skip
            boxes = []
            for _ in range(int(rng.integers(0, 9))):
                x0, y0 = int(rng.integers(0, width - 300)), int(rng.integers(0, height - 300))
                x1, y1 = x0 + int(rng.integers(60, 300)), y0 + int(rng.integers(60, 300))
                pixels[y0:y1, x0:x1] = (70, 130, 50)
                label = CVAT_LABELS[int(rng.integers(len(CVAT_LABELS)))]
                boxes.append(base | {"label": label, "xmin": x0, "ymin": y0, "xmax": x1,
                                     "ymax": y1, "attributes": "{}"})  # fmt: skip
            empty = {"label": None, "xmin": np.nan, "ymin": np.nan, "xmax": np.nan,
                     "ymax": np.nan, "attributes": "{}"}  # fmt: skip
            rows += boxes or [base | empty]
            Image.fromarray(pixels).save(root / task / "images" / name, quality=90)
        write_cvat_xml(root / task / "annotations.xml", pd.DataFrame(rows), CVAT_LABELS, task)


MAKERS = {"miniimagenet": make_miniimagenet, "wlasl": make_wlasl, "jacquard": make_jacquard,
          "cvat": make_cvat}  # fmt: skip


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
    workers = WORKERS[dataset]
    if dataset == "miniimagenet":
        from visionflow.data.miniimagenet import prepare

        prepare(raw, out, 256, "error", workers)
    elif dataset == "wlasl":
        from visionflow.data.wlasl import prepare

        prepare(raw / "WLASL_v0.3.json", raw / "videos", out, "asl10", 256, workers=workers)
    elif dataset == "jacquard":
        from visionflow.data.jacquard.prepare import prepare

        prepare(raw, out, size=224, workers=workers)
    else:
        from visionflow.data.cvat.table import prepare

        prepare(raw, out, [], CVAT_LABELS, crop_4k=True)


def tree_memory_peak(stop: threading.Event, peak: list[float]) -> None:
    """Keep in `peak` the largest summed RSS, PSS and file-backed RSS (MB) of this process and
    its workers."""
    me = psutil.Process()
    while not stop.wait(0.02):
        total = np.zeros(3)
        for process in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                memory = process.memory_full_info()
                total += (memory.rss, memory.pss, memory.shared)
        peak[:] = np.maximum(peak, total / 2**20).tolist()


def run_measured(dataset: str, raw: Path, out: Path) -> list[float]:
    """[wall seconds, CPU seconds of the process and its workers, peak summed RSS, PSS and
    file-backed RSS MB, own and largest child's getrusage MB] of one conversion."""
    stop, peak = threading.Event(), [0.0, 0.0, 0.0]
    sampler = threading.Thread(target=tree_memory_peak, args=(stop, peak))
    sampler.start()
    started = time.perf_counter()
    convert(dataset, raw, out)
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    own, kids = map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    cpu = sum(r.ru_utime + r.ru_stime for r in (own, kids))
    return [seconds, cpu, *peak, own.ru_maxrss / 1024, kids.ru_maxrss / 1024]


def measured_convert(dataset: str, raw: Path, out: Path) -> dict[str, float]:
    """Seconds and peak RSS (MB) of one conversion in a fresh process."""
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import scale;"
        " from pathlib import Path;"
        " print(json.dumps(scale.run_measured(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))"
    )
    args = [sys.executable, "-c", script, str(Path(__file__).parent), dataset, str(raw), str(out)]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{dataset} conversion failed:\n{result.stderr[-2000:]}")
    seconds, cpu, rss, pss, file, own, worker = json.loads(result.stdout.splitlines()[-1])
    return {"seconds": seconds, "cpu_seconds": cpu, "tree_rss_mb": rss, "tree_pss_mb": pss,
            "tree_file_rss_mb": file, "rss_mb": own, "worker_rss_mb": worker,
            "load_1min": os.getloadavg()[0]}  # fmt: skip


def size_of(path: Path) -> int:
    """Bytes of every file under `path`."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(dataset: str, samples: int, scratch: Path) -> dict[str, float]:
    """Generate `samples` raw samples, convert them, return per-sample and peak figures."""
    raw, out = scratch / f"{dataset}-{samples}-raw", scratch / f"{dataset}-{samples}-store"
    started = time.perf_counter()
    MAKERS[dataset](raw, samples)
    log(f"{dataset} N={samples}: raw data written in {time.perf_counter() - started:.0f} s")
    run = measured_convert(dataset, raw, out)
    stored = size_of(out)
    row = {
        "samples": samples,
        "raw_bytes_per_sample": size_of(raw) / samples,
        "store_bytes_per_sample": stored / samples,
        "core_seconds_per_sample": run["cpu_seconds"] / samples,
        **run,
    }
    log(f"{dataset} N={samples}: {json.dumps(row)}")
    return row


def extrapolated(dataset: str, rows: list[dict[str, float]]) -> list[dict[str, object]]:
    """One line per paper dataset: bytes per sample of the largest N, CPU seconds per sample
    between the smallest and largest N, peak memory of the largest N."""
    large, small = rows[-1], rows[0]
    store, raw = large["store_bytes_per_sample"], large["raw_bytes_per_sample"]
    # CPU seconds per extra sample: the fixed cost (imports, pool start) drops out
    marginal_cpu = (large["cpu_seconds"] - small["cpu_seconds"]) / (
        large["samples"] - small["samples"]
    )
    return [
        {
            "dataset": name,
            "samples": count,
            "raw_gb": raw * count / 1e9,
            "store_gb": store * count / 1e9,
            "ratio": store / raw,
            "ratio_real_raw": store / REAL_RAW_BYTES[name] if name in REAL_RAW_BYTES else None,
            "core_hours": marginal_cpu * count / 3600,
            "peak_rss_mb": large["tree_rss_mb"],
            "peak_pss_mb": large["tree_pss_mb"],
            "rss_growth": large["tree_rss_mb"] / small["tree_rss_mb"] - 1,
            "pss_growth": large["tree_pss_mb"] / small["tree_pss_mb"] - 1,
        }
        for name, count in PAPER[dataset]
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--reuse", action="store_true", help="extrapolate again from --out's measurements"
    )
    args = parser.parse_args()
    report: dict[str, object] = {"workers": WORKERS, "sizes": {}}
    if args.out.is_file():  # keep the datasets this run does not measure
        report["sizes"] = json.loads(args.out.read_text())["sizes"]
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        for dataset in [] if args.reuse else args.datasets:
            report["sizes"][dataset] = [measure(dataset, n, Path(scratch)) for n in SIZES[dataset]]
    report["sizes"] = {d: report["sizes"][d] for d in SIZES if d in report["sizes"]}
    report["paper"] = [row for d, rows in report["sizes"].items() for row in extrapolated(d, rows)]
    write_json(args.out, report)
    print(json.dumps(report["paper"], indent=1))


if __name__ == "__main__":
    main()
