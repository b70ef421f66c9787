"""LightningDataModule over ready-made train/val datasets with epoch-seeded shuffling."""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
from torch.utils.data import DataLoader, Dataset

from visionflow.engine.sampling import EpochSeededSampler, loader_kwargs
from visionflow.io import BadInputError


class ImageDataModule(L.LightningDataModule):
    """Batches `train` in a (seed, epoch)-determined order, shared out between data-parallel
    processes, and `val` in stored order (every process validates on all of it).

    `batch_size` is the global batch, as under the originals' DataParallel: each of the
    data-parallel processes takes an equal share (refused, naming the config key
    `batch_key`, when the processes do not divide it). `collate_fn` batches samples that do
    not stack, such as detection targets; `drop_single_last` drops a last training batch of
    one sample (it would break BatchNorm). `val` may be a list of datasets, validated one
    after the other."""

    def __init__(
        self,
        train: Dataset,
        val: Dataset | list[Dataset],
        *,
        batch_size: int,
        workers: int,
        seed: int,
        collate_fn: Callable | None = None,
        batch_key: str = "batch_size",
        drop_single_last: bool = True,
    ) -> None:
        super().__init__()
        self.train, self.val = train, val
        self.batch_size, self.workers, self.seed = batch_size, workers, seed
        self.collate_fn, self.batch_key = collate_fn, batch_key
        self.drop_single_last = drop_single_last

    def process_batch(self) -> int:
        """This process's share of the global batch."""
        world = self.trainer.world_size
        if self.batch_size % world:
            raise BadInputError(
                self.batch_key,
                f"the global batch {self.batch_size} does not divide over {world} processes",
            )
        return self.batch_size // world

    def train_dataloader(self) -> DataLoader:
        rank, world = self.trainer.global_rank, self.trainer.world_size
        sampler = EpochSeededSampler(len(self.train), self.seed, rank, world)
        batch_size = self.process_batch()
        drop_last = self.drop_single_last and len(sampler) % batch_size == 1
        return DataLoader(
            self.train,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last,
            collate_fn=self.collate_fn,
            **loader_kwargs(self.workers),
        )

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        batch_size = self.process_batch()
        if isinstance(self.val, list):
            return [eval_loader(v, batch_size, self.workers, self.collate_fn) for v in self.val]
        return eval_loader(self.val, batch_size, self.workers, self.collate_fn)


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
