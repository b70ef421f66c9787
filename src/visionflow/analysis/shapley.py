"""Neuron Shapley: truncated Monte Carlo over the filters of one conv layer.

A coalition's value is the model's accuracy with only its filters kept; a removed filter's
weights and bias are replaced by the mean of the kept filters (as the original does). One
iteration removes the filters in a random order and records each removal's drop in
accuracy; it stops early once accuracy stays at or below `truncation_value` for
`truncation_patience` removals of sampled (chosen) filters in a row (the rest of the order
then counts 0); removing a filter that is no longer sampled neither counts nor resets.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from visionflow.analysis.samples import ModelSample
from visionflow.io import BadInputError, atomic_path

Value = Callable[[Sequence[int]], float]  # removed filters -> accuracy


@dataclass(frozen=True)
class Truncation:
    """Stop an iteration after `patience` removals of chosen filters in a row at or below
    `value`."""

    value: float = 0.5
    patience: int = 6


class FilterRemoval:
    """Removes filters of one conv layer in place, restoring the trained weights between calls."""

    def __init__(self, conv: nn.Conv2d) -> None:
        self.conv = conv
        self.weight = conv.weight.detach().clone()
        self.bias = None if conv.bias is None else conv.bias.detach().clone()

    @property
    def filters(self) -> int:
        return self.weight.shape[0]

    @torch.no_grad()
    def apply(self, removed: Sequence[int]) -> None:
        """Trained weights, then every filter in `removed` set to the kept filters' mean."""
        self.conv.weight.copy_(self.weight)
        if self.bias is not None:
            self.conv.bias.copy_(self.bias)
        removed = list(removed)
        if not removed:
            return
        kept = sorted(set(range(self.filters)) - set(removed))
        for param, trained in ((self.conv.weight, self.weight), (self.conv.bias, self.bias)):
            if param is not None:  # no kept filter left: zeros, not the NaN mean of nothing
                param[removed] = trained[kept].mean(0) if kept else 0.0


def model_value(
    model: nn.Module, layer: str, inputs: torch.Tensor, accuracy: Callable, batch_size: int
) -> tuple[Value, int]:
    """The value function of `layer`'s filters on fixed inputs, and the number of filters."""
    conv = dict(model.named_modules()).get(layer)
    if not isinstance(conv, nn.Conv2d):
        raise KeyError(f"{layer!r} is not a Conv2d layer of the model")
    removal = FilterRemoval(conv)
    model.eval()

    @torch.no_grad()
    def value(removed: Sequence[int]) -> float:
        removal.apply(removed)
        outputs = torch.cat([model(chunk) for chunk in inputs.split(batch_size)])
        return accuracy(outputs.float())

    return value, removal.filters


def tmc_iteration(
    value: Value, filters: int, chosen: np.ndarray, rng: np.random.Generator, stop: Truncation
) -> tuple[np.ndarray, np.ndarray]:
    """One permutation's marginal contributions (NaN for filters not `chosen`), and the order."""
    order = rng.permutation(filters)
    marginals = np.zeros(filters)
    previous, low_streak, removed = value([]), 0, []
    for player in order:
        removed.append(int(player))
        current = value(removed)
        marginals[player] = previous - current
        previous = current
        if chosen[player]:  # as the original, only removals of sampled filters count
            low_streak = low_streak + 1 if current <= stop.value else 0
        if low_streak >= stop.patience:
            break
    marginals[~chosen] = np.nan
    return marginals, order


def run_shard(
    state: Path,
    value: Value,
    filters: int,
    chosen: np.ndarray,
    iterations: int,
    seed: Sequence[int],
    stop: Truncation,
    progress: Callable = iter,
) -> np.ndarray:
    """Append iterations to the `state` file until it holds `iterations`; resumes from it.

    Iteration i draws its order from (*seed, i), so a resumed shard equals an uninterrupted one.
    """
    marginals = np.load(state)["marginals"] if state.exists() else np.empty((0, filters))
    for index in progress(range(len(marginals), iterations)):
        rng = np.random.default_rng([*seed, index])
        row, _ = tmc_iteration(value, filters, chosen, rng, stop)
        marginals = np.vstack([marginals, row])
        with atomic_path(state) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, marginals=marginals)
    return marginals


def bernstein_bound(variance: np.ndarray, count: np.ndarray, r: float, delta: float) -> np.ndarray:
    """Empirical-Bernstein half-width, R below two samples:

    sqrt(2 var ln(2/delta) / n) + 7/3 R ln(2/delta) / (n - 1).
    """
    log_term = math.log(2 / delta)
    n = np.maximum(count, 2)
    bound = np.sqrt(2 * variance * log_term / n) + 7 / 3 * r * log_term / (n - 1)
    return np.where(count > 1, bound, r)


