"""Clips kept compressed: frames at their stored size encoded once as H.264 (4:4:4, so odd
sizes work and colour keeps full resolution), decoded with decord when a sample is read."""

from __future__ import annotations

import io
from collections.abc import Sequence

import av
import numpy as np

# How every clip is encoded; info.json records it, and a reader refuses any other format.
CODEC = {"format": "h264", "pix_fmt": "yuv444p", "crf": 15}
RATE = 25  # nominal frame rate of a stored clip (only the frame order matters)


def encode_clip(frames: np.ndarray) -> bytes:
    """(T, H, W, 3) uint8 frames as an mp4 file's bytes, encoded on one thread so the bytes
    are the same on every run."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = CODEC["pix_fmt"]
        stream.options = {"crf": str(CODEC["crf"])}
        stream.codec_context.thread_count = 1
        for frame in frames:
            container.mux(stream.encode(_planes(frame)))
        container.mux(stream.encode())
    return buffer.getvalue()


def _planes(frame: np.ndarray) -> av.VideoFrame:
    """An RGB frame as a tightly packed 4:4:4 frame. Converted here rather than by the
    encoder: its own conversion made about one clip in twenty encode differently each run."""
    rgb = av.VideoFrame.from_ndarray(frame, format="rgb24")
    planes = rgb.reformat(format=CODEC["pix_fmt"]).to_ndarray()
    return av.VideoFrame.from_ndarray(planes, format=CODEC["pix_fmt"])


def decode_frames(data: bytes, frames: int, indices: Sequence[int] | None = None) -> np.ndarray:
    """The frames `indices` (all if None) of an encoded clip of `frames` frames, (N, H, W, 3)
    uint8; ValueError if the clip holds another number of frames."""
    import decord  # imported on first use: only readers of a clip store need it

    reader = decord.VideoReader(io.BytesIO(data), num_threads=1)
    if len(reader) != frames:
        raise ValueError(f"decodes to {len(reader)} frames, expected {frames}")
    chosen = range(frames) if indices is None else [int(i) for i in indices]
    return reader.get_batch(list(chosen)).asnumpy()
