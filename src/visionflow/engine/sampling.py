"""Epoch-indexed randomness: data order and augmentation depend only on (seed, epoch, index).

This is what makes a resumed run identical to an uninterrupted one, whatever the
number of DataLoader workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed unique to one sample in one epoch."""
    mixed = np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32)
    return int(mixed[0]) << 31 ^ int(mixed[1])


class EpochSeededSampler(Sampler):
    """Shuffles with a permutation seeded by (seed, epoch); yields (index, epoch) pairs.

    Under data parallelism each of `world` processes takes every `world`-th position of
    the same permutation (wrapped round to equal shares), so together they see one epoch.
    """

    def __init__(self, length: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.length, self.seed, self.epoch = length, seed, 0
        self.rank, self.world = rank, world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-self.length // self.world)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.length)
        order = np.resize(order, len(self) * self.world)[self.rank :: self.world]
        return iter([(int(i), self.epoch) for i in order])


class ImageSource(Protocol):
    """What a prepared image store offers: uint8 CHW images and integer labels."""

    labels: np.ndarray

    def __len__(self) -> int: ...

    def image(self, index: int) -> torch.Tensor: ...


class SeededImageDataset(Dataset):
    """Applies `transform` to a stored image under a per-(epoch, index) RNG seed."""

    def __init__(self, source: ImageSource, transform: Callable, seed: int) -> None:
        self.source, self.transform, self.seed = source, transform, seed

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        # Only the CPU generator drives the transforms; reseeding it alone costs ~1 us,
        # where torch.manual_seed (every device) costs ~100 us per sample.
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(sample_seed(self.seed, epoch, index))
        try:
            image = self.transform(self.source.image(index))
        finally:
            generator.set_state(state)
        return image, int(self.source.labels[index])


def loader_kwargs(workers: int) -> dict[str, Any]:
    """DataLoader options that suit the worker count and device."""
    return {
        "num_workers": workers,
        "persistent_workers": workers > 0,
        "pin_memory": torch.cuda.is_available(),
    }
