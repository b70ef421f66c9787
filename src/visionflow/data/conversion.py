"""Pieces every raw-to-prepared converter shares: the skip policy, worker pools, progress."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from visionflow.io import BadInputError
from visionflow.progress import progress_bar

POLICIES = ("error", "skip")
Problem = tuple[str, str]  # (source, reason), one row of skipped.csv
WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N", "F"})  # PIL modes over 8 bits


def is_plain_name(name: str) -> bool:
    """Whether `name` is one file or folder name: no separator, not empty, `.` or `..`."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name


def wide_mode_problem(mode: str) -> str | None:
    """Why an image of PIL `mode` cannot become 8-bit RGB or L (PIL would clip it), or None."""
    if mode in WIDE_MODES:
        return f"expected 8-bit pixels, found PIL mode {mode} (converting would clip its values)"
    return None


def reject(path: str | Path, reason: str, on_bad_sample: str, skipped: list[Problem]) -> None:
    """Raise BadInputError for `path`, or record it as skipped under the skip policy."""
    if on_bad_sample == "error":
        raise BadInputError(path, reason)
    skipped.append((str(path), reason))


def worker_pool(workers: int) -> contextlib.AbstractContextManager[Pool | None]:
    """A pool of `workers` processes, or none (work in this process) for a single worker."""
    return multiprocessing.get_context().Pool(workers) if workers > 1 else contextlib.nullcontext()


def progress(
    pool: Pool | None,
    fn: Callable[[Any], Any],
    tasks: list[Any],
    desc: str,
    unit: str,
    chunksize: int = 1,
) -> Iterator[Any]:
    """Apply `fn` to `tasks` in order, in `pool` if given, with a progress bar on stderr."""
    results: Iterable[Any] = pool.imap(fn, tasks, chunksize) if pool else map(fn, tasks)
    yield from progress_bar(results, total=len(tasks), desc=desc, unit=unit)
