"""Multitask batches: one task per batch, runs of consecutive batches, seeded order."""

import pytest

from visionflow.engine.multitask import MultitaskBatchSampler


def batches(sampler, epoch=0):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_each_batch_is_one_task_in_runs_of_consecutive_batches():
    sampler = MultitaskBatchSampler([20, 30, 25], batch_size=4, batches_per_task=4,
                                    consecutive=2, seed=0)  # fmt: skip
    epoch = batches(sampler)
    assert len(epoch) == len(sampler) == 3 * 4
    tasks = [{key[0] for key in batch} for batch in epoch]
    assert all(len(t) == 1 for t in tasks)
    sequence = [t.pop() for t in tasks]
    assert all(sequence[i] == sequence[i + 1] for i in range(0, len(sequence), 2))
    assert {t: sequence.count(t) for t in set(sequence)} == {0: 4, 1: 4, 2: 4}
    for task in range(3):  # no image twice within a task's epoch
        seen = [key[1] for batch in epoch for key in batch if key[0] == task]
        assert len(seen) == len(set(seen)) == 16


def test_order_depends_only_on_seed_and_epoch():
    def make(seed):
        return MultitaskBatchSampler([12, 12], batch_size=2, batches_per_task=4,
                                     consecutive=1, seed=seed)  # fmt: skip

    assert batches(make(0), 3) == batches(make(0), 3)
    assert batches(make(0), 3) != batches(make(0), 4)
    assert batches(make(0), 3) != batches(make(1), 3)
    assert all(key[2] == 4 for batch in batches(make(0), 4) for key in batch)


def test_unshuffled_batches_walk_each_task_in_order():
    sampler = MultitaskBatchSampler([4, 4], batch_size=2, batches_per_task=2, consecutive=2,
                                    seed=0, shuffle=False)  # fmt: skip
    assert [[k[:2] for k in b] for b in sampler] == [
        [(0, 0), (0, 1)], [(0, 2), (0, 3)], [(1, 0), (1, 1)], [(1, 2), (1, 3)]]  # fmt: skip


def test_too_few_images_or_runs_longer_than_the_budget_are_refused():
    with pytest.raises(ValueError, match=r"tasks \[1\] have fewer than"):
        MultitaskBatchSampler([20, 5], batch_size=4, batches_per_task=2, consecutive=1, seed=0)
    with pytest.raises(ValueError, match="must be at least consecutive"):
        MultitaskBatchSampler([20, 20], batch_size=4, batches_per_task=2, consecutive=3, seed=0)


def test_without_a_batch_count_every_image_comes_once_with_a_partial_last_batch():
    # The original's pretrain_one_task and generalization stages: a whole DataLoader per epoch.
    sampler = MultitaskBatchSampler([10, 5], batch_size=4, batches_per_task=None,
                                    consecutive=2, seed=0)  # fmt: skip
    epoch = batches(sampler)
    assert len(epoch) == len(sampler) == 3 + 2
    for task, size in ((0, 10), (1, 5)):
        sizes = [len(batch) for batch in epoch if batch[0][0] == task]
        assert sorted(sizes, reverse=True) == {0: [4, 4, 2], 1: [4, 1]}[task]
        seen = sorted(key[1] for batch in epoch for key in batch if key[0] == task)
        assert seen == list(range(size))
    ordered = MultitaskBatchSampler([10, 5], batch_size=4, batches_per_task=None,
                                    consecutive=2, seed=0, shuffle=False)  # fmt: skip
    walk = [(batch[0][0], len(batch)) for batch in batches(ordered)]
    assert walk == [(0, 4), (0, 4), (0, 2), (1, 4), (1, 1)]  # runs of 2, the last one shorter
