"""Multitask batches: each batch from one task, runs of consecutive batches per task, order
seeded by (seed, epoch) so a resumed run sees the same batches."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class MultitaskBatchSampler(Sampler):
    """Batches of (task, index, epoch) keys, the original's MultitaskBatchProvider.

    Every task contributes `batches_per_task` batches per epoch (rounded down to whole runs
    of `consecutive` batches); the runs of all tasks are shuffled, then each run yields
    `consecutive` batches of one task. Within a task, images are drawn from a fresh seeded
    permutation of its `sizes[task]` images, as the original's shuffled loader per task.
    With `batches_per_task` None every image of every task comes once per epoch, the last
    batch of a task partial and its last run shorter (the original's BatchAndTaskProvider
    over a whole DataLoader).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        batch_size: int,
        batches_per_task: int | None,
        consecutive: int,
        seed: int,
        shuffle: bool = True,
    ) -> None:
        if batches_per_task is None:
            self.batches = [math.ceil(n / batch_size) for n in sizes]
        else:
            if consecutive < 1 or batches_per_task < consecutive:
                raise ValueError(
                    f"batches_per_task ({batches_per_task}) must be at least"
                    f" consecutive ({consecutive})"
                )
            too_small = [t for t, n in enumerate(sizes) if n < batch_size * batches_per_task]
            if too_small:
                raise ValueError(
                    f"tasks {too_small} have fewer than batch_size x batches_per_task"
                    f" = {batch_size * batches_per_task} images"
                )
            self.batches = [batches_per_task // consecutive * consecutive] * len(sizes)
        self.sizes, self.batch_size = list(sizes), batch_size
        self.consecutive, self.seed, self.shuffle, self.epoch = consecutive, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return sum(self.batches)

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        runs = np.repeat(
            np.arange(len(self.sizes)), [math.ceil(b / self.consecutive) for b in self.batches]
        )
        if self.shuffle:
            rng.shuffle(runs)
        order = {
            task: rng.permutation(n) if self.shuffle else np.arange(n)
            for task, n in enumerate(self.sizes)
        }
        left = dict(enumerate(self.batches))
        taken = dict.fromkeys(order, 0)
        for task in map(int, runs):
            for _ in range(min(self.consecutive, left[task])):
                left[task] -= 1
                start = taken[task]
                taken[task] += self.batch_size
                indices = order[task][start : start + self.batch_size]
                yield [(task, int(i), self.epoch) for i in indices]
