"""Representational similarity: image-by-image similarity per layer, compared by Kendall tau."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.spatial.distance import pdist, squareform
from scipy.stats import kendalltau
from torch import nn

from visionflow.analysis.activations import row_maxima, spatial_max_activations
from visionflow.analysis.samples import ModelSample
from visionflow.io import atomic_path

# torchvision AlexNet's five convs, the reference the original compares its models with.
ALEXNET_LAYERS = ("features.0", "features.3", "features.6", "features.8", "features.10")


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


def _batches(inputs: torch.Tensor, batch_size: int) -> Iterator[tuple[torch.Tensor]]:
    return ((chunk,) for chunk in inputs.split(batch_size))


def sample_activations(
    sample: ModelSample, batch_size: int, layers: Sequence[str] | None = None, **reduce: Any
) -> dict[str, np.ndarray]:
    """layer -> the sample's spatial-max activations (or `reduce`d outputs) in its layers (or
    in `layers`)."""
    batches = _batches(sample.inputs, batch_size)
    return spatial_max_activations(sample.model, batches, layers or sample.layers, **reduce)


def filter_similarities(
    sample: ModelSample, layer: str, filters: Sequence[int], batch_size: int, name: str
) -> dict[str, np.ndarray]:
    """`<name> <rank>: <filter>` -> the RSM of that filter alone, each image summarised by
    the row maxima of the filter's map (the original's `compare_top_k` with one kernel)."""
    rows = sample_activations(sample, batch_size, [layer], reduce=row_maxima(filters))[layer]
    return {
        f"{name} {rank}: {f}": similarity_matrix(rows[:, rank - 1])
        for rank, f in enumerate(filters, start=1)
    }


def reference_similarities(
    sample: ModelSample, reference: nn.Module, batch_size: int
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(layer -> RSM) of the sample's model and of ImageNet AlexNet on the same images (its
    RGB channels, normalised as the model's input)."""
    own = sample_activations(sample, batch_size)
    rgb = sample.inputs[:, :3]
    alexnet = spatial_max_activations(reference, _batches(rgb, batch_size), ALEXNET_LAYERS)
    return layer_similarities(own), layer_similarities(alexnet)


def save_activations(sample: ModelSample, batch_size: int, path: Path) -> None:
    """The spatial-max activations of the sample's layers, its labels and classes, as .npz."""
    layers = sample_activations(sample, batch_size)
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
