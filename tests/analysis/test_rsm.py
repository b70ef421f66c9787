"""Representational similarity: hooks, RSMs against rsatoolbox, Kendall tau, the CLI on a model."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from visionflow.analysis.activations import spatial_max_activations, spatial_max_hooks
from visionflow.analysis.rsm import (
    centre_channels,
    correlation_distances,
    kendall_lower,
    similarity_matrix,
    tau_table,
)


def rsatoolbox_correlation_rdm(activations: np.ndarray) -> np.ndarray:
    import rsatoolbox

    data = rsatoolbox.data.Dataset(activations)
    return rsatoolbox.rdm.calc_rdm(data, method="correlation").get_matrices()[0]


def test_dissimilarities_equal_rsatoolbox_correlation_rdm():
    activations = np.random.default_rng(0).normal(loc=3.0, size=(12, 7))
    centred = centre_channels(activations)
    np.testing.assert_allclose(correlation_distances(centred),
                               rsatoolbox_correlation_rdm(centred), atol=1e-10)  # fmt: skip
    distances = rsatoolbox_correlation_rdm(centred)
    np.testing.assert_allclose(similarity_matrix(activations),
                               1 - distances / distances.max(), atol=1e-10)  # fmt: skip


def test_similarity_is_one_on_the_diagonal_and_zero_at_the_farthest_pair():
    matrix = similarity_matrix(np.random.default_rng(1).normal(size=(9, 5)))
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    assert matrix.min() == pytest.approx(0.0)
    np.testing.assert_allclose(matrix, matrix.T)


def test_kendall_uses_the_strict_lower_triangle_only():
    first = np.array([[9.0, 0, 0], [1, 9, 0], [2, 3, 9]])
    second = first.T.copy()  # same lower-triangle order reversed: upper of first
    second[np.tril_indices(3, k=-1)] = [3, 2, 1]
    assert kendall_lower(first, first) == pytest.approx(1.0)
    assert kendall_lower(first, second) == pytest.approx(-1.0)
    table = tau_table({"a": first, "b": second}, {"a": first})
    assert table.loc["b", "a"] == pytest.approx(-1.0)


class TwoConvs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.head = nn.Conv2d(2, 3, 1, bias=False)

    def forward(self, x):
        return self.head(self.relu(self.conv(x)))


def test_hooks_record_spatial_max_before_an_in_place_relu_and_are_removed():
    model = TwoConvs()
    with torch.no_grad():
        model.conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    x = torch.tensor([[[[1.0, -3.0], [2.0, 0.5]]]])
    acts = spatial_max_activations(model, [(x,), (2 * x,)], ["conv", "head"])
    np.testing.assert_allclose(acts["conv"], [[2.0, 3.0], [4.0, 6.0]])  # -min of x for -1
    assert acts["head"].shape == (2, 3)
    assert not model.conv._forward_hooks and not model.head._forward_hooks
    with pytest.raises(KeyError, match="nope"), spatial_max_hooks(model, ["nope"]):
        pass


def test_cli_activations_model_and_self_comparison(cornet_checkpoint, tiny_store, tmp_path):
    import pandas as pd

    from visionflow.cli import main

    npz = tmp_path / "outer2" / "activations.npz"
    assert main(["analysis", "activations", "--experiment", "cornet",
                 "--ckpt", str(cornet_checkpoint), "--data", str(tiny_store),
                 "--per-class", "4", "--seed", "3", "--out", str(npz)]) == 0  # fmt: skip
    with np.load(npz) as stored:
        assert stored["labels"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
        assert [str(x) for x in stored["layers"]] == ["V1", "V2", "V4", "IT"]
        assert stored["layer/V1"].shape[0] == 12
    assert main(["analysis", "rsm-model", str(npz), "--name", "outer2",
                 "--out-dir", str(tmp_path / "outer2")]) == 0  # fmt: skip
    intra = pd.read_csv(tmp_path / "outer2" / "intra_model.csv", index_col="layer")
    np.testing.assert_allclose(np.diag(intra.to_numpy()), 1.0)
    for name in ("intra_model.png", "layers.png"):
        image = plt.imread(tmp_path / "outer2" / name)
        assert min(image.shape[:2]) > 100 and image.std() > 0
    out = tmp_path / "outer2_vs_outer2.png"
    assert main(["analysis", "rsm-compare", str(npz), str(npz), "--names", "outer2", "outer2",
                 "--out", str(out)]) == 0  # fmt: skip
    pd.testing.assert_frame_equal(pd.read_csv(out.with_suffix(".csv"), index_col="layer"), intra)


def test_classes_are_sampled_independently_and_reproducibly(tiny_store):
    from visionflow.data.miniimagenet import PackedImages

    images = PackedImages(tiny_store, "train")  # 16 images per class, in class order
    picks = images.sample_per_class(5, seed=7)
    assert images.labels[picks].tolist() == [0] * 5 + [1] * 5 + [2] * 5
    positions = [picks[5 * c : 5 * c + 5] - 16 * c for c in range(3)]
    assert not all(np.array_equal(positions[0], p) for p in positions[1:])
    np.testing.assert_array_equal(picks, images.sample_per_class(5, seed=7))


def test_too_few_images_per_class_is_a_clear_error(tiny_store):
    from visionflow.data.miniimagenet import PackedImages

    with pytest.raises(ValueError, match="has 4 samples, fewer than 5"):
        PackedImages(tiny_store, "val").sample_per_class(5, seed=0)
