"""Video decoding throughput: decord (what `prepare` uses) vs PyAV on the same mp4 clips.

Measured, in frames per second on one decoding thread each, is decoding every frame of every
clip to a uint8 RGB array of shape (T, H, W, 3), opening the file included:

  decord  decord.VideoReader(path, num_threads=1).get_batch(all frames).asnumpy(), exactly
          as visionflow.data.wlasl.decode_clip reads;
  pyav    av.open(path), container.decode(video=0) with the stream's thread_count set to 1,
          frame.to_ndarray(format="rgb24") per frame, stacked.

The clips are synthetic WLASL demo videos (H.264 128x96, 25 fps, 28-40 frames; the short demo
clip is kept) or every *.mp4 in --videos DIR; clips that either decoder fails on are skipped.
A first pass with both decoders is the warm-up and the check: frames per clip must match, and
the mean absolute pixel difference of the two outputs is reported (their YUV-to-RGB conversions
may differ slightly). Each repetition then decodes every clip once with each decoder,
alternating, so slow drift of the machine affects both alike. The report gives the median rate
of each and the ratio decord / pyav; the target is a ratio of at least 1 (the decoder `prepare`
uses is no slower than the alternative). Compare ratios between machines, not rates.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import decord
import numpy as np

from visionflow.demo.wlasl import generate
from visionflow.io import write_json

RESULTS = Path(__file__).resolve().parent / "results" / "video_decoding.json"
TARGET_RATIO = 1.0
DECODE_ERRORS = (RuntimeError, ValueError, decord.DECORDError, av.FFmpegError)


def decode_decord(path: Path) -> np.ndarray:
    """All frames as (T, H, W, 3) uint8 RGB, read as decode_clip reads them."""
    reader = decord.VideoReader(str(path), num_threads=1)
    return reader.get_batch(list(range(len(reader)))).asnumpy()


def decode_pyav(path: Path) -> np.ndarray:
    """All frames as (T, H, W, 3) uint8 RGB, decoded by PyAV on one thread."""
    with av.open(str(path)) as container:
        container.streams.video[0].thread_count = 1
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


DECODERS = {"decord": decode_decord, "pyav": decode_pyav}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def frames_per_second(decode, paths: list[Path]) -> float:
    """Rate of `decode` over every clip in `paths`."""
    start = time.perf_counter()
    frames = sum(len(decode(path)) for path in paths)
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--videos", type=Path, help="folder of real *.mp4 (default: demo clips)")
    parser.add_argument("--glosses", type=int, default=10, help="demo glosses")
    parser.add_argument("--per-gloss", type=int, default=8, help="demo clips per gloss")
    parser.add_argument("--seed", type=int, default=0, help="demo seed")
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of each decoder")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-video-decoding-") as tmp:
        folder = args.videos
        if folder is None:
            generate(Path(tmp) / "demo", args.glosses, {"train": args.per_gloss}, args.seed)
            folder = Path(tmp) / "demo" / "videos"
        candidates = sorted(folder.glob("*.mp4"))
        paths, frames, same_counts, abs_diff, compared = [], 0, True, 0, 0
        for path in candidates:
            try:
                by_decord, by_pyav = decode_decord(path), decode_pyav(path)
            except DECODE_ERRORS as exc:
                reason = str(exc).partition("\n")[0]
                log(f"skipping {path.name}: {reason}")
                continue
            paths.append(path)
            frames += len(by_decord)
            same_counts &= len(by_decord) == len(by_pyav)
            n = min(len(by_decord), len(by_pyav))
            abs_diff += int(np.abs(by_decord[:n].astype(np.int16) - by_pyav[:n]).sum())
            compared += by_decord[:n].size
        if not paths:
            parser.error(f"no mp4 in {folder} decodes with both decoders")
        rates: dict[str, list[float]] = {name: [] for name in DECODERS}
        for rep in range(args.repeats):
            for name, decode in DECODERS.items():
                rates[name].append(frames_per_second(decode, paths))
                log(f"repeat {rep + 1}/{args.repeats}  {name:<6} {rates[name][-1]:8.0f} frames/s")

    median = {name: statistics.median(values) for name, values in rates.items()}
    ratio = median["decord"] / median["pyav"]
    met = ratio >= TARGET_RATIO
    verdict = "met" if met else "NOT met"
    pixel_diff = abs_diff / compared
    print(f"{len(paths)} of {len(candidates)} clips decodable, {frames} frames")
    print(f"same frame counts: {same_counts}, mean |decord - pyav| = {pixel_diff:.3f} (of 255)")
    for name, values in rates.items():
        print(f"{name:<6} median {median[name]:8.0f} frames/s (min {min(values):.0f})")
    print(f"ratio decord/pyav: {ratio:.2f}x (target >= {TARGET_RATIO:g}x: {verdict})")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    report = {
        "settings": settings,
        "clips": len(paths),
        "skipped": len(candidates) - len(paths),
        "frames": frames,
        "same_frame_counts": same_counts,
        "mean_abs_pixel_diff": pixel_diff,
        "frames_per_s": rates,
        "median_frames_per_s": median,
        "ratio_decord_over_pyav": ratio,
        "target_ratio": TARGET_RATIO,
        "target_met": met,
        "decord": decord.__version__,
        "av": av.__version__,
    }
    write_json(args.out, report)


if __name__ == "__main__":
    main()
