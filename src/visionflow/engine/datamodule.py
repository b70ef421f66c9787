"""LightningDataModule over ready-made train/val datasets with epoch-seeded shuffling."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset

from visionflow.engine.sampling import EpochSeededSampler, loader_kwargs


class ImageDataModule(L.LightningDataModule):
    """Batches `train` in a (seed, epoch)-determined order, shared out between data-parallel
    processes, and `val` in stored order (every process validates on all of it).
    `collate_fn` batches samples that do not stack, such as detection targets;
    `drop_single_last` drops a last training batch of one sample (it would break BatchNorm).
    `val` may be a list of datasets, validated one after the other."""

    def __init__(
        self,
        train: Dataset,
        val: Dataset | list[Dataset],
        *,
        batch_size: int,
        workers: int,
        seed: int,
        collate_fn: Callable | None = None,
        drop_single_last: bool = True,
    ) -> None:
        super().__init__()
        self.train, self.val = train, val
        self.batch_size, self.workers, self.seed = batch_size, workers, seed
        self.collate_fn, self.drop_single_last = collate_fn, drop_single_last

    def train_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        sampler = EpochSeededSampler(len(self.train), self.seed, rank, world)
        drop_last = self.drop_single_last and len(sampler) % self.batch_size == 1
        return DataLoader(
            self.train,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=self.collate_fn,
            **loader_kwargs(self.workers),
        )

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        if isinstance(self.val, list):
            return [
                eval_loader(v, self.batch_size, self.workers, self.collate_fn) for v in self.val
            ]
        return eval_loader(self.val, self.batch_size, self.workers, self.collate_fn)


def eval_loader(
    dataset: Dataset, batch_size: int, workers: int, collate_fn: Callable | None = None
) -> DataLoader:
    """Ordered, unshuffled batches for validation and testing."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        collate_fn=collate_fn,
        **loader_kwargs(workers),
    )
