"""The frames a detector trains and is tested on: the prepared annotation table, the split,
and a Dataset of (image, boxes) per frame."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from visionflow.engine.sampling import sample_seed
from visionflow.io import BadInputError


def prepared(data_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(annotation table, split table, class names) of a prepared CVAT store."""
    data_dir = Path(data_dir)
    paths = [
        data_dir / "annotations" / "annotations.parquet",
        data_dir / "split" / "split.csv",
        data_dir / "annotations" / "labels.json",
    ]
    for path in paths:
        if not path.is_file():
            raise BadInputError(path, "prepared store file does not exist")
    return pd.read_parquet(paths[0]), pd.read_csv(paths[1]), read_labels(paths[2])


def read_labels(path: str | Path) -> list[str]:
    """The class names of labels.json, in class-id order (id = position + 1)."""
    return json.loads(Path(path).read_text())


def split_frames(table: pd.DataFrame, split_table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of `table` whose (task, frame) the split table puts in `split`."""
    keys = split_table.loc[split_table["split"] == split, ["task", "frame"]]
    return table.merge(keys, on=["task", "frame"], how="inner")


class DetectionFrames(Dataset):
    """Frames of an annotation table as (float RGB image, target) pairs.

    With `flip_seed` set, each frame is mirrored left-right with probability 1/2, decided by
    (seed, epoch, index) so a resumed run sees the same flips.
    """

    def __init__(
        self, table: pd.DataFrame, root: str | Path, labels: Sequence[str], flip_seed=None
    ) -> None:
        self.root, self.flip_seed = Path(root), flip_seed
        class_ids = {name: i + 1 for i, name in enumerate(labels)}
        self.frames = []
        for (task, frame), rows in table.groupby(["task", "frame"], sort=True):
            boxes = rows.dropna(subset=["label"])
            self.frames.append(
                {
                    "task": task,
                    "frame": int(frame),
                    "image": rows["image"].iloc[0],
                    "boxes": boxes[["xmin", "ymin", "xmax", "ymax"]].to_numpy(np.float32),
                    "labels": boxes["label"].map(class_ids).to_numpy(np.int64),
                }
            )

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Tensor, dict[str, Tensor]]:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        frame = self.frames[index]
        path = self.root / frame["image"]
        try:
            with Image.open(path) as handle:
                image = np.array(handle.convert("RGB"))
        except OSError as exc:
            raise BadInputError(path, f"cannot read frame {frame['frame']}: {exc}") from None
        boxes = frame["boxes"].copy()
        flip = self.flip_seed is not None and sample_seed(self.flip_seed, epoch, index) % 2
        if flip:
            image = image[:, ::-1]
            boxes[:, [0, 2]] = image.shape[1] - boxes[:, [2, 0]]
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
        return tensor, {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.tensor(frame["labels"]),
        }


def collate(batch: list) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """Images and targets as lists: frames differ in size and box count."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
