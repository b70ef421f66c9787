"""What the keys of a run's settings mean, and numbers read from the originals' settings files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from visionflow.io import BadInputError

# Run settings that change how a run executes, not what it computes.
EXECUTION_KEYS = ("workers", "devices", "nodes", "strategy")

# Lightning precisions a run may ask for; the first, fp32, is what every original computes in.
PRECISIONS = ("32-true", "bf16-mixed")


def setting_number(path: str | Path, key: str, value: Any, kind: type = float,
                   minimum: float | None = None) -> Any:  # fmt: skip
    """A settings file's `key` as a finite `kind` (int or float) >= `minimum`, or a clear error."""
    try:
        number = kind(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number) or (minimum is not None and number < minimum):
        bound = "" if minimum is None else f" >= {minimum:g}"
        raise BadInputError(path, f"{key} must be a finite number{bound}, got {value!r}")
    return number
