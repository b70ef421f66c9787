"""Tests for the synthetic saliency dataset generator."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionflow.demo import saliency as demo


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative posix path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _pixels(path: Path, mode: str) -> np.ndarray:
    """The image at `path` converted to `mode`, as float64."""
    with Image.open(path) as img:
        return np.asarray(img.convert(mode), dtype=np.float64)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """The default demo dataset and its missing (task, image) pairs."""
    root = tmp_path_factory.mktemp("saliency") / "raw"
    return root, demo.generate(root)


def test_generation_is_byte_identical_per_seed(tmp_path: Path) -> None:
    missing = [demo.generate(tmp_path / name, images=6, size=48, seed=3) for name in "ab"]
    other = demo.generate(tmp_path / "c", images=6, size=48, seed=4)
    first, second, third = (_tree(tmp_path / name) for name in "abc")
    assert missing[0] == missing[1]
    assert first == second
    assert len(first) == 6 + 6 * 4 - 2
    images = [key for key in first if key.startswith("images/")]
    assert all(first[key] != third[key] for key in images)
    assert sum(len(names) for names in other.values()) == 2


def test_layout_sizes_and_missing_pairs(raw) -> None:
    root, missing = raw
    names = [f"img_{k:04d}" for k in range(48)]
    assert sorted(p.name for p in (root / "images").iterdir()) == [f"{n}.jpg" for n in names]
    assert sorted(p.name for p in (root / "saliencies").iterdir()) == sorted(demo.TASKS)
    assert sorted(missing) == sorted(demo.TASKS)
    assert sum(len(v) for v in missing.values()) == demo.MISSING
    sizes = set()
    for name in names:
        with Image.open(root / "images" / f"{name}.jpg") as img:
            assert (img.format, img.mode) == ("JPEG", "RGB")
            sizes.add(img.size)
        for task in demo.TASKS:
            path = root / "saliencies" / task / f"{name}.png"
            assert path.is_file() == (name not in missing[task])
            if path.is_file():
                with Image.open(path) as saliency:
                    assert (saliency.format, saliency.mode, saliency.size) == ("PNG", "L", img.size)
                    assert saliency.getextrema() == (0, 255)
    assert len(sizes) > 15
    assert all(84 <= h <= 108 for _, h in sizes)
    nearest = [min(demo.ASPECTS, key=lambda a: abs(w / h - a)) for w, h in sizes]
    assert all(abs(w / h - a) < 0.01 for (w, h), a in zip(sizes, nearest, strict=True))
    assert set(nearest) == set(demo.ASPECTS)


def test_task_maps_differ_and_follow_their_rules(raw) -> None:
    root, missing = raw
    complete = [f"img_{k:04d}" for k in range(48)]
    complete = [n for n in complete if not any(n in names for names in missing.values())]
    assert len(complete) == 48 - demo.MISSING
    for name in complete:
        rgb = _pixels(root / "images" / f"{name}.jpg", "RGB").astype(np.uint8)
        maps = {t: _pixels(root / "saliencies" / t / f"{name}.png", "L") for t in demo.TASKS}
        for a, b in itertools.combinations(demo.TASKS, 2):
            assert abs(np.corrcoef(maps[a].ravel(), maps[b].ravel())[0, 1]) < 0.9, (name, a, b)
        for task, rule in demo.RULES.items():
            np.testing.assert_array_equal(maps[task], demo._normalise(rule(rgb)))
        height, width = rgb.shape[:2]
        peak = np.unravel_index(np.argmax(maps["centre_bias"]), (height, width))
        assert abs(peak[0] - height / 2) <= 2 and abs(peak[1] - width / 2) <= 2
        luma = rgb @ demo.LUMA
        assert luma[maps["bright_spots"] == 255].min() > np.percentile(luma, 90)


def test_rules_on_constructed_images() -> None:
    flat = np.full((40, 60, 3), 120, np.uint8)
    flat[10:20, 10:20] = (200, 30, 30)  # a saturated red square
    flat[25:30, 40:45] = 250  # a white dot
    contrast = demo.colour_contrast(flat)
    assert contrast[15, 15] > 5 * contrast[27, 42]
    bright = demo.bright_spots(flat)
    assert np.unravel_index(np.argmax(bright), bright.shape) == (27, 42)
    edges = demo.edge_density(flat)
    assert edges[10, 15] > 5 * edges[5, 55]
    np.testing.assert_array_equal(demo.centre_bias(flat), demo.centre_bias(np.zeros_like(flat)))


def test_regeneration_replaces_previous_content(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    (root / "stale").mkdir(parents=True)
    demo.generate(root, images=2, size=32)
    assert sorted(p.name for p in root.iterdir()) == ["images", "saliencies"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def test_rejects_unknown_or_repeated_tasks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tasks must be distinct"):
        demo.generate(tmp_path / "raw", tasks=("centre_bias", "itti_koch"))
    with pytest.raises(ValueError, match="tasks must be distinct"):
        demo.generate(tmp_path / "raw", tasks=("centre_bias", "centre_bias"))
    assert not (tmp_path / "raw").exists()
