"""Representational similarity: image-by-image similarity per layer, compared by Kendall tau."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau

from visionflow.analysis.activations import spatial_max_activations
from visionflow.analysis.samples import ModelSample
from visionflow.io import atomic_path


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


def save_activations(sample: ModelSample, batch_size: int, path: Path) -> None:
    """The spatial-max activations of the sample's layers, its labels and classes, as .npz."""
    batches = ((chunk,) for chunk in sample.inputs.split(batch_size))
    layers = spatial_max_activations(sample.model, batches, sample.layers)
    arrays = {f"layer/{name}": values for name, values in layers.items()}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            labels=sample.labels,
            classes=np.array(sample.classes),
            layers=np.array(sample.layers),
            **arrays,
        )


def load_activations(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """(layer -> activations, labels, class names) of a `save_activations` file."""
    with np.load(path) as stored:
        layers = {str(name): stored[f"layer/{name}"] for name in stored["layers"]}
        return layers, stored["labels"], [str(c) for c in stored["classes"]]
