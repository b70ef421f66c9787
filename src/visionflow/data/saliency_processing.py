"""The original's processing of saliency maps (`backend/image_processing.py:process`, SMILER's
options): histogram matching, Gaussian smoothing, a centre prior, then output scaling, on one
2-D map. Pre-processing applies it to reference maps, post-processing to predicted ones; with
every option `none` (all of the original's shipped configs) it is the identity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.ndimage
from PIL import Image

from visionflow.io import BadInputError

# The settings that choose each step (its choices: experiments.saliency.PROCESSING).
STEPS = ("histogram_matching", "do_smoothing", "center_prior", "scale_output")


def equalize(image: np.ndarray, bins: int = 256) -> np.ndarray:
    """Histogram equalisation over the map's value range (scikit-image's equalize_hist)."""
    counts, edges = np.histogram(image, bins=bins, range=(image.min(), image.max()))
    cdf = np.cumsum(counts) / image.size
    return np.interp(image, (edges[:-1] + edges[1:]) / 2, cdf)


def match_histogram(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The map's values replaced by the reference's at the same quantile (scikit-image's
    match_histograms for one channel)."""
    values, inverse, counts = np.unique(image, return_inverse=True, return_counts=True)
    ref_values, ref_counts = np.unique(reference, return_counts=True)
    quantiles = np.cumsum(counts) / image.size
    ref_quantiles = np.cumsum(ref_counts) / reference.size
    return np.interp(quantiles, ref_quantiles, ref_values)[inverse].reshape(image.shape)


def gaussian_kernel(size: float, sigma: float) -> np.ndarray:
    """MATLAB's fspecial('gaussian', [size size], sigma): offsets from -(size-1)/2 in steps of
    1 (a fractional size gives ceil(size) uncentred offsets, as the original's np.ogrid), values
    below eps x max set to 0, normalised to sum 1."""
    half = (size - 1) / 2
    offsets = np.arange(-half, half + 1)
    kernel = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma**2))
    kernel[kernel < np.finfo(kernel.dtype).eps * kernel.max()] = 0
    total = kernel.sum()
    return kernel / total if total else kernel


def centre_prior(shape: tuple[int, int], proportion: float) -> np.ndarray:
    """Outer product of the rows' and columns' normal pdf values (a density per axis, not a
    normalised mask) with sigma `proportion` x that side, centred at index side // 2."""
    axes = []
    for side in shape:
        offsets = np.linspace(-(side // 2), (side - 1) // 2, side)
        sigma = side * proportion
        axes.append(np.exp(-(offsets**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi)))
    return np.outer(*axes)


def _unit_range(image: np.ndarray) -> np.ndarray:
    low = image.min()
    return (image - low) / (image.max() - low)


class MapProcessing:
    """`process` of the original with one section of settings (`saliency.preprocess` or
    `saliency.postprocess`); the bias map of `biased` histogram matching is read once."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.identity = all(settings.get(step, "none") == "none" for step in STEPS)
        self.bias = None
        if settings.get("histogram_matching") == "biased":
            self.bias = _read_bias(settings.get("histogram_matching_bias_path"))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The processed 2-D map (float64); the map itself when every step is `none`."""
        if self.identity:
            return image
        s, image = self.settings, np.asarray(image, dtype=np.float64)
        if s["histogram_matching"] == "equalization":
            image = equalize(image)
        elif s["histogram_matching"] == "biased":
            image = match_histogram(image, self.bias)
        if s["do_smoothing"] != "none":
            if s["do_smoothing"] == "custom":
                kernel = gaussian_kernel(s["smooth_size"], s["smooth_std"])
            else:
                sigma = s["smooth_prop"] * max(image.shape)
                kernel = gaussian_kernel(3 * sigma, sigma)
            image = scipy.ndimage.correlate(image, kernel, mode="constant")
        if s["center_prior"] != "none":
            if s["center_prior_scale_first"]:
                image = _unit_range(image)
            prior = centre_prior(image.shape, s["center_prior_prop"])
            if s["center_prior"] == "proportional_mult":
                prior = image * prior
            weight = s["center_prior_weight"]
            image = (1 - weight) * image + weight * prior
        if s["scale_output"] == "min-max":
            image = np.interp(image, (image.min(), image.max()), (s["scale_min"], s["scale_max"]))
        elif s["scale_output"] == "normalized":
            image = (image - image.mean()) / image.std()
        elif s["scale_output"] == "log-density":
            image = _unit_range(image)
            with np.errstate(divide="ignore"):  # the minimum becomes -inf, as in the original
                image = np.log(image / image.sum())
        return image


def _read_bias(path: str | None) -> np.ndarray:
    """The bias map of `biased` histogram matching, in [0, 1] (8-bit grayscale file / 255)."""
    if not path:
        raise BadInputError("histogram_matching_bias_path", "`biased` matching needs a bias map")
    try:
        with Image.open(Path(path)) as img:
            if img.mode != "L":
                raise BadInputError(
                    path, f"bias map must be 8-bit grayscale, found mode {img.mode}"
                )
            return np.asarray(img, dtype=np.float64) / 255
    except OSError as exc:
        raise BadInputError(path, f"unreadable bias map ({exc})") from None
