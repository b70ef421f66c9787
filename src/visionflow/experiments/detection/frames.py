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
from torchvision.transforms import functional as F

from visionflow.data.cvat.crop import as_annotated
from visionflow.engine.sampling import sample_seed
from visionflow.io import BadInputError

# RandomPhotometricDistort's defaults (torchvision references/detection/transforms.py)
BRIGHTNESS, CONTRAST, SATURATION, HUE = (0.875, 1.125), (0.5, 1.5), (0.5, 1.5), (-0.05, 0.05)
DISTORT_P = 0.5


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


def photometric_distort(image: Tensor, generator: torch.Generator) -> Tensor:
    """torchvision's RandomPhotometricDistort of its detection references (the original's
    augmentation, default ranges) on a float [0, 1] CHW image, drawn from `generator`."""
    r = torch.rand(7, generator=generator)

    def factor(bounds: tuple[float, float]) -> float:
        return float(torch.empty(1).uniform_(*bounds, generator=generator))

    if r[0] < DISTORT_P:
        image = F.adjust_brightness(image, factor(BRIGHTNESS))
    contrast_first = bool(r[1] < 0.5)
    if contrast_first and r[2] < DISTORT_P:
        image = F.adjust_contrast(image, factor(CONTRAST))
    if r[3] < DISTORT_P:
        image = F.adjust_saturation(image, factor(SATURATION))
    if r[4] < DISTORT_P:
        image = F.adjust_hue(image, factor(HUE))
    if not contrast_first and r[5] < DISTORT_P:
        image = F.adjust_contrast(image, factor(CONTRAST))
    if r[6] < DISTORT_P:
        image = image[torch.randperm(image.shape[0], generator=generator)]
    return image


class DetectionFrames(Dataset):
    """Frames of an annotation table as (float RGB image in [0, 1], target) pairs.

    With `augment_seed` set, each frame is mirrored left-right with probability 1/2 and,
    with `photometric`, then photometrically distorted, as the original's training frames;
    both are decided by (seed, epoch, index) so a resumed run sees the same frames. A
    3840 x 2160 image the table gives as 1920 x 1080 is the 4K crop (data.cvat.crop).
    """

    def __init__(
        self,
        table: pd.DataFrame,
        root: str | Path,
        labels: Sequence[str],
        augment_seed: int | None = None,
        photometric: bool = False,
    ) -> None:
        self.root, self.augment_seed, self.photometric = Path(root), augment_seed, photometric
        class_ids = {name: i + 1 for i, name in enumerate(labels)}
        self.frames = []
        for (task, frame), rows in table.groupby(["task", "frame"], sort=True):
            boxes = rows.dropna(subset=["label"])
            self.frames.append(
                {
                    "task": task,
                    "frame": int(frame),
                    "image": rows["image"].iloc[0],
                    "size": (int(rows["width"].iloc[0]), int(rows["height"].iloc[0])),
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
        image = as_annotated(image, frame["size"], path)
        boxes = frame["boxes"].copy()
        seed = None if self.augment_seed is None else sample_seed(self.augment_seed, epoch, index)
        if seed is not None and seed % 2:
            image = image[:, ::-1]
            boxes[:, [0, 2]] = image.shape[1] - boxes[:, [2, 0]]
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255
        if seed is not None and self.photometric:
            tensor = photometric_distort(tensor, torch.Generator().manual_seed(seed >> 1))
        return tensor, {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.tensor(frame["labels"]),
        }


def collate(batch: list) -> tuple[list[Tensor], list[dict[str, Tensor]]]:
    """Images and targets as lists: frames differ in size and box count."""
    images, targets = zip(*batch, strict=True)
    return list(images), list(targets)
