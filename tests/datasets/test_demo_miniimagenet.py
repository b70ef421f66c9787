"""Tests for the synthetic MiniImageNet-format dataset generator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image

from visionflow.demo import miniimagenet as demo


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative posix path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _header(path: Path) -> tuple[tuple[int, int], str, str]:
    """(size, mode, format) of an image file."""
    with Image.open(path) as img:
        return img.size, img.mode, img.format


def test_generation_is_byte_identical_per_seed(tmp_path: Path) -> None:
    for name in ("a", "b"):
        demo.generate(tmp_path / name, n_classes=3, train_per_class=4, val_per_class=2, seed=7)
    demo.generate(tmp_path / "c", n_classes=3, train_per_class=4, val_per_class=2, seed=8)
    first, second, other = (_tree(tmp_path / name) for name in "abc")
    assert len(first) == 3 * (4 + 2)
    assert first == second
    assert first.keys() == other.keys()
    assert all(first[key] != other[key] for key in first)


def test_layout_names_and_counts(tmp_path: Path) -> None:
    demo.generate(tmp_path / "raw", n_classes=4, train_per_class=3, val_per_class=2)
    train = sorted(p.name for p in (tmp_path / "raw" / "train").iterdir())
    val = sorted(p.name for p in (tmp_path / "raw" / "val").iterdir())
    assert train == val == [demo.wnid(k) for k in range(4)]
    assert all(re.fullmatch(r"n0\d{7}", name) for name in train)
    for split, per_class in (("train", 3), ("val", 2)):
        for wnid in train:
            files = sorted(p.name for p in (tmp_path / "raw" / split / wnid).iterdir())
            assert files == sorted(f"{wnid}_{k}.JPEG" for k in range(per_class))


def test_images_have_varied_sizes_and_some_grayscale(tmp_path: Path) -> None:
    demo.generate(tmp_path / "raw", n_classes=2, train_per_class=40, val_per_class=1)
    headers = [_header(p) for p in sorted((tmp_path / "raw" / "train").rglob("*.JPEG"))]
    sizes = {size for size, _, _ in headers}
    assert len(sizes) > 30
    assert all(56 <= side <= 140 for size in sizes for side in size)
    assert all(0.55 <= w / h <= 1.75 for w, h in sizes)
    assert {fmt for _, _, fmt in headers} == {"JPEG"}
    assert sorted(mode for _, mode, _ in headers) == ["L"] * 2 + ["RGB"] * 78


def test_class_designs_are_distinct() -> None:
    designs = [demo.class_design(k) for k in range(demo.MAX_CLASSES)]
    assert len(set(designs)) == demo.MAX_CLASSES
    with pytest.raises(ValueError, match="n_classes"):
        demo.generate(Path("unused"), n_classes=demo.MAX_CLASSES + 1)


def test_regeneration_replaces_previous_content(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    (root / "stale").mkdir(parents=True)
    (root / "stale" / "old.txt").write_text("old")
    demo.generate(root, n_classes=1, train_per_class=1, val_per_class=1)
    assert sorted(p.name for p in root.iterdir()) == ["train", "val"]
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]


def test_failed_generation_keeps_previous_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "raw"
    demo.generate(root, n_classes=2, train_per_class=2, val_per_class=1)
    before = _tree(root)
    calls = iter(range(100))

    def failing_render(rng, label):
        if next(calls) == 3:
            raise KeyboardInterrupt
        return Image.new("RGB", (60, 60))

    monkeypatch.setattr(demo, "render", failing_render)
    with pytest.raises(KeyboardInterrupt):
        demo.generate(root, n_classes=2, train_per_class=2, val_per_class=1, seed=1)
    assert _tree(root) == before
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]
