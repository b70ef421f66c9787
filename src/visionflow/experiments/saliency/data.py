"""Saliency batches: each task's images and maps of the prepared store, one task per batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from visionflow.data.saliency import PackedSaliency
from visionflow.data.saliency_processing import MapProcessing
from visionflow.engine.multitask import MultitaskBatchSampler
from visionflow.engine.sampling import loader_kwargs


class TaskMaps(Dataset):
    """(model task id, uint8 image, float map) of the store's images that have the task's map,
    the map in [0, 1] then pre-processed; keys are the sampler's (task, position, epoch), task
    counting the store's.

    With `limit` each task keeps only the first `limit` of those images by name (the
    original's first N files of a folder).
    """

    def __init__(
        self,
        store: PackedSaliency,
        ids: Sequence[int],
        preprocess: MapProcessing,
        limit: int | None = None,
    ) -> None:
        self.store, self.ids, self.preprocess = store, list(ids), preprocess
        self.indices = [np.flatnonzero(store.has[:, k]) for k in range(len(store.tasks))]
        if limit is not None:
            names = np.asarray(store.names)
            self.indices = [i[np.argsort(names[i], kind="stable")][:limit] for i in self.indices]

    def sizes(self) -> list[int]:
        return [len(i) for i in self.indices]

    def __len__(self) -> int:
        return sum(self.sizes())

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[int, Tensor, Tensor]:
        task, position, _ = key
        image, maps, _ = self.store[int(self.indices[task][position])]
        target = self.preprocess(maps[self.store.tasks[task]].float().div_(255).numpy())
        return self.ids[task], image, torch.as_tensor(target, dtype=torch.float32).unsqueeze(0)


class MultitaskData(L.LightningDataModule):
    """Training and validation batches of the stage's tasks from the prepared store.

    `stage`: batch_size, consecutive_batches_per_task, batches_per_task_train/_val (None:
    every image once per epoch), optionally train_images/val_images (first N by name) and
    the loader's workers.
    """

    def __init__(
        self,
        store_dir: Path,
        tasks: Sequence[str],
        ids: Sequence[int],
        stage: dict[str, Any],
        seed: int,
        preprocess: MapProcessing,
    ) -> None:
        super().__init__()
        self.train, self.val = (
            TaskMaps(
                PackedSaliency(store_dir, split, tasks),
                ids,
                preprocess,
                stage.get(f"{split}_images"),
            )
            for split in ("train", "val")
        )
        self.stage, self.seed = stage, seed

    def _loader(self, data: TaskMaps, split: str, consecutive: int, train: bool) -> DataLoader:
        sampler = MultitaskBatchSampler(
            data.sizes(),
            self.stage["batch_size"],
            self.stage.get(f"batches_per_task_{split}"),
            consecutive,
            self.seed,
            shuffle=train,
        )
        return DataLoader(data, batch_sampler=sampler, **loader_kwargs(self.stage["workers"]))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train, "train", self.stage["consecutive_batches_per_task"], True)

    def val_dataloader(self) -> DataLoader:
        # Validation order does not change its mean loss: one task after another.
        return self._loader(self.val, "val", 1, False)
