"""Clips kept compressed: frames at their stored size encoded once as H.264 (4:4:4, so odd
sizes work and colour keeps full resolution), decoded with PyAV when a sample is read."""

from __future__ import annotations

import io
from collections.abc import Sequence

import av
import numpy as np

# How every clip is encoded; info.json records it, and a reader refuses any other format.
CODEC = {"format": "h264", "pix_fmt": "yuv444p", "crf": 15, "tune": "zerolatency"}
RATE = 25  # nominal frame rate of a stored clip (only the frame order matters)


def encode_clip(frames: np.ndarray) -> bytes:
    """(T, H, W, 3) uint8 frames as an mp4 file's bytes, the same bytes on every run."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = CODEC["pix_fmt"]
        # One thread and no lookahead (zerolatency): x264's lookahead and macroblock tree
        # made the same clip encode differently from one run to the next.
        stream.options = {"crf": str(CODEC["crf"]), "tune": CODEC["tune"], "threads": "1"}
        for index, frame in enumerate(frames):
            planes = _planes(frame)
            planes.pts = index
            container.mux(stream.encode(planes))
        container.mux(stream.encode())
    return buffer.getvalue()


def _planes(frame: np.ndarray) -> av.VideoFrame:
    """An RGB frame as a tightly packed 4:4:4 frame."""
    rgb = av.VideoFrame.from_ndarray(frame, format="rgb24")
    planes = rgb.reformat(format=CODEC["pix_fmt"]).to_ndarray()
    return av.VideoFrame.from_ndarray(planes, format=CODEC["pix_fmt"])


def decode_frames(data: bytes, frames: int, indices: Sequence[int] | None = None) -> np.ndarray:
    """The frames `indices` (all if None) of an encoded clip of `frames` frames, (N, H, W, 3)
    uint8; ValueError if the clip holds another number of frames.

    Decoded with PyAV: decord misreads clips of some sizes (16, 24 and 48 px among them)."""
    chosen = range(frames) if indices is None else [int(i) for i in indices]
    wanted, decoded = set(chosen), {}
    count = 0
    with av.open(io.BytesIO(data)) as container:
        for count, frame in enumerate(container.decode(video=0), start=1):
            if count - 1 in wanted:
                decoded[count - 1] = frame.to_ndarray(format="rgb24")
    if count != frames:
        raise ValueError(f"decodes to {count} frames, expected {frames}")
    return np.stack([decoded[i] for i in chosen])
