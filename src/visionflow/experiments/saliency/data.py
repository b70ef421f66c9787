"""Saliency batches: each task's images and maps of the prepared store, one task per batch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from visionflow.data.saliency import PackedSaliency
from visionflow.engine.multitask import MultitaskBatchSampler
from visionflow.engine.sampling import loader_kwargs


class TaskMaps(Dataset):
    """(model task id, uint8 image, float map in [0, 1]) of the store's images that have the
    task's map; keys are the sampler's (task, position, epoch), task counting the store's."""

    def __init__(self, store: PackedSaliency, ids: Sequence[int]) -> None:
        self.store, self.ids = store, list(ids)
        self.indices = [np.flatnonzero(store.has[:, k]) for k in range(len(store.tasks))]

    def sizes(self) -> list[int]:
        return [len(i) for i in self.indices]

    def __len__(self) -> int:
        return sum(self.sizes())

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[int, Tensor, Tensor]:
        task, position, _ = key
        image, maps, _ = self.store[int(self.indices[task][position])]
        target = maps[self.store.tasks[task]].float().div_(255).unsqueeze(0)
        return self.ids[task], image, target


class MultitaskData(L.LightningDataModule):
    """Training and validation batches of the stage's tasks from the prepared store."""

    def __init__(
        self, store_dir: Path, tasks: Sequence[str], ids: Sequence[int], stage: dict, seed: int
    ) -> None:
        super().__init__()
        self.train = TaskMaps(PackedSaliency(store_dir, "train", tasks), ids)
        self.val = TaskMaps(PackedSaliency(store_dir, "val", tasks), ids)
        self.stage, self.seed = stage, seed

    def _loader(self, data: TaskMaps, batches: int, consecutive: int, train: bool) -> DataLoader:
        sampler = MultitaskBatchSampler(
            data.sizes(), self.stage["batch_size"], batches, consecutive, self.seed, shuffle=train
        )
        return DataLoader(data, batch_sampler=sampler, **loader_kwargs(self.stage["workers"]))

    def train_dataloader(self) -> DataLoader:
        consecutive = self.stage["consecutive_batches_per_task"]
        return self._loader(self.train, self.stage["batches_per_task_train"], consecutive, True)

    def val_dataloader(self) -> DataLoader:
        # Validation order does not change its mean loss: one task after another.
        return self._loader(self.val, self.stage["batches_per_task_val"], 1, False)
