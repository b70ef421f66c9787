"""The analyses' figures: what each draws, checked on the returned figure."""

import itertools

import numpy as np
import pandas as pd
import torch
from helpers import assert_suptitle_clear, assert_texts_inside, texts
from torch import nn

from visionflow.analysis.attribution import guided_backprop_maps
from visionflow.analysis.figures import (
    plot_activation_maximisation,
    plot_guided_backprop,
    plot_shapley_bounds,
    plot_shapley_values,
    plot_similarity_matrices,
    plot_tau_matrix,
)


def test_tau_matrix_writes_every_value_with_its_layers(tmp_path):
    table = pd.DataFrame([[1.0, 0.25], [0.25, 1.0]], index=["V1", "IT"], columns=["V1", "IT"])
    fig = plot_tau_matrix(table, tmp_path / "tau.png", "outer2: RSMs", "layer", "layer")
    ax = fig.axes[0]
    assert ax.get_title() == "outer2: RSMs"
    assert [t.get_text() for t in ax.texts] == ["1.00", "0.25", "0.25", "1.00"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["V1", "IT"]


def test_similarity_matrices_name_each_layer_and_class_block(tmp_path):
    matrices = {"V1": np.eye(4), "IT": np.ones((4, 4))}
    labels = np.array([0, 0, 1, 1])
    fig = plot_similarity_matrices(matrices, labels, ["Chair", "Lamp"], tmp_path / "layers.png",
                                   "cornet/outer2: similarity")  # fmt: skip
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["layer V1", "layer IT"]
    assert fig._suptitle.get_text() == "cornet/outer2: similarity"  # the run is named
    assert_suptitle_clear(fig)
    assert_texts_inside(fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Chair", "Lamp"]


def test_shapley_figures_highlight_the_top_filters_and_log_their_bounds(tmp_path):
    summary = pd.DataFrame({"filter": range(4), "value": [0.1, 0.4, 0.0, 0.2],
                            "bound": [0.05] * 4})  # fmt: skip
    fig = plot_shapley_values(summary, 2, tmp_path / "values.png", "grasp/cls features.0")
    ax = fig.axes[0]
    assert ax.get_title() == "grasp/cls features.0; top 2 highlighted"
    colours = [bar.get_facecolor() for bar in ax.patches]
    assert colours[1] == colours[3] != colours[0] == colours[2]  # filters 1 and 3 stand out
    bounds = pd.DataFrame({1: [0.5, 0.2], 3: [0.6, 0.3]}, index=pd.Index([2, 3], name="n"))
    fig = plot_shapley_bounds(bounds, tmp_path / "bounds.png", "bounds")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and len(ax.get_lines()) == 2
    assert {"filter 1", "filter 3"} <= set(texts(fig))


def test_guided_backprop_has_an_input_column_then_one_per_filter(tmp_path):
    inputs = np.random.default_rng(0).normal(size=(2, 3, 16, 16))
    maps = {"filter 5": np.zeros((2, 16, 16)), "filter 9": np.ones((2, 16, 16))}
    fig = plot_guided_backprop(inputs, maps, tmp_path / "gb.png", "guided backprop")
    top_row = [ax.get_title() for ax in fig.axes[:3]]
    assert top_row == ["input", "filter 5", "filter 9"]
    assert fig._suptitle.get_text() == "guided backprop"
    overlay = fig.axes[2].get_images()[-1].get_array()
    assert np.all(overlay == 1)  # filter 9's map, drawn over the greyed image


def test_guided_backprop_draws_each_filters_own_map_under_a_clear_title(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU())
    inputs = torch.randn(10, 3, 12, 12)  # ten rows: a tall figure
    maps = {f"filter {k}": m for k, m in guided_backprop_maps(net, inputs, "2", 4).items()}
    title = "grasp/grasp: guided backprop, strongest filters of features.7"
    fig = plot_guided_backprop(inputs.numpy(), maps, tmp_path / "gb.png", title)
    assert_suptitle_clear(fig)
    drawn = [ax.get_images()[-1].get_array() for ax in fig.axes[1:5]]
    for overlay, saliency in zip(drawn, maps.values(), strict=True):
        np.testing.assert_array_equal(overlay, saliency[0])
    assert all(np.abs(a - b).mean() > 0.05 for a, b in itertools.combinations(drawn, 2))


def test_activation_maximisation_names_every_filter(tmp_path):
    images = np.random.default_rng(0).normal(size=(5, 3, 8, 8))
    fig = plot_activation_maximisation(images, [0, 1, 2, 3, 4], tmp_path / "am.png", "AM")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == [
        f"filter {i}" for i in range(5)
    ]
