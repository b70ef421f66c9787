"""Synthetic WLASL-format sign videos: a signer whose hand traces a gloss-specific path.

Glosses come in pairs that trace the same path in opposite directions, so only the order of
the frames tells them apart (shuffling the frames must hurt); no path turns into its pair's
under a horizontal flip, the training augmentation. The hand moves only between
`frame_start` and `frame_end`; instances cover every frame-range case the preprocessing
handles, one clip is too short, one video is missing and one is corrupt. Output is
byte-identical per seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import av
import numpy as np

from visionflow.io import atomic_directory

# The first glosses of WLASL, in its order.
GLOSSES = (
    "book", "drink", "computer", "before", "chair", "go", "clothes", "who", "candy", "cousin",
    "deaf", "fine", "help", "no", "thin", "walk", "year", "yes", "all", "black",
)  # fmt: skip
PATHS = ("vertical", "diagonal", "zigzag", "hook", "spiral")
WIDTH, HEIGHT, FPS = 128, 96, 25
FRAMES = (28, 40)
SHORT_CLIP_FRAMES = 6


def gloss_path(label: int) -> tuple[str, bool]:
    """(path shape, reversed) of gloss `label`; labels 2k and 2k+1 share a shape."""
    return PATHS[(label // 2) % len(PATHS)], label % 2 == 1


def hand_offset(shape: str, t: float) -> tuple[float, float]:
    """Hand position relative to the chest, in torso heights, at progress t in [0, 1]."""
    if shape == "vertical":
        return 0.0, -0.6 + 1.2 * t
    if shape == "diagonal":
        return -0.5 + 1.0 * t, -0.5 + 1.0 * t
    if shape == "zigzag":
        return 0.35 * math.copysign(1, math.sin(3 * math.pi * t)), -0.6 + 1.2 * t
    if shape == "hook":  # down, then out to the right
        return (0.0, -0.6 + 2.4 * t) if t < 0.5 else (1.4 * (t - 0.5), 0.6)
    angle, radius = 4 * math.pi * t, 0.1 + 0.5 * t  # spiral outwards
    return radius * math.cos(angle), radius * math.sin(angle)


def render(label: int, frames: int, start: int, end: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, HEIGHT, WIDTH, 3) uint8 video and the signer's bbox; sign on frames start..end."""
    shape, backwards = gloss_path(label)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    background = rng.integers(40, 90, size=3)
    base = np.broadcast_to(background, (HEIGHT, WIDTH, 3)).astype(np.float32)
    base = base + rng.normal(0, 6, size=(HEIGHT, WIDTH, 1))
    cx, torso = rng.uniform(0.35, 0.65) * WIDTH, rng.uniform(0.38, 0.48) * HEIGHT
    chest_y = HEIGHT - torso * 0.9
    body = (np.abs(xx - cx) < torso * 0.35) & (yy > HEIGHT - torso * 1.4)
    head = (xx - cx) ** 2 + (yy - (HEIGHT - torso * 1.65)) ** 2 < (torso * 0.25) ** 2
    base[body] = rng.integers(120, 200, size=3)
    base[head] = (210, 170, 140)
    # Glosses past the first ten repeat the paths with a bigger hand.
    radius = torso * (0.2 if label < 2 * len(PATHS) else 0.3)
    amplitude = rng.uniform(0.85, 1.1)
    video = np.empty((frames, HEIGHT, WIDTH, 3), np.uint8)
    for i in range(frames):
        progress = np.clip((i - start) / max(end - start, 1), 0.0, 1.0)
        dx, dy = hand_offset(shape, 1.0 - progress if backwards else progress)
        hx, hy = cx + dx * torso * amplitude, chest_y + dy * torso * amplitude
        frame = base.copy()
        frame[(xx - hx) ** 2 + (yy - hy) ** 2 < radius**2] = (245, 205, 170)
        video[i] = np.clip(frame + rng.normal(0, 3, size=(HEIGHT, WIDTH, 1)), 0, 255)
    return video


def signer_bbox(video: np.ndarray) -> list[int]:
    """[x1, y1, x2, y2] around everything that ever differs from the first column's colour."""
    diff = np.abs(video.astype(np.int16) - video[:, :, :1].astype(np.int16)).max(axis=(0, 3))
    ys, xs = np.nonzero(diff > 40)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def write_mp4(path: Path, video: np.ndarray) -> None:
    """H.264 (yuv420p) mp4 of (T, H, W, 3) frames at FPS, encoded single-threaded so the
    bytes are reproducible."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.height, stream.width = video.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {"crf": "18"}
        for array in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())


def frame_range(case: int, frames: int) -> tuple[int, int, int, int]:
    """(frame_start, frame_end) as WLASL writes them and the 0-based sign span for `case`."""
    if case == 0:  # whole video, open end
        return 1, -1, 0, frames - 1
    if case == 1:  # idle frames before and after the sign
        return 5, frames - 4, 4, frames - 5
    if case == 2:  # end past the video's last frame
        return 3, frames + 12, 2, frames - 1
    return 1, frames, 0, frames - 1  # exact range


def generate(
    out: str | Path,
    glosses: int = 10,
    per_split: dict[str, int] | None = None,
    seed: int = 0,
) -> None:
    """Write `out`/WLASL_v0.3.json and `out`/videos/<video_id>.mp4 for `glosses` glosses."""
    if not 2 <= glosses <= len(GLOSSES):
        raise ValueError(f"glosses must be in [2, {len(GLOSSES)}], got {glosses}")
    per_split = per_split or {"train": 8, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    index, video_id = [], 0
    with atomic_directory(out) as root:
        (root / "videos").mkdir()
        for label in range(glosses):
            instances = []
            splits = [s for s, n in per_split.items() for _ in range(n)]
            for number, split in enumerate(splits):
                video_id += 1
                frames = int(rng.integers(*FRAMES, endpoint=True))
                if label == 0 and number == 0:
                    frames = SHORT_CLIP_FRAMES
                first, last, sign_start, sign_end = frame_range(number % 4, frames)
                video = render(label, frames, sign_start, sign_end, rng)
                name = f"{video_id:05d}"
                if (label, number) == (2, 0):  # a truncated download
                    (root / "videos" / f"{name}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
                elif (label, number) != (1, 0):  # (1, 0) was never downloaded
                    write_mp4(root / "videos" / f"{name}.mp4", video)
                instances.append(
                    {
                        "bbox": signer_bbox(video),
                        "fps": FPS,
                        "frame_end": last,
                        "frame_start": first,
                        "instance_id": number,
                        "signer_id": int(rng.integers(1, 30)),
                        "source": "visionflow-demo",
                        "split": split,
                        "url": f"https://example.org/{name}.mp4",
                        "variation_id": 0,
                        "video_id": name,
                    }
                )
            index.append({"gloss": GLOSSES[label], "instances": instances})
        (root / "WLASL_v0.3.json").write_text(json.dumps(index, indent=1))
