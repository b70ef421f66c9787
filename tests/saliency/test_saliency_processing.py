"""The original's map processing (backend/image_processing.py:process) step by step."""

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from visionflow.data.saliency_processing import (
    MapProcessing,
    centre_prior,
    equalize,
    gaussian_kernel,
    match_histogram,
)
from visionflow.io import BadInputError

NONE = {"histogram_matching": "none", "histogram_matching_bias_path": None,
        "do_smoothing": "none", "smooth_size": 9.0, "smooth_std": 3.0, "smooth_prop": 0.05,
        "center_prior": "none", "center_prior_prop": 0.2, "center_prior_weight": 0.5,
        "center_prior_scale_first": True, "scale_output": "none", "scale_min": 0.0,
        "scale_max": 1.0}  # fmt: skip


@pytest.fixture
def saliency():
    return np.random.default_rng(0).random((12, 16))


def test_defaults_are_the_identity(saliency):
    for settings in (NONE, {}):
        processing = MapProcessing(settings)
        assert processing.identity and processing(saliency) is saliency


def test_histogram_steps_match_scikit_image(saliency):
    exposure = pytest.importorskip("skimage.exposure")
    np.testing.assert_allclose(equalize(saliency), exposure.equalize_hist(saliency))
    reference = np.random.default_rng(1).random((20, 20)) ** 3
    np.testing.assert_allclose(
        match_histogram(saliency, reference), exposure.match_histograms(saliency, reference)
    )


def test_biased_matching_reads_a_grayscale_bias_map(saliency, tmp_path):
    bias = (np.random.default_rng(2).random((8, 8)) * 255).astype(np.uint8)
    Image.fromarray(bias).save(tmp_path / "mean.png")
    settings = NONE | {"histogram_matching": "biased"}
    processed = MapProcessing(
        settings | {"histogram_matching_bias_path": str(tmp_path / "mean.png")}
    )
    np.testing.assert_allclose(processed(saliency), match_histogram(saliency, bias / 255))
    Image.fromarray(np.stack([bias] * 3, -1)).save(tmp_path / "rgb.png")
    with pytest.raises(BadInputError, match="rgb.png: bias map must be 8-bit grayscale"):
        MapProcessing(settings | {"histogram_matching_bias_path": str(tmp_path / "rgb.png")})
    with pytest.raises(BadInputError, match="needs a bias map"):
        MapProcessing(settings)


def test_gaussian_kernels_are_matlab_fspecial():
    kernel = gaussian_kernel(9.0, 3.0)
    offsets = np.arange(-4, 5)
    closed = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / 18)
    np.testing.assert_allclose(kernel, closed / closed.sum())
    assert kernel.sum() == pytest.approx(1)
    # proportional: sigma = 0.05 x 256, size 3 sigma = 38.4 -> 39 offsets from -18.7 (np.ogrid)
    wide = gaussian_kernel(3 * 12.8, 12.8)
    assert wide.shape == (39, 39) and wide.sum() == pytest.approx(1)
    assert wide[0, 0] > wide[-1, -1]  # offsets -18.7 .. 19.3 (not centred), as np.ogrid


def test_smoothing_correlates_with_zero_padding(saliency):
    custom = MapProcessing(NONE | {"do_smoothing": "custom"})(saliency)
    expected = scipy.ndimage.correlate(saliency, gaussian_kernel(9.0, 3.0), mode="constant")
    np.testing.assert_allclose(custom, expected)
    proportional = MapProcessing(NONE | {"do_smoothing": "proportional"})(saliency)
    kernel = gaussian_kernel(3 * 0.05 * 16, 0.05 * 16)
    np.testing.assert_allclose(
        proportional, scipy.ndimage.correlate(saliency, kernel, mode="constant")
    )


def test_centre_prior_adds_or_multiplies_an_unnormalised_gaussian(saliency):
    prior = centre_prior((12, 16), 0.2)
    rows = np.exp(-(np.linspace(-6, 5, 12) ** 2) / (2 * 2.4**2)) / (2.4 * np.sqrt(2 * np.pi))
    cols = np.exp(-(np.linspace(-8, 7, 16) ** 2) / (2 * 3.2**2)) / (3.2 * np.sqrt(2 * np.pi))
    np.testing.assert_allclose(prior, np.outer(rows, cols))
    assert prior.argmax() == np.ravel_multi_index((6, 8), (12, 16))
    scaled = (saliency - saliency.min()) / (saliency.max() - saliency.min())
    add = MapProcessing(NONE | {"center_prior": "proportional_add"})(saliency)
    np.testing.assert_allclose(add, 0.5 * scaled + 0.5 * prior)
    mult = MapProcessing(NONE | {"center_prior": "proportional_mult",
                                 "center_prior_scale_first": False,
                                 "center_prior_weight": 0.25})(saliency)  # fmt: skip
    np.testing.assert_allclose(mult, 0.75 * saliency + 0.25 * saliency * prior)


def test_output_scaling(saliency):
    minmax = MapProcessing(NONE | {"scale_output": "min-max", "scale_min": 2.0, "scale_max": 4.0})
    assert (minmax(saliency).min(), minmax(saliency).max()) == pytest.approx((2.0, 4.0))
    normalized = MapProcessing(NONE | {"scale_output": "normalized"})(saliency)
    assert (normalized.mean(), normalized.std()) == pytest.approx((0.0, 1.0))
    log_density = MapProcessing(NONE | {"scale_output": "log-density"})(saliency)
    assert np.exp(log_density).sum() == pytest.approx(1) and np.isneginf(log_density.min())


def test_steps_run_in_the_original_order(saliency):
    settings = NONE | {"histogram_matching": "equalization", "do_smoothing": "custom",
                       "center_prior": "proportional_add", "scale_output": "min-max"}  # fmt: skip
    step = equalize(saliency)
    step = scipy.ndimage.correlate(step, gaussian_kernel(9.0, 3.0), mode="constant")
    step = (step - step.min()) / (step.max() - step.min())
    step = 0.5 * step + 0.5 * centre_prior(step.shape, 0.2)
    step = (step - step.min()) / (step.max() - step.min())
    np.testing.assert_allclose(MapProcessing(settings)(saliency), step)
