"""Checkpoint files that are never half-written, never stored twice, and never execute code
when loaded."""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from visionflow.io import link_file, safe_torch_load, save_torch


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through a temp file + rename; loads with `weights_only=True`.

    Several checkpoint callbacks may save the same state at one epoch end (last.ckpt and a
    periodic checkpoint_<epoch>.ckpt): a save that repeats, byte for byte, one made at the
    same training step becomes a hard link to it, one copy on disk under both names.
    """

    def __init__(self) -> None:
        super().__init__()
        self._step: tuple[Any, Any] | None = None
        self._saved: list[Path] = []

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        step = (checkpoint.get("epoch"), checkpoint.get("global_step"))
        if step != self._step:
            self._step, self._saved = step, []
        save_torch(path, checkpoint)
        for earlier in self._saved:
            if earlier != path and earlier.is_file() and filecmp.cmp(earlier, path, shallow=False):
                link_file(earlier, path)
                break
        self._saved.append(path)

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return safe_torch_load(path)
