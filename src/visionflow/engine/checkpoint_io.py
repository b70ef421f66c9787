"""Checkpoint files that are never half-written and never execute code when loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.plugins.io import TorchCheckpointIO

from visionflow.io import safe_torch_load, save_torch


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through a temp file + rename; loads with `weights_only=True`."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        save_torch(path, checkpoint)

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return safe_torch_load(path)
