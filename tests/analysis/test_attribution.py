"""Guided backprop through captum, the stop-at-layer forward, activation maximisation."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from visionflow.analysis.attribution import (
    LayerFilters,
    guided_backprop,
    masked_top_mean,
    maximise_activation,
    saliency_gray,
    strongest_filters,
)


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 5, 3),
                         nn.ReLU(inplace=True), nn.Flatten(), nn.LazyLinear(2))  # fmt: skip


def test_forward_stops_at_the_layer_and_the_model_is_untouched():
    model = small_net()
    tail = model[5]
    filters = LayerFilters(model, "2")
    out = filters(torch.randn(2, 3, 8, 8))
    assert out.shape == (2, 5)
    assert isinstance(tail, nn.LazyLinear)  # never reached: still uninitialised
    assert model[1].inplace and not filters.model[1].inplace
    with pytest.raises(KeyError, match="no layer 'x'"):
        LayerFilters(model, "x")


def test_guided_backprop_drops_negative_gradients_at_relus():
    model = small_net()
    filters = LayerFilters(model, "2")
    inputs = torch.randn(3, 3, 8, 8)
    guided = guided_backprop(filters, inputs, 1)
    plain_inputs = inputs.clone().requires_grad_(True)
    filters(plain_inputs)[:, 1].sum().backward()
    assert guided.shape == inputs.shape
    assert not torch.allclose(guided, plain_inputs.grad)  # the ReLU hooks did something
    no_relu = LayerFilters(model, "0")  # nothing between input and layer: plain gradient
    plain = inputs.clone().requires_grad_(True)
    no_relu(plain)[:, 1].sum().backward()
    torch.testing.assert_close(guided_backprop(no_relu, inputs, 1), plain.grad)


def test_saliency_is_normalised_per_image():
    maps = saliency_gray(torch.randn(2, 4, 16, 16))
    assert maps.shape == (2, 16, 16)
    np.testing.assert_allclose(maps.min(axis=(1, 2)), 0)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1)


def test_maximisation_raises_each_filters_activation_reproducibly():
    filters = LayerFilters(small_net(), "0")
    kwargs = dict(shape=(3, 12, 12), lr=0.1, momentum=0.9, tv_weight=0.1, l2_weight=0.1, seed=5)
    start = maximise_activation(filters, [0, 3], steps=0, **kwargs)
    done = maximise_activation(filters, [0, 3], steps=30, **kwargs)
    with torch.no_grad():
        before = filters.feature_map(start).mean(dim=(2, 3))[[0, 1], [0, 3]]
        after = filters.feature_map(done).mean(dim=(2, 3))[[0, 1], [0, 3]]
    assert (after > before).all()
    torch.testing.assert_close(done, maximise_activation(filters, [0, 3], steps=30, **kwargs))
    assert strongest_filters(filters, done, 1)[0] in (0, 3)


def test_cli_writes_both_figures(cornet_checkpoint, tiny_store, tmp_path):
    from visionflow.cli import main

    args = ["analysis", "attribution", "--experiment", "cornet",
            "--ckpt", str(cornet_checkpoint), "--data", str(tiny_store), "--split", "val",
            "--per-class", "1", "--layer", "V4.conv3", "--filters", "2",
            "--am-layer", "V1.conv2", "--am-filters", "4", "--am-size", "24", "--am-steps", "3",
            "--guided-backprop", str(tmp_path / "gb.png"),
            "--maximisation", str(tmp_path / "am.png")]  # fmt: skip
    assert main(args) == 0
    for name in ("gb.png", "am.png"):
        image = plt.imread(tmp_path / name)
        assert min(image.shape[:2]) > 100 and image.std() > 0


def test_masked_top_percent_average():
    rng = np.random.default_rng(0)
    maps = [rng.uniform(size=(2, 10, 10)) for _ in range(5)]
    masks = np.zeros((2, 10, 10), dtype=np.uint8)
    masks[:, 2:8, 1:9] = 1
    kept = masked_top_mean(maps[:1], masks, top_fraction=0.1)  # int(100 x 0.1) = 10 pixels
    assert (np.count_nonzero(kept.reshape(2, -1), axis=1) <= 10).all()
    assert not kept[masks == 0].any()  # nothing outside the object
    inside = np.where(masks > 0, maps[0], 0).reshape(2, -1)
    top = np.argsort(-inside, axis=1)[:, :9]  # the 10th largest is the minimum, scaled to 0
    assert (np.take_along_axis(kept.reshape(2, -1), top, axis=1) > 0).all()
    same = masked_top_mean([maps[0]] * 5, masks, 0.1)
    np.testing.assert_allclose(same, kept)  # the mean of five equal maps is the map
    mean = masked_top_mean(maps, None, None)
    expected = np.mean(maps, axis=0)
    low = expected.min(axis=(1, 2), keepdims=True)
    expected = (expected - low) / (expected.max(axis=(1, 2), keepdims=True) - low)
    np.testing.assert_allclose(mean, expected)


def test_centre_unit_objective_at_32px_is_one_unit_of_features_7():
    from visionflow.models.grasp import AlexnetMap

    torch.manual_seed(0)
    filters = LayerFilters(AlexnetMap(), "features.7")
    assert filters.feature_map(torch.randn(1, 4, 32, 32)).shape == (1, 64, 1, 1)
    small = LayerFilters(small_net(), "0")  # 3x3 conv: a 10x10 map of a 12x12 input
    kwargs = dict(shape=(3, 12, 12), lr=0.1, momentum=0.0, tv_weight=0.0, l2_weight=0.0, seed=2)
    start = maximise_activation(small, [1], steps=0, centre=True, init_std=1.0, **kwargs)
    moved = maximise_activation(small, [1], steps=1, centre=True, init_std=1.0, **kwargs)
    changed = (moved != start).any(dim=(0, 1))
    assert changed[5:8, 5:8].all() and changed.sum() == 9  # the centre unit (5, 5) sees these
    assert start.std() == pytest.approx(1.0, abs=0.1)


def test_cli_neurovis_guided_backprop_and_pixel_am(jacquard_store, original_weights, tmp_path):
    import pandas as pd

    from visionflow.cli import main

    shapley = tmp_path / "shapley.csv"
    pd.DataFrame({"filter": range(64), "value": np.linspace(0, 1, 64)}).to_csv(shapley)
    args = ["analysis", "attribution", "--experiment", "grasp", "--ckpt", str(original_weights),
            "--task", "grasp", "--data", str(jacquard_store), "--split", "train",
            "--per-class", "1", "--layer", "features.7", "--filters", "5",
            "--filters-from", str(shapley), "--mask", "--top-fraction", "0.01", "--average",
            "--am-layer", "features.7", "--am-objective", "centre", "--am-size", "32",
            "--am-init-std", "1.0", "--am-filters", "2", "--am-steps", "2", "--am-tv", "0",
            "--am-l2", "0", "--guided-backprop", str(tmp_path / "gb.png"),
            "--maximisation", str(tmp_path / "am.png")]  # fmt: skip
    assert main(args) == 0
    gb = plt.imread(tmp_path / "gb.png")
    assert min(gb.shape[:2]) > 100 and gb.std() > 0
    assert plt.imread(tmp_path / "am.png").std() > 0
