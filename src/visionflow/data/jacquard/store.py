"""Reading a prepared Jacquard store: one split through lazy memory maps, and finding a view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from visionflow.data.jacquard import ARRAYS
from visionflow.data.jacquard.grasp_maps import maps_to_rectangles, rectangle_corners
from visionflow.data.store import PackedSplit
from visionflow.io import BadInputError


def locate_view(prepared_dir: Path, object_id: str, view: int | None = None) -> tuple[str, int]:
    """(split, index in the split) of an object's view (its first if `view` is None).

    `object_id` may be any unique prefix of the id.
    """
    path = Path(prepared_dir) / "manifest.parquet"
    if not path.is_file():
        raise BadInputError(path, "prepared store file does not exist")
    manifest = pd.read_parquet(path)
    rows = manifest[manifest["object_id"].str.startswith(object_id)]
    objects = sorted(rows["object_id"].unique())
    if len(objects) != 1:
        found = "no object" if not objects else f"{len(objects)} objects"
        raise BadInputError(path, f"{found} with an id starting {object_id!r}")
    if view is not None:
        rows = rows[rows["view"] == view]
        if rows.empty:
            raise BadInputError(path, f"object {objects[0]} has no view {view}")
    row = rows.sort_values("view").iloc[0]
    in_split = manifest.loc[manifest["split"] == row["split"], "index"].tolist()
    return row["split"], in_split.index(row["index"])


class PackedJacquard(PackedSplit):
    """One split of a prepared Jacquard store; samples are sliced from lazy memory maps."""

    def __init__(self, prepared_dir: str | Path, split: str) -> None:
        super().__init__(prepared_dir, split)
        self._index = self.rows["index"].to_numpy(np.int64)
        self.labels: np.ndarray = self.rows["label"].to_numpy(np.int64)
        self.grasps = [np.asarray(g, np.float32).reshape(-1, 5) for g in self.rows["gt_grasps"]]
        self.max_grasps = max((len(g) for g in self.grasps), default=0)
        by_label = self.manifest.drop_duplicates("label").sort_values("label")
        self.classes: dict[int, str] = dict(zip(by_label["label"], by_label["class"], strict=True))

    def files(self, split: str) -> list[str]:
        return [f"{key}.npy" for key in ARRAYS]

    def _open_maps(self) -> dict[str, np.ndarray]:
        return {key: self.load_array(f"{key}.npy", self.total) for key in ARRAYS}

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Sample `index`: rgb (S,S,3) uint8, depth (S,S) float32, mask (S,S) uint8,
        maps (4,S,S,6) float32 (rotations 0/90/180/270), grasps (n,5) in output pixels
        (x, y, theta_deg, opening, jaw size), label int."""
        row = self._index[index]
        sample: dict[str, Any] = {key: np.array(a[row]) for key, a in self.maps().items()}
        sample["grasps"] = self.grasps[index]
        sample["label"] = int(self.labels[index])
        return sample


def view_rectangles(
    prepared_dir: Path, object_id: str, view: int | None, turns: int, threshold: float
) -> tuple[np.ndarray, list[np.ndarray], str]:
    """A stored view turned `turns` quarter turns: its RGB, the corners of every rectangle its
    map holds above `threshold` coverage, and its split."""
    split, index = locate_view(prepared_dir, object_id, view)
    sample = PackedJacquard(prepared_dir, split)[index]
    rgb = np.ascontiguousarray(np.rot90(sample["rgb"], turns))
    rectangles = maps_to_rectangles(sample["maps"][turns], threshold)
    return rgb, [rectangle_corners(*r) for r in rectangles], split
