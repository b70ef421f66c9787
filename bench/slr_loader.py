"""SLR training input pipeline throughput: prepared clip store vs decoding the videos on the fly.

Measured, in clips per second through a `torch.utils.data.DataLoader` with the training
sampler (EpochSeededSampler) and transform (train_transform: RandomCrop + flip per clip):

  store       SeededImageDataset(ClipSource(PackedClips(store, "train"), N), ...) on a store
              that `prepare` wrote at --size (64 by default, 256 in the paper setting);
  on-the-fly  the same dataset over a source that, per access, decodes the clip's mp4 with
              decord, converts it as `prepare` does (frame_span, crop_box, crop_resize) and picks N
              frames as ClipSource does (frame_indices, black padding at the end).

Both deliver uint8 batches of shape (B, N, 3, crop, crop); every train sample of the two
sides is compared once by PSNR, the store being H.264 (this is also the warm-up). The videos
are the synthetic WLASL demo (H.264 128x96, 25 fps, 28-40 frames), or with --videos paper
the 640x480 videos of bench/scale.py (50-80 frames), as the paper setting reads them. Each
repetition times --batches batches after one warm-up batch; repetitions alternate store,
on-the-fly, store, ... so slow drift of the machine affects both alike. The report gives
the median rate of each and the ratio store / on-the-fly; the target is a ratio of at
least 5. Compare ratios between machines, not rates.

Where the time goes: each side's first --batches x --batch-size train samples are also
taken apart in the main process, timing per clip the decode (the store's H.264 at --size;
the video's frames for on-the-fly), the conversion (on-the-fly only: frame_span, crop_resize
and picking N frames), the transform, and per batch the collate (`default_collate`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import decord
import numpy as np
import pandas as pd
import torch
from loader_rate import items_per_second
from scale import make_wlasl
from torch.utils.data import DataLoader, default_collate

from visionflow.data.wlasl import PackedClips, crop_box, crop_resize, frame_span, prepare
from visionflow.demo.wlasl import generate
from visionflow.engine.sampling import EpochSeededSampler, SeededImageDataset
from visionflow.experiments.slr.clips import ClipSource, frame_indices, train_transform
from visionflow.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "slr_loader.json"
TARGET_RATIO = 5.0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class DecodedClips:
    """The train split of a prepared store, but each sample decoded from its video on access."""

    def __init__(self, prepared: Path, num_frames: int) -> None:
        manifest = pd.read_parquet(prepared / "manifest.parquet")
        self.rows = manifest[manifest["split"] == "train"].to_dict("records")
        self.labels = np.array([row["label"] for row in self.rows], np.int64)
        self.size = json.loads((prepared / "info.json").read_text())["frame_size"]
        self.num_frames = num_frames

    def __len__(self) -> int:
        return len(self.rows)

    def image(self, index: int) -> torch.Tensor:
        """Sample `index` as ClipSource gives it: (N, 3, S, S) uint8, black-padded to N frames."""
        return self.converted(self.decoded(index))

    def decoded(self, index: int) -> np.ndarray:
        """The frames of sample `index`'s span, decoded from its video: (T, H, W, 3) uint8."""
        row = self.rows[index]
        reader = decord.VideoReader(row["source"], num_threads=1)
        start, stop = frame_span(row["frame_start"], row["frame_end"], len(reader))
        return reader.get_batch(list(range(start, stop))).asnumpy()

    def converted(self, frames: np.ndarray) -> torch.Tensor:
        """Decoded frames cropped and resized as `prepare` does, N of them picked as ClipSource."""
        box = crop_box(None, frames.shape[2], frames.shape[1])  # prepare's default crop
        clip = crop_resize(frames, box, self.size)
        picked = torch.from_numpy(clip[frame_indices(len(clip), self.num_frames)])
        sample = torch.zeros((self.num_frames, 3, self.size, self.size), dtype=torch.uint8)
        sample[: len(picked)] = picked.permute(0, 3, 1, 2)
        return sample


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio of two uint8 samples in dB (inf when identical)."""
    error = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if error == 0 else 10 * np.log10(255**2 / error)


def stage_ms(dataset: SeededImageDataset, count: int, batch_size: int) -> dict[str, float]:
    """Milliseconds per clip of decode, conversion, transform and collate over `count` clips."""
    source, totals = (
        dataset.source,
        dict.fromkeys(("decode", "convert", "transform", "collate"), 0.0),
    )
    samples = []
    for index in range(count):
        start = time.perf_counter()
        decoded = source.decoded(index) if isinstance(source, DecodedClips) else source.image(index)
        middle = time.perf_counter()
        clip = source.converted(decoded) if isinstance(source, DecodedClips) else decoded
        converted = time.perf_counter()
        samples.append((dataset.transform(clip), 0))
        totals["decode"] += middle - start
        totals["convert"] += converted - middle
        totals["transform"] += time.perf_counter() - converted
    for first in range(0, count, batch_size):
        start = time.perf_counter()
        default_collate(samples[first : first + batch_size])
        totals["collate"] += time.perf_counter() - start
    return {stage: 1000 * seconds / count for stage, seconds in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--videos",
        choices=("demo", "paper"),
        default="demo",
        help="demo: the 128x96 demo videos; paper: 640x480 H.264 of 50-80 frames (bench/scale.py)",
    )
    parser.add_argument("--glosses", type=int, default=10, help="demo glosses")
    parser.add_argument("--per-gloss", type=int, default=12, help="demo train videos per gloss")
    parser.add_argument("--size", type=int, default=64, help="stored frame size (paper: 256)")
    parser.add_argument("--crop", type=int, help="train crop size (default: size * 7 // 8)")
    parser.add_argument("--num-frames", type=int, default=8, help="frames per sample (paper: 32)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per repetition")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of each pipeline")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader num_workers")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads in this process (workers use 1)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.crop = args.crop or args.size * 7 // 8
    if args.crop > args.size:
        parser.error("--crop must not exceed --size")
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix="bench-slr-loader-") as tmp:
        raw, store = Path(tmp) / "raw", Path(tmp) / "prepared"
        log(f"writing {args.glosses} x {args.per_gloss} {args.videos} train videos to {raw}")
        if args.videos == "paper":  # three in five of its instances are train
            make_wlasl(raw, args.glosses * args.per_gloss * 5 // 3, args.glosses)
        else:
            generate(raw, args.glosses, {"train": args.per_gloss}, seed=0)
        index = raw / "WLASL_v0.3.json"
        log(f"preparing the store at frame size {args.size}")
        split = f"asl{args.glosses}"
        prepare(index, raw / "videos", store, split, args.size, 10, "error", workers=1)

        transform = train_transform(args.crop)
        sources = {
            "store": ClipSource(PackedClips(store, "train"), args.num_frames),
            "on-the-fly": DecodedClips(store, args.num_frames),
        }
        datasets = {name: SeededImageDataset(s, transform, seed=0) for name, s in sources.items()}
        if (args.batches + 1) * args.batch_size > len(datasets["store"]):
            parser.error(f"need (batches + 1) * batch-size <= {len(datasets['store'])} clips")
        agreement = min(
            psnr(datasets["store"][i][0], datasets["on-the-fly"][i][0])
            for i in range(len(datasets["store"]))
        )
        loaders = {
            name: DataLoader(
                dataset,
                batch_size=args.batch_size,
                sampler=EpochSeededSampler(len(dataset), 0),
                num_workers=args.workers,
            )
            for name, dataset in datasets.items()
        }
        count = args.batches * args.batch_size
        stages = {
            name: stage_ms(dataset, count, args.batch_size) for name, dataset in datasets.items()
        }
        log(f"ms per clip by stage: {json.dumps(stages)}")
        rates: dict[str, list[float]] = {name: [] for name in loaders}
        for rep in range(args.repeats):
            for name, loader in loaders.items():
                loader.sampler.set_epoch(rep)
                rates[name].append(items_per_second(loader, args.batches))
                log(f"repeat {rep + 1}/{args.repeats}  {name:<10} {rates[name][-1]:8.1f} clips/s")

    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = median["store"] / median["on-the-fly"]
    met = ratio >= TARGET_RATIO
    verdict = "met" if met else "NOT met"
    shape = f"{args.batch_size} x {args.num_frames} x 3 x {args.crop} x {args.crop}"
    print(f"{len(datasets['store'])} train clips stored at {args.size} px, batches {shape}")
    print(f"lowest PSNR between the two sides' samples: {agreement:.1f} dB")
    for name, values in rates.items():
        print(f"{name:<10} median {median[name]:8.1f} clips/s (min {min(values):.1f})")
    print(f"ratio store/on-the-fly: {ratio:.2f}x (target >= {TARGET_RATIO:g}x: {verdict})")
    for name, split in stages.items():
        print(f"{name:<10} ms per clip: " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report = {
        "settings": settings,
        "train_clips": len(datasets["store"]),
        "min_psnr_db": agreement,
        "clips_per_s": rates,
        "median_clips_per_s": median,
        "ratio_store_over_on_the_fly": ratio,
        "stage_ms_per_clip": stages,
        "target_ratio": TARGET_RATIO,
        "target_met": met,
        "torch": torch.__version__,
        "decord": decord.__version__,
    }
    write_json(args.out, report)


if __name__ == "__main__":
    main()
