"""Data order: a fresh permutation every epoch, reproducible from (seed, epoch)."""

from visionflow.engine.sampling import EpochSeededSampler


def order(sampler: EpochSeededSampler, epoch: int) -> list[int]:
    sampler.set_epoch(epoch)
    pairs = list(sampler)
    assert {e for _, e in pairs} == {epoch}
    return [i for i, _ in pairs]


def test_every_epoch_is_a_new_permutation_reproducible_from_seed_and_epoch():
    sampler = EpochSeededSampler(50, seed=3)
    epochs = [order(sampler, epoch) for epoch in range(4)]
    assert all(sorted(o) == list(range(50)) for o in epochs)
    assert len({tuple(o) for o in epochs}) == 4
    assert order(EpochSeededSampler(50, seed=3), 2) == epochs[2]
    assert order(EpochSeededSampler(50, seed=4), 2) != epochs[2]
