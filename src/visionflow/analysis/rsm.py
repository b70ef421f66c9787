"""Representational similarity: image-by-image similarity per layer, compared by Kendall tau."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau


def centre_channels(activations: np.ndarray) -> np.ndarray:
    """Each channel minus its mean over the images, as the original does before its RSM."""
    return activations - activations.mean(axis=0, keepdims=True)


def correlation_distances(activations: np.ndarray) -> np.ndarray:
    """(images x images) 1 - Pearson r between the images' activation vectors."""
    return squareform(pdist(activations, metric="correlation"))


def similarity_matrix(activations: np.ndarray) -> np.ndarray:
    """The original's RSM: 1 - D / max(D), D the correlation distances of the centred channels."""
    distances = correlation_distances(centre_channels(activations))
    return 1.0 - distances / distances.max()


def kendall_lower(first: np.ndarray, second: np.ndarray) -> float:
    """Kendall tau-b between the strict lower triangles of two square matrices."""
    rows, cols = np.tril_indices(len(first), k=-1)
    return float(kendalltau(first[rows, cols], second[rows, cols]).statistic)


def tau_table(first: Mapping[str, np.ndarray], second: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Kendall tau of every layer of `first` (rows) against every layer of `second` (columns)."""
    return pd.DataFrame(
        [[kendall_lower(a, b) for b in second.values()] for a in first.values()],
        index=pd.Index(list(first), name="layer"),
        columns=list(second),
    )


def layer_similarities(activations: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """layer -> RSM, in the order of `activations`."""
    return {name: similarity_matrix(values) for name, values in activations.items()}
