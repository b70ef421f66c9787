"""Clips kept compressed: frames at their stored size encoded once as H.264 in RGB (no chroma
subsampling, so odd sizes work and colour keeps full resolution), decoded with PyAV when a
sample is read, straight into channel-first planes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import av
import numpy as np

# How every clip is encoded; info.json records it, and a reader refuses any other format.
# fastdecode (no CABAC, no deblocking) decodes about twice as fast for about 7% more bytes.
CODEC = {"format": "h264", "encoder": "libx264rgb", "crf": 20, "tune": "zerolatency,fastdecode"}
RATE = 25  # nominal frame rate of a stored clip (only the frame order matters)
PLANE_CHANNELS = (1, 2, 0)  # a decoded gbrp frame's planes are G, B, R


def encode_clip(frames: np.ndarray) -> bytes:
    """(T, H, W, 3) uint8 frames as an mp4 file's bytes, the same bytes on every run."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(CODEC["encoder"], rate=RATE)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "rgb24"
        # One thread and no lookahead (zerolatency): x264's lookahead and macroblock tree
        # made the same clip encode differently from one run to the next.
        stream.options = {"crf": str(CODEC["crf"]), "tune": CODEC["tune"], "threads": "1"}
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = index
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return buffer.getvalue()


def decode_frames(data: bytes, frames: int, indices: Sequence[int] | None = None) -> np.ndarray:
    """The frames `indices` (all if None) of an encoded clip of `frames` frames, (N, 3, H, W)
    uint8. Decoding stops at the last frame asked for; ValueError if the clip holds fewer frames
    than that, or (all frames asked for) another number of frames.

    Decoded with PyAV: decord misreads clips of some sizes (16, 24 and 48 px among them)."""
    chosen = list(range(frames)) if indices is None else [int(i) for i in indices]
    positions: dict[int, list[int]] = {}
    for position, index in enumerate(chosen):
        positions.setdefault(index, []).append(position)
    last, count = max(chosen, default=-1), 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        out = np.empty((len(chosen), 3, stream.height, stream.width), np.uint8)
        for count, frame in enumerate(container.decode(stream), start=1):
            for position in positions.get(count - 1, ()):
                _copy_planes(frame, out[position])
            if count - 1 == last and indices is not None:
                break
    if indices is None and count != frames:
        raise ValueError(f"decodes to {count} frames, expected {frames}")
    if count <= last:
        raise ValueError(f"decodes to {count} frames, frame {last} asked for")
    return out


def _copy_planes(frame: av.VideoFrame, out: np.ndarray) -> None:
    """A decoded gbrp frame's planes into `out` (3, H, W) in RGB order."""
    for channel, plane in zip(PLANE_CHANNELS, frame.planes, strict=True):
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        out[channel] = rows[:, : plane.width]
