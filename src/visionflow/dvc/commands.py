"""Runs `snakemake` and `dvc` from this environment, failing with their own words."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


class CommandError(RuntimeError):
    """A snakemake or dvc call that failed; the message holds the tail of its output."""


def run(tool: str, args: Sequence[str], capture: bool = True) -> str:
    """`python -m <tool> <args>` in the current directory; its stdout, or CommandError."""
    command = [sys.executable, "-m", tool, *args]
    result = subprocess.run(command, capture_output=capture, text=True)
    if result.returncode != 0:
        output = ((result.stdout or "") + (result.stderr or ""))[-4000:]
        raise CommandError(f"`{tool} {' '.join(args[:6])} ...` failed:\n{output}")
    return result.stdout or ""
