"""Throughput of a DataLoader, shared by the loading benchmarks."""

import itertools
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader


def items_per_second(
    loader: DataLoader, batches: int, finish: Callable[[torch.Tensor], torch.Tensor] = lambda x: x
) -> float:
    """Items per second over `batches` batches (each passed through `finish`), timed after one
    warm-up batch."""
    iterator = iter(loader)
    next(iterator)
    items = 0
    start = time.perf_counter()
    for inputs, _ in itertools.islice(iterator, batches):
        items += len(finish(inputs))
    return items / (time.perf_counter() - start)
