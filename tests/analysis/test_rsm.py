"""Representational similarity: hooks, RSMs against rsatoolbox, Kendall tau, the CLI on a model."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from visionflow.analysis.activations import row_maxima, spatial_max_activations, spatial_max_hooks
from visionflow.analysis.rsm import (
    centre_channels,
    correlation_distances,
    kendall_lower,
    similarity_matrix,
    tau_table,
)
from visionflow.io import BadInputError
from visionflow.models.grasp import load_alexnet


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


def test_single_filter_summary_is_the_row_maxima():
    output = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)
    output[0, 2, 1, 0] = 99.0
    rows = row_maxima([2, 0])(output)
    assert rows.shape == (2, 2, 2)  # images, filters, rows
    assert rows[0, 0].tolist() == [19.0, 99.0] and rows[0, 1].tolist() == [3.0, 7.0]


def test_reference_alexnet_layers_and_rgb_input(tmp_path):
    import torchvision

    from visionflow.analysis.rsm import ALEXNET_LAYERS, reference_similarities
    from visionflow.analysis.samples import ModelSample

    torch.manual_seed(0)
    path = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    reference = load_alexnet(path)
    model = nn.Sequential(nn.Conv2d(4, 3, 3), nn.ReLU())
    inputs = torch.randn(6, 4, 64, 64)  # RGB-D: AlexNet would refuse the fourth channel
    sample = ModelSample(model, inputs, np.zeros(6), ["a"], ("0",), accuracy=len)
    own, alexnet = reference_similarities(sample, reference, batch_size=4)
    assert list(own) == ["0"] and list(alexnet) == list(ALEXNET_LAYERS)
    rgb = spatial_max_activations(reference, [(inputs[:, :3],)], ["features.8"])["features.8"]
    np.testing.assert_allclose(alexnet["features.8"], similarity_matrix(rgb))
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(BadInputError, match="not AlexNet weights"):
        load_alexnet(tmp_path / "other.pth")


def test_cli_top_k_and_reference_on_original_weights(jacquard_store, original_weights, tmp_path):
    import pandas as pd
    import torchvision

    from visionflow.cli import main

    sample = ["--experiment", "grasp", "--data", str(jacquard_store), "--split", "test",
              "--per-class", "2", "--seed", "4"]  # fmt: skip
    shapley = []
    for name, values in (("cls", [0.1, 0.5, 0.0, 0.3]), ("grasp", [0.2, 0.0, 0.4, 0.1])):
        shapley.append(tmp_path / f"{name}.csv")
        values = values + [0.0] * 28  # features.0 has 32 filters
        pd.DataFrame({"filter": range(32), "value": values}).to_csv(shapley[-1], index=False)
    out = tmp_path / "top_k.png"
    assert main(["analysis", "rsm-top-k", *sample, "--ckpts", str(original_weights),
                 str(original_weights), "--tasks", "cls", "grasp", "--names", "cls", "grasp",
                 "--shapley", *map(str, shapley), "--layer", "features.0", "--top-k", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out.with_suffix(".csv"), index_col="layer")
    assert list(table.index) == ["cls 1: 1", "cls 2: 3", "grasp 1: 2", "grasp 2: 0"]
    np.testing.assert_allclose(np.diag(table.to_numpy()), 1.0)
    assert plt.imread(out).std() > 0
    torch.manual_seed(0)
    alexnet = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), alexnet)
    out = tmp_path / "reference.png"
    assert main(["analysis", "rsm-reference", *sample, "--ckpt", str(original_weights),
                 "--task", "cls", "--alexnet", str(alexnet), "--repeats", "2", "--name", "cls",
                 "--out", str(out)]) == 0  # fmt: skip
    repeats = pd.read_csv(out.with_suffix(".csv"))
    assert repeats["seed"].tolist() == [4] * 5 + [5] * 5 and repeats["repeat"].nunique() == 2
    assert repeats.columns.tolist()[1:6] == ["features.0", "features.3", "features.6",
                                             "features.8", "features.10"]  # fmt: skip
    assert plt.imread(out).std() > 0
