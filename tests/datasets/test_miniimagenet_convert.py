"""Tests for packing a raw MiniImageNet ImageFolder and reading it back."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from visionflow.data.miniimagenet import PackedImages, prepare
from visionflow.io import BadInputError, sha256_file

SHORT = 32
A, B, C = "n01000000", "n01001013", "n01002026"
STORE_FILES = {"train.npy", "val.npy", "manifest.parquet", "skipped.csv"}


def _noise(seed: int, width: int, height: int, mode: str) -> Image.Image:
    """A random-pixel RGB image of the given size converted to `mode`."""
    pixels = np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB").convert(mode)


def _save(path: Path, seed: int, width: int, height: int, mode: str = "RGB") -> Path:
    """Write a random image, format chosen by suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _noise(seed, width, height, mode).save(path)
    return path


def _truncate(path: Path) -> Path:
    """Cut a file to half its bytes, as an interrupted download would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A tiny raw dataset mixing formats and colour modes (gray, CMYK, RGBA, palette)."""
    root = tmp_path / "raw"
    _save(root / "train" / A / "a1.JPEG", 1, 80, 60)
    _save(root / "train" / A / "a2.jpg", 2, 50, 90, "L")
    _save(root / "train" / A / "a3.png", 3, 64, 64, "RGBA")
    _save(root / "train" / B / "b1.JPEG", 4, 70, 45, "CMYK")
    _save(root / "train" / B / "b2.png", 5, 40, 100, "P")
    _save(root / "train" / B / "b3.jpeg", 6, 20, 30)  # smaller than SHORT: upsampled
    _save(root / "val" / A / "va1.JPEG", 7, 90, 70)
    _save(root / "val" / B / "vb1.png", 8, 33, 77, "L")
    return root.resolve()


def _expected(source: str, height: int, width: int) -> np.ndarray:
    """PIL's RGB bilinear resize of `source` as a (3, H, W) array."""
    with Image.open(source) as img:
        rgb = img.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(rgb).transpose(2, 0, 1)


def _assert_round_trip(out: Path, manifest: pd.DataFrame) -> None:
    """Every stored image equals PIL's resize of its source; offsets tile the arrays."""
    for split in ("train", "val"):
        rows = manifest[manifest["split"] == split]
        images = PackedImages(out, split)
        assert len(images) == len(rows)
        np.testing.assert_array_equal(images.labels, rows["label"].to_numpy())
        sizes = (rows["height"] * rows["width"] * 3).to_numpy()
        np.testing.assert_array_equal(rows["offset"], np.cumsum(sizes) - sizes)
        assert np.load(out / f"{split}.npy", mmap_mode="r").shape == (sizes.sum(),)
        for i, row in enumerate(rows.itertuples()):
            image = images.image(i)
            # a view of the stored (H, W, 3) pixels: no transposing copy when read
            assert image.stride() == (1, 3 * row.width, 3) and image.dtype == torch.uint8
            assert min(row.height, row.width) == SHORT
            np.testing.assert_array_equal(
                image.numpy(), _expected(row.source, row.height, row.width)
            )


def _store_bytes(out: Path) -> dict[str, bytes]:
    """The bytes of every store file except the parquet manifest."""
    return {name: (out / name).read_bytes() for name in ("train.npy", "val.npy", "skipped.csv")}


def test_round_trip_matches_pil_resize(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "packed"
    manifest = prepare(raw, out, SHORT)
    assert {p.name for p in out.iterdir()} == STORE_FILES
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), manifest)
    assert list(manifest.columns) == [
        "id", "split", "label", "wnid", "source", "height", "width", "offset", "sha256",
    ]  # fmt: skip
    assert manifest["id"].tolist() == [
        f"train/{A}/a1.JPEG", f"train/{A}/a2.jpg", f"train/{A}/a3.png",
        f"train/{B}/b1.JPEG", f"train/{B}/b2.png", f"train/{B}/b3.jpeg",
        f"val/{A}/va1.JPEG", f"val/{B}/vb1.png",
    ]  # fmt: skip
    sizes = {row.id: (row.height, row.width) for row in manifest.itertuples()}
    assert sizes[f"train/{A}/a1.JPEG"] == (32, 42)  # 42.67 truncated, as Resize(32) does
    assert sizes[f"train/{B}/b2.png"] == (80, 32)
    assert sizes[f"train/{B}/b3.jpeg"] == (48, 32)
    assert all(Path(s).is_relative_to(raw) for s in manifest["source"])
    assert manifest["sha256"].tolist() == [sha256_file(s) for s in manifest["source"]]
    assert pd.read_csv(out / "skipped.csv").columns.tolist() == ["source", "reason"]
    assert len(pd.read_csv(out / "skipped.csv")) == 0
    _assert_round_trip(out, manifest)


