"""Data-parallel training on CPU: two gloo processes share each epoch and agree on the result."""

import json
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from helpers import subprocess_env, tiny_settings

from visionflow.engine.datamodule import ImageDataModule
from visionflow.engine.sampling import EpochSeededSampler
from visionflow.experiments.cornet.evaluation import evaluate
from visionflow.io import BadInputError, safe_torch_load


def test_ranks_share_one_permutation_without_overlap():
    samplers = [EpochSeededSampler(11, seed=5, rank=r, world=2) for r in (0, 1)]
    samplers.append(EpochSeededSampler(11, seed=5))
    for sampler in samplers:
        sampler.set_epoch(3)
    *shares, whole = [[i for i, _ in sampler] for sampler in samplers]
    assert [len(s) for s in shares] == [6, 6]
    assert shares[0] == whole[0::2] and shares[1][:5] == whole[1::2]
    assert shares[1][5] == whole[0]  # wrapped round to equal shares


class Indices(torch.utils.data.Dataset):
    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: tuple[int, int]) -> int:
        return key[0]


def epoch_batches(length: int, batch_size: int, world: int) -> list[list[list[int]]]:
    """Each process's batches of sample indices in epoch 0 (a stand-in for the trainer)."""
    ranks = []
    for rank in range(world):
        data = ImageDataModule(Indices(length), Indices(length), batch_size=batch_size,
                               workers=0, seed=5, batch_key="cornet.batch_size")  # fmt: skip
        data.trainer = SimpleNamespace(global_rank=rank, world_size=world)
        ranks.append([batch.tolist() for batch in data.train_dataloader()])
    return ranks


def test_global_batch_is_split_over_processes():
    """`batch_size` is the global batch, as under DataParallel: two processes take 8 each of a
    batch of 16, and together each step sees the batch one process would."""
    [whole] = epoch_batches(64, 16, 1)
    shares = epoch_batches(64, 16, 2)
    assert [len(b) for b in shares[0]] == [8] * 4 == [len(b) for b in shares[1]]
    assert [sorted(a + b) for a, b in zip(*shares, strict=True)] == [sorted(b) for b in whole]
    # A length that does not divide over the processes is padded: 35 samples, one seen twice.
    seen = [i for rank in epoch_batches(35, 16, 2) for batch in rank for i in batch]
    assert len(seen) == 36 and len(set(seen)) == 35
    with pytest.raises(BadInputError, match="cornet.batch_size: the global batch 16 does not"):
        epoch_batches(64, 16, 3)


@pytest.mark.slow  # a process killed or several started: the full tier
def test_two_process_ddp_run_is_consistent(tiny_store, tmp_path):
    settings = tiny_settings(epochs=2, devices=2, strategy="ddp")
    command = [sys.executable, "-m", "visionflow.cli", "cornet", "train", "--data",
               str(tiny_store), "--run-dir", str(tmp_path),
               "--settings", json.dumps(settings)]  # fmt: skip
    run = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    # 48 train images, global batch 8: each of two processes takes 4 a step, 6 steps an
    # epoch, as one process would.
    assert safe_torch_load(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 2 * 6
    history = pd.read_csv(tmp_path / "metrics.csv")
    assert list(zip(history["epoch"], history["split"], strict=True)) == [
        (0, "val"), (1, "train"), (1, "val"), (2, "train"), (2, "val")]  # fmt: skip
    best = safe_torch_load(tmp_path / "checkpoints" / "best.ckpt")["epoch"] + 1
    row = history[(history["epoch"] == best) & (history["split"] == "val")].iloc[0]
    tested = evaluate(tmp_path / "checkpoints" / "best.ckpt", tiny_store, "val", 8, 0)
    assert tested["top1"] == pytest.approx(row["top1"])
    assert tested["loss"] == pytest.approx(row["loss"], rel=1e-4)
