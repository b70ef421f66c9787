"""Progress bars that stay readable in a log file."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

# Outside a terminal, the longest a bar waits before printing its next line.
LOG_INTERVAL = 30.0


class _Lines(io.TextIOBase):
    """Where a bar writes outside a terminal: each refresh becomes its own line on stderr
    (tqdm redraws in place with `\\r`, which a log file would show as one endless line)."""

    def write(self, text: str) -> int:
        line = text.replace("\r", "").rstrip()
        if line:
            sys.stderr.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        sys.stderr.flush()


def progress_bar(iterable: Iterable[Any] | None = None, **options: Any) -> tqdm:
    """tqdm on stderr (`options` are tqdm's): redrawn in place in a terminal; elsewhere a
    line at the start, at most every LOG_INTERVAL seconds, and at the end."""
    if sys.stderr.isatty():
        return tqdm(iterable, file=sys.stderr, **options)
    return tqdm(iterable, file=_Lines(), mininterval=LOG_INTERVAL, **options)
