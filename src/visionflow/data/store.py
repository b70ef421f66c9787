"""Base of the prepared-store readers: one split's labels and memory maps opened per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from visionflow.io import BadInputError


class PackedSplit:
    """Subclasses set `labels` and `classes` and open their memory maps in `_open_maps`.

    The maps open on first use and are dropped when the reader is pickled, so every
    DataLoader worker maps the files itself instead of receiving copies.
    """

    labels: np.ndarray
    classes: Any
    _maps: Any = None

    @staticmethod
    def require(*paths: Path) -> None:
        """BadInputError for the first of `paths` that is not a file."""
        for path in paths:
            if not path.is_file():
                raise BadInputError(path, "prepared store file does not exist")

    @property
    def num_classes(self) -> int:
        """Number of classes in the store."""
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.labels)

    def sample_per_class(self, per_class: int, seed: int) -> np.ndarray:
        """`per_class` indices of every class, drawn independently with `seed`, in class blocks."""
        rng = np.random.default_rng(seed)
        chosen = []
        for label in np.unique(self.labels):
            members = np.flatnonzero(self.labels == label)
            if len(members) < per_class:
                name = self.classes[label]
                raise ValueError(f"class {name} has {len(members)} samples, fewer than {per_class}")
            chosen.append(np.sort(rng.choice(members, per_class, replace=False)))
        return np.concatenate(chosen)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without the memory maps; each process opens its own."""
        return {**self.__dict__, "_maps": None}

    def _open_maps(self) -> Any:
        raise NotImplementedError

    def maps(self) -> Any:
        """The memory maps, opened on first use."""
        if self._maps is None:
            self._maps = self._open_maps()
        return self._maps
