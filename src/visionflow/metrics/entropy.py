"""How shuffled a frame order is: Shannon entropy of a permutation's circular steps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def shannon_entropy(permutation: Sequence[int]) -> float:
    """Entropy in bits of the steps (p[i+1] - p[i]) mod n, wrapping from last to first.

    The card-shuffling measure SLR reports: 0 for the identity (every step is 1), up to
    log2(n) when all n steps differ.
    """
    p = np.asarray(permutation, dtype=np.int64)
    n = len(p)
    if n == 0 or sorted(p.tolist()) != list(range(n)):
        raise ValueError(f"expected a permutation of 0..n-1, got {list(permutation)}")
    steps = (np.roll(p, -1) - p) % n
    q = np.bincount(steps, minlength=n) / n
    q = q[q > 0]
    return float(-(q * np.log2(q)).sum()) + 0.0