def test_store_does_not_depend_on_where_the_raw_folder_lives(raw, tmp_path, monkeypatch):
    """Relative roots give relative sources: the same store bytes in every clone (DVC)."""
    stores = []
    for clone in ("a", "b"):
        shutil.copytree(raw, tmp_path / clone / "raw")
        monkeypatch.chdir(tmp_path / clone)
        prepare(Path("raw"), Path("packed"), SHORT)
        stores.append(_store_bytes(Path("packed")))
    assert stores[0] == stores[1]
    assert pd.read_parquet(tmp_path / "a/packed/manifest.parquet")["source"][0].startswith("raw/")


def test_labels_follow_sorted_train_classes(raw: Path, tmp_path: Path) -> None:
    manifest = prepare(raw, tmp_path / "packed", SHORT)
    assert manifest["label"].dtype == np.int64
    by_split = manifest.groupby("split")[["wnid", "label"]]
    pairs = {split: set(map(tuple, rows.to_numpy())) for split, rows in by_split}
    assert pairs["train"] == pairs["val"] == {(A, 0), (B, 1)}
    images = PackedImages(tmp_path / "packed", "val")
    assert images.classes == [A, B] and images.num_classes == 2


@pytest.mark.parametrize("name", [f"train/{B}/b1.JPEG", f"val/{A}/va1.JPEG"])
def test_corrupt_image_error_names_file_and_writes_nothing(
    raw: Path, tmp_path: Path, name: str
) -> None:
    bad = _truncate(raw / name)
    out = tmp_path / "packed"
    with pytest.raises(BadInputError, match=bad.name) as caught:
        prepare(raw, out, SHORT)
    assert caught.value.path == str(bad)
    assert "corrupt" in caught.value.problem
    assert not out.exists() or list(out.iterdir()) == []


def test_unreadable_file_error_names_it(raw: Path, tmp_path: Path) -> None:
    (raw / "val" / A / "notes.jpg").write_text("not an image")
    with pytest.raises(BadInputError, match="notes.jpg"):
        prepare(raw, tmp_path / "packed", SHORT)


def test_skip_records_corrupt_images_and_converts_the_rest(raw: Path, tmp_path: Path) -> None:
    bad = _truncate(raw / "train" / A / "a2.jpg")
    (raw / "val" / A / "notes.jpg").write_text("not an image")
    out = tmp_path / "packed"
    manifest = prepare(raw, out, SHORT, on_bad_sample="skip")
    skipped = pd.read_csv(out / "skipped.csv")
    assert sorted(skipped["source"]) == [str(bad), str(raw / "val" / A / "notes.jpg")]
    assert skipped["reason"].str.contains("corrupt").all()
    assert len(manifest) == 7 and f"train/{A}/a2.jpg" not in set(manifest["id"])
    _assert_round_trip(out, manifest)


def test_empty_class_folder(raw: Path, tmp_path: Path) -> None:
    empty = raw / "train" / C
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(BadInputError, match=f"{C}: empty class folder"):
        prepare(raw, tmp_path / "error", SHORT)
    manifest = prepare(raw, tmp_path / "skip", SHORT, on_bad_sample="skip")
    skipped = pd.read_csv(tmp_path / "skip" / "skipped.csv")
    assert skipped.to_dict("records") == [{"source": str(empty), "reason": "empty class folder"}]
    assert sorted(manifest["wnid"].unique()) == [A, B]
    assert PackedImages(tmp_path / "skip", "train").num_classes == 2


