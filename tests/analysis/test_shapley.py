"""Neuron Shapley: removal, truncation, resume, bounds, and convergence to exact values."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from visionflow.analysis.shapley import (
    FilterRemoval,
    Truncation,
    exact_shapley,
    model_value,
    run_shard,
    summarize,
    tmc_iteration,
)

NO_TRUNCATION = Truncation(value=-np.inf, patience=1)


def small_model_and_value(filters: int = 6):
    """A seeded CNN with `filters` conv filters; value = accuracy on 80 fixed images."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, filters, 3), nn.ReLU(), nn.Flatten(),
                          nn.Linear(filters * 36, 3))  # fmt: skip
    with torch.no_grad():
        model[0].weight.mul_(torch.linspace(0.2, 3, filters).view(-1, 1, 1, 1))  # unequal filters
        inputs = torch.randn(80, 1, 8, 8)
        labels = model(inputs).argmax(1)
    labels[::4] = (labels[::4] + 1) % 3  # not every image right with all filters

    def accuracy(logits):
        return float((logits.argmax(1) == labels).float().mean())

    return model, *model_value(model, "0", inputs, accuracy, batch_size=40)


def test_removed_filters_take_the_kept_mean_and_weights_are_restored():
    conv = nn.Conv2d(1, 4, 1)
    trained = conv.weight.detach().clone()
    removal = FilterRemoval(conv)
    removal.apply([1, 3])
    expected = trained[[0, 2]].mean(0)
    assert torch.equal(conv.weight[1], expected) and torch.equal(conv.weight[3], expected)
    assert torch.equal(conv.weight[0], trained[0])
    removal.apply(range(4))
    assert torch.isfinite(conv.weight).all() and not conv.weight.any()
    removal.apply([])
    assert torch.equal(conv.weight, trained)


def test_estimates_converge_to_exact_shapley_within_their_bounds():
    _, value, filters = small_model_and_value()
    exact = exact_shapley(value, filters)
    assert exact.sum() == pytest.approx(value([]) - value(range(filters)))  # efficiency
    rng = np.random.default_rng(0)
    chosen = np.ones(filters, dtype=bool)
    rows = [tmc_iteration(value, filters, chosen, rng, NO_TRUNCATION)[0] for _ in range(400)]
    summary = summarize(np.array(rows), r=1.0, delta=0.2, top_k=2)
    error = np.abs(summary["value"].to_numpy() - exact)
    assert (error <= summary["bound"].to_numpy()).all(), (summary, exact)
    early = summarize(np.array(rows[:25]), r=1.0, delta=0.2, top_k=2)
    assert error.mean() < np.abs(early["value"].to_numpy() - exact).mean()
    assert (summary["bound"] < early["bound"]).all()


def test_truncation_stops_an_iteration_and_unchosen_filters_are_not_recorded():
    calls = []

    def value(removed):
        calls.append(len(removed))
        return 1.0 - 0.3 * len(removed)

    # rng(1) removes filters in the order 4 0 2 1 5 3; values 0.7 0.4 0.1 -0.2 ...
    chosen = np.array([True, True, True, False, True, True])
    marginals, order = tmc_iteration(value, 6, chosen, np.random.default_rng(1), Truncation(0.5, 2))
    assert order.tolist() == [4, 0, 2, 1, 5, 3]
    assert calls == [0, 1, 2, 3]  # 0.4 and 0.1 are two in a row at or below 0.5
    assert np.isnan(marginals[3])
    np.testing.assert_allclose(marginals[[4, 0, 2]], 0.3)
    assert (marginals[[1, 5]] == 0).all()


def test_removing_an_unchosen_filter_neither_counts_towards_truncation_nor_resets_it():
    calls = []

    def value(removed):
        calls.append(len(removed))
        return 1.0 - 0.3 * len(removed)

    chosen = np.array([False, True, True, True, True, True])  # filter 0 is removed second
    marginals, _ = tmc_iteration(value, 6, chosen, np.random.default_rng(1), Truncation(0.5, 2))
    assert calls == [0, 1, 2, 3, 4]  # 0.4 (filter 0) does not count; 0.1 and -0.2 do
    assert np.isnan(marginals[0])
    np.testing.assert_allclose(marginals[[4, 2, 1]], 0.3)


def test_a_killed_shard_resumes_to_the_same_marginals(tmp_path):
    _, value, filters = small_model_and_value(4)
    chosen = np.ones(filters, dtype=bool)
    args = (value, filters, chosen)
    whole = run_shard(tmp_path / "a.npz", *args, 6, seed=(3,), stop=NO_TRUNCATION)
    run_shard(tmp_path / "b.npz", *args, 2, seed=(3,), stop=NO_TRUNCATION)
    resumed = run_shard(tmp_path / "b.npz", *args, 6, seed=(3,), stop=NO_TRUNCATION)
    np.testing.assert_array_equal(whole, resumed)
    assert np.load(tmp_path / "b.npz")["marginals"].shape == (6, filters)


def test_bounds_narrow_the_chosen_set_to_the_top_k_boundary():
    rng = np.random.default_rng(0)
    means = np.array([0.5, 0.3, 0.1, 0.0, -0.1])
    marginals = means + 0.01 * rng.normal(size=(200, 5))
    summary = summarize(marginals, r=1.0, delta=0.2, top_k=2)
    # the third-largest mean (0.1) is the threshold; only filters near it stay uncertain
    assert summary["chosen"].tolist() == [False, False, True, False, False]
    assert summarize(marginals[:1], r=1.0, delta=0.2, top_k=2)["bound"].eq(1.0).all()


@pytest.mark.slow  # a process killed or several started: the full tier
def test_cli_shard_killed_after_an_iteration_resumes_to_the_uninterrupted_result(
    cornet_checkpoint, tiny_store, tmp_path
):
    from visionflow.cli import main

    def shard(out, iterations):
        args = ["analysis", "shapley-shard", "--experiment", "cornet", "--ckpt",
                str(cornet_checkpoint), "--data", str(tiny_store), "--split", "val",
                "--per-class", "2", "--layer", "V4.conv3", "--round", "1", "--shard", "3",
                "--iterations", str(iterations), "--out", str(out)]  # fmt: skip
        assert main(args) == 0

    shard(tmp_path / "whole.npz", 3)
    shard(tmp_path / "first.npz", 1)  # what a job killed after one iteration leaves behind:
    (tmp_path / "first.npz").rename(tmp_path / "killed.state.npz")  # its state, no output
    shard(tmp_path / "killed.npz", 3)
    whole = np.load(tmp_path / "whole.npz")["marginals"]
    np.testing.assert_array_equal(np.load(tmp_path / "killed.npz")["marginals"], whole)
    assert whole.shape == (3, 32) and not (tmp_path / "killed.state.npz").exists()

    summary = tmp_path / "summary.csv"
    assert main(["analysis", "shapley-round", str(tmp_path / "whole.npz"), "--top-k", "4",
                 "--out", str(summary)]) == 0  # fmt: skip
    assert pd.read_csv(summary)["count"].eq(3).all()


def test_cli_names_a_layer_that_is_not_a_conv(cornet_checkpoint, tiny_store, tmp_path, capsys):
    from visionflow.cli import main

    args = ["analysis", "shapley-shard", "--experiment", "cornet",
            "--ckpt", str(cornet_checkpoint), "--data", str(tiny_store), "--split", "val",
            "--per-class", "2", "--layer", "V4", "--iterations", "1",
            "--out", str(tmp_path / "x.npz")]  # fmt: skip
    assert main(args) == 2
    assert "'V4' is not a Conv2d layer" in capsys.readouterr().err
