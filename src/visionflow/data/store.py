"""Base of the prepared-store readers, `Packed<Dataset>(prepared_dir, split)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from visionflow.io import BadInputError


class PackedSplit:
    """One split of a prepared store: its manifest rows, and the store's arrays as memory maps.

    Subclasses name the files they read besides manifest.parquet (`files`), set `labels` and
    `classes` where samples have classes, and open their arrays in `_open_maps`. The maps open
    on first use and are dropped when the reader is pickled, so every DataLoader worker maps
    the files itself instead of receiving copies.
    """

    labels: np.ndarray
    classes: Any
    _maps: Any = None

    def __init__(self, prepared_dir: str | Path, split: str) -> None:
        self.prepared_dir = Path(prepared_dir)
        self.split = split
        manifest = self.prepared_dir / "manifest.parquet"
        for path in (manifest, *(self.prepared_dir / name for name in self.files(split))):
            if not path.is_file():
                raise BadInputError(path, "prepared store file does not exist")
        self.manifest = pd.read_parquet(manifest)  # every split; not pickled
        self.rows = self.manifest[self.manifest["split"] == split].reset_index(drop=True)
        self.total = len(self.manifest)

    def files(self, split: str) -> list[str]:
        """The store files (relative to the store) this reader needs besides the manifest."""
        return []

    @property
    def num_classes(self) -> int:
        """Number of classes in the store."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.rows)

    def sample_per_class(self, per_class: int, seed: int) -> np.ndarray:
        """`per_class` indices of every class, drawn independently with `seed`, in class blocks."""
        return sample_per_class(self.labels, per_class, seed, self.classes)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the memory maps (each process opens its own) and the manifest."""
        return {**self.__dict__, "_maps": None, "manifest": None}

    def _open_maps(self) -> Any:
        raise NotImplementedError

    def maps(self) -> Any:
        """The memory maps, opened on first use."""
        if self._maps is None:
            self._maps = self._open_maps()
        return self._maps

    def load_array(self, name: str, rows: int) -> np.ndarray:
        """The store's .npy `name`, memory-mapped, with one entry per manifest row (`rows`)."""
        path = self.prepared_dir / name
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:  # truncated or not an .npy file
            raise BadInputError(path, f"unreadable packed array ({exc})") from exc
        if array.shape[0] != rows:
            raise BadInputError(path, f"expected {rows} samples, found {array.shape[0]}")
        return array


def sample_per_class(labels: np.ndarray, per_class: int, seed: int, classes: Any) -> np.ndarray:
    """`per_class` positions of every label in `labels`, drawn independently with `seed`, in
    class blocks; ValueError naming a class (`classes[label]`) with fewer samples."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            name = classes[label]
            raise ValueError(f"class {name} has {len(members)} samples, fewer than {per_class}")
        chosen.append(np.sort(rng.choice(members, per_class, replace=False)))
    return np.concatenate(chosen)