def test_val_class_missing_from_train(raw: Path, tmp_path: Path) -> None:
    orphan = _save(raw / "val" / C / "vc1.JPEG", 9, 40, 40).parent
    with pytest.raises(BadInputError, match=f"{C}: class folder not present in train") as caught:
        prepare(raw, tmp_path / "error", SHORT)
    assert caught.value.path == str(orphan)
    manifest = prepare(raw, tmp_path / "skip", SHORT, on_bad_sample="skip")
    skipped = pd.read_csv(tmp_path / "skip" / "skipped.csv")
    assert skipped["source"].tolist() == [str(orphan / "vc1.JPEG")]
    assert C not in set(manifest["wnid"]) and len(manifest) == 8


@pytest.mark.parametrize("missing", ["", "train", "val"])
def test_missing_root_or_split_folder(raw: Path, tmp_path: Path, missing: str) -> None:
    root = tmp_path / "nowhere" if not missing else raw
    if missing:
        (raw / missing).rename(tmp_path / "moved")
    with pytest.raises(
        BadInputError, match="does not exist" if not missing else "missing"
    ) as caught:
        prepare(root, tmp_path / "packed", SHORT)
    assert caught.value.path == str((root / missing).resolve())


def test_unknown_policy_is_a_value_error(raw: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_bad_sample"):
        prepare(raw, tmp_path / "packed", SHORT, on_bad_sample="ignore")


def test_two_workers_give_identical_store(raw: Path, tmp_path: Path) -> None:
    _truncate(raw / "train" / A / "a1.JPEG")
    for i in range(6):
        _save(raw / "train" / C / f"c{i}.JPEG", 20 + i, 40 + 9 * i, 90 - 7 * i)
    one = prepare(raw, tmp_path / "one", SHORT, on_bad_sample="skip", workers=1)
    two = prepare(raw, tmp_path / "two", SHORT, on_bad_sample="skip", workers=2)
    pd.testing.assert_frame_equal(one, two)
    assert _store_bytes(tmp_path / "one") == _store_bytes(tmp_path / "two")
    assert len(one) == 13
    _assert_round_trip(tmp_path / "two", two)


def test_packed_images_missing_file_and_pickling(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "packed"
    prepare(raw, out, SHORT)
    images = PackedImages(out, "train")
    first = images.image(0)
    clone = pickle.loads(pickle.dumps(images))
    assert clone.image(0).equal(first) and first.shape == (3, 32, 42)
    (out / "val.npy").unlink()
    with pytest.raises(BadInputError, match="val.npy"):
        PackedImages(out, "val")


def test_skip_drops_a_class_whose_train_images_are_all_bad(raw: Path, tmp_path: Path) -> None:
    for name in ("a1.JPEG", "a2.jpg", "a3.png"):
        _truncate(raw / "train" / A / name)
    manifest = prepare(raw, tmp_path / "packed", SHORT, on_bad_sample="skip")
    skipped = pd.read_csv(tmp_path / "packed" / "skipped.csv")
    assert len(skipped) == 4
    assert skipped["source"].iloc[-1] == str(raw / "val" / A / "va1.JPEG")
    assert set(zip(manifest["wnid"], manifest["label"], strict=True)) == {(B, 0)}
    assert PackedImages(tmp_path / "packed", "val").classes == [B]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_packed_images_damaged_array_names_the_file(raw: Path, tmp_path: Path, damage) -> None:
    out = tmp_path / "store"
    prepare(raw, out, short_side=SHORT)
    array = out / "train.npy"
    data = array.read_bytes()
    array.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not an array")
    images = PackedImages(out, "train")
    with pytest.raises(BadInputError, match="train.npy"):
        images.image(0)


def test_stored_image_is_what_run_py_resize_256_makes(tmp_path: Path) -> None:
    """At short side 256 the store holds exactly torchvision's Resize(256) of the source (the
    original's val transform before CenterCrop), long side truncated: 500x366 -> 349x256."""
    from torchvision import transforms

    source = _save(tmp_path / "raw" / "train" / A / "a.JPEG", 9, 500, 366)
    _save(tmp_path / "raw" / "val" / A / "b.JPEG", 10, 40, 40)
    prepare(tmp_path / "raw", tmp_path / "packed", 256)
    stored = PackedImages(tmp_path / "packed", "train").image(0).numpy()
    with Image.open(source) as img:
        resized = np.asarray(transforms.Resize(256)(img.convert("RGB"))).transpose(2, 0, 1)
    assert stored.shape == (3, 256, 349)
    np.testing.assert_array_equal(stored, resized)