def summarize(marginals: np.ndarray, r: float, delta: float, top_k: int) -> pd.DataFrame:
    """Per filter: mean marginal, variance, count, bound, and whether it still needs sampling.

    A filter stays `chosen` while its interval contains the (top_k + 1)-th largest mean, i.e.
    while it is not yet certainly inside or outside the top k.
    """
    count = np.sum(~np.isnan(marginals), axis=0)
    mean = np.where(count > 0, np.nansum(marginals, axis=0) / np.maximum(count, 1), 0.0)
    squares = np.nansum((marginals - mean) ** 2, axis=0)
    variance = np.where(count > 1, squares / np.maximum(count - 1, 1), r)
    bound = bernstein_bound(variance, count, r, delta)
    if top_k < len(mean):
        threshold = np.sort(mean)[-(top_k + 1)]
        chosen = (mean - bound < threshold) & (threshold < mean + bound)
    else:
        chosen = np.ones(len(mean), dtype=bool)
    return pd.DataFrame(
        {
            "filter": np.arange(len(mean)),
            "value": mean,
            "variance": variance,
            "count": count,
            "bound": bound,
            "chosen": chosen,
        }
    )


def exact_shapley(value: Value, filters: int) -> np.ndarray:
    """Exact Shapley values of the removal game by enumerating every coalition (small layers)."""
    if filters > 12:
        raise ValueError(f"exact enumeration of {filters} filters is too large")
    kept_value = {}
    for mask in range(1 << filters):
        removed = [f for f in range(filters) if not mask >> f & 1]
        kept_value[mask] = value(removed)
    phi = np.zeros(filters)
    for player in range(filters):
        for mask in range(1 << filters):
            if mask >> player & 1:
                continue
            size = bin(mask).count("1")
            weight = math.factorial(size) * math.factorial(filters - size - 1)
            phi[player] += weight * (kept_value[mask | 1 << player] - kept_value[mask])
    return phi / math.factorial(filters)


def stacked_marginals(paths: Sequence[Path]) -> np.ndarray:
    """The marginals of shard files, one row per iteration, in the order given."""
    return np.vstack([np.load(path)["marginals"] for path in paths])


def bounds_history(
    marginals: np.ndarray, r: float, delta: float, top_k: int, shown: int = 5
) -> pd.DataFrame:
    """The bounds of the `shown` highest-valued filters after 2, 3, ... iterations."""
    summary = summarize(marginals, r, delta, top_k)
    top = summary.sort_values("value", ascending=False)["filter"].head(shown).tolist()
    steps = range(2, len(marginals) + 1)
    return pd.DataFrame(
        [summarize(marginals[:n], r, delta, top_k)["bound"][top] for n in steps],
        index=pd.Index(steps, name="iterations"),
    )


def top_filters(table: Path, count: int) -> list[int]:
    """The `count` filters of a Shapley table (`shapley.csv`) with the highest values, best
    first."""
    summary = pd.read_csv(table)
    missing = {"filter", "value"} - set(summary.columns)
    if missing:
        raise BadInputError(table, f"not a Shapley table: no columns {sorted(missing)}")
    ranked = summary.sort_values("value", ascending=False, kind="stable")
    return [int(f) for f in ranked["filter"].head(count)]


def shard(
    sample: ModelSample,
    layer: str,
    batch_size: int,
    chosen_from: Path | None,
    iterations: int,
    seed: Sequence[int],
    stop: Truncation,
    out: Path,
    progress: Callable = iter,
) -> None:
    """One shard's TMC iterations over `layer`'s filters into `out` (marginals .npz).

    Only filters the previous round's summary (`chosen_from`) left open are sampled; the
    shard resumes from its `<out>.state.npz` after a kill and removes it when done.
    """
    try:
        value, filters = model_value(
            sample.model, layer, sample.inputs, sample.accuracy, batch_size
        )
    except KeyError as exc:
        raise BadInputError(layer, exc.args[0]) from exc
    if chosen_from:
        chosen = pd.read_csv(chosen_from)["chosen"].to_numpy(bool)
    else:
        chosen = np.ones(filters, dtype=bool)
    iterations = iterations if chosen.sum() > 1 else 0  # top k already identified
    state = out.with_name(out.stem + ".state.npz")
    marginals = run_shard(state, value, filters, chosen, iterations, seed, stop, progress)
    with atomic_path(out) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, marginals=marginals)
    state.unlink(missing_ok=True)
