"""Data-parallel training on CPU: two gloo processes share each epoch and agree on the result."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from helpers import subprocess_env, tiny_settings

from visionflow.engine.sampling import EpochSeededSampler
from visionflow.experiments.cornet.evaluation import evaluate
from visionflow.io import safe_torch_load


def test_ranks_share_one_permutation_without_overlap():
    samplers = [EpochSeededSampler(11, seed=5, rank=r, world=2) for r in (0, 1)]
    samplers.append(EpochSeededSampler(11, seed=5))
    for sampler in samplers:
        sampler.set_epoch(3)
    *shares, whole = [[i for i, _ in sampler] for sampler in samplers]
    assert [len(s) for s in shares] == [6, 6]
    assert shares[0] == whole[0::2] and shares[1][:5] == whole[1::2]
    assert shares[1][5] == whole[0]  # wrapped round to equal shares


@pytest.mark.slow  # a process killed or several started: the full tier
def test_two_process_ddp_run_is_consistent(tiny_store, tmp_path):
    settings = tiny_settings(epochs=2, devices=2, strategy="ddp")
    command = [sys.executable, "-m", "visionflow.cli", "cornet", "train", "--data",
               str(tiny_store), "--run-dir", str(tmp_path),
               "--settings", json.dumps(settings)]  # fmt: skip
    run = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    # 48 train images, batch 8: one process takes 6 steps an epoch, each of two takes 3.
    assert safe_torch_load(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 2 * 3
    history = pd.read_csv(tmp_path / "metrics.csv")
    assert list(zip(history["epoch"], history["split"], strict=True)) == [
        (0, "val"), (1, "train"), (1, "val"), (2, "train"), (2, "val")]  # fmt: skip
    best = safe_torch_load(tmp_path / "checkpoints" / "best.ckpt")["epoch"] + 1
    row = history[(history["epoch"] == best) & (history["split"] == "val")].iloc[0]
    tested = evaluate(tmp_path / "checkpoints" / "best.ckpt", tiny_store, "val", 8, 0)
    assert tested["top1"] == pytest.approx(row["top1"])
    assert tested["loss"] == pytest.approx(row["loss"], rel=1e-4)
