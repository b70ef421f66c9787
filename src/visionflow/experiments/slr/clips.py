"""Video clips for training and testing: N-frame sampling, frame shuffling, crops and flips."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.transforms import v2

from visionflow.data.wlasl import PackedClips


def frame_indices(length: int, num_frames: int) -> np.ndarray:
    """The stored frames a clip of `length` contributes to an N-frame sample, as SLR picks them.

    Longer clips are strided by length // N and cut to the first N; shorter ones give all
    their frames (the sample is then padded with black frames at the end).
    """
    if length <= num_frames:
        return np.arange(length)
    return np.arange(0, length, length // num_frames)[:num_frames]


def shuffle_permutation(num_frames: int, seed: int) -> list[int]:
    """The frame order of a shuffled-frames test; seed 42 gives the original's permutation."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(num_frames, generator=generator).tolist()


class ClipSource:
    """Exposes a prepared split as N-frame uint8 samples of shape (N, 3, S, S).

    With `permutation`, every sample's frames are reordered by it (the shuffled-frames test).
    """

    def __init__(
        self, clips: PackedClips, num_frames: int, permutation: Sequence[int] | None = None
    ) -> None:
        if permutation is not None and sorted(permutation) != list(range(num_frames)):
            raise ValueError(f"permutation must reorder {num_frames} frames, got {permutation}")
        self.clips, self.num_frames, self.permutation = clips, num_frames, permutation
        self.labels = clips.labels

    def __len__(self) -> int:
        return len(self.clips)

    def image(self, index: int) -> torch.Tensor:
        """Sample `index`: strided or black-padded to N frames, then reordered if shuffling."""
        picked = self.clips.clip(
            index, frame_indices(int(self.clips.frames[index]), self.num_frames)
        )
        missing = self.num_frames - len(picked)
        if missing:
            picked = torch.cat([picked, picked.new_zeros((missing, *picked.shape[1:]))])
        if self.permutation is not None:
            picked = picked[list(self.permutation)]
        return picked


def train_transform(crop_size: int) -> v2.Compose:
    """RandomCrop + horizontal flip, the same for every frame of a clip."""
    return v2.Compose([v2.RandomCrop(crop_size), v2.RandomHorizontalFlip()])


def eval_transform(crop_size: int) -> v2.CenterCrop:
    """CenterCrop of every frame."""
    return v2.CenterCrop(crop_size)
