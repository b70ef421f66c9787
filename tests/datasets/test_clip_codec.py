"""The WLASL store's clip format: every size decodes, and the same frames always encode to the
same bytes."""

import numpy as np
import pytest

from visionflow.data.clip_codec import decode_frames, encode_clip


def clip(size: int, seed: int) -> np.ndarray:
    """12 frames of `size` px of 4 px blocks, moving (content that compresses like video)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (size // 4 + 12, size // 4, 3), dtype=np.uint8)
    image = blocks.repeat(4, axis=0).repeat(4, axis=1)
    return np.stack([image[t * 4 : t * 4 + size, :size] for t in range(12)])


@pytest.mark.parametrize("size", [16, 24, 48, 56, 64])
def test_every_size_decodes_near_losslessly(size):
    frames = clip(size, seed=size)
    decoded = decode_frames(encode_clip(frames), len(frames)).transpose(0, 2, 3, 1)
    assert decoded.shape == frames.shape
    error = np.mean((decoded.astype(np.float64) - frames) ** 2)
    assert 10 * np.log10(255**2 / max(error, 1e-12)) > 30  # PSNR, dB
    picked = decode_frames(encode_clip(frames), len(frames), [11, 0, 0]).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(picked, decoded[[11, 0, 0]])


def test_the_same_frames_encode_to_the_same_bytes_whatever_came_before():
    clips = [clip(32, seed) for seed in range(8)]
    first = [encode_clip(frames) for frames in clips]
    again = [encode_clip(frames) for frames in reversed(clips)][::-1]
    assert first == again


def test_a_clip_of_another_length_is_refused():
    data = encode_clip(clip(32, seed=0))
    with pytest.raises(ValueError, match="decodes to 12 frames, expected 13"):
        decode_frames(data, 13)


def test_frames_past_the_end_of_a_clip_are_refused():
    data = encode_clip(clip(32, seed=0))
    assert decode_frames(data, 12, [0, 11]).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="decodes to 12 frames, frame 12 asked for"):
        decode_frames(data, 12, [0, 12])
