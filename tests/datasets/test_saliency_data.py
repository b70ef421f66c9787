"""Tests for converting raw saliency data into the prepared store and reading it back."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from visionflow.data.saliency import PackedSaliency, assign_splits, prepare
from visionflow.demo.saliency import TASKS, generate
from visionflow.io import BadInputError, sha256_file

N = 20
SIZE = (24, 32)
TASK_ORDER = sorted(TASKS)
COLUMNS = ["id", "name", "split", "source", "height", "width", "sha256"]
NAMES = [f"img_{k:04d}" for k in range(N)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """A 20-image demo raw dataset and its missing (task, image) pairs; never modified."""
    root = tmp_path_factory.mktemp("saliency") / "raw"
    return root, generate(root, images=N, size=40, seed=1)


@pytest.fixture
def raw(generated, tmp_path: Path) -> Path:
    """A private, modifiable copy of the generated raw dataset."""
    shutil.copytree(generated[0], tmp_path / "raw")
    return tmp_path / "raw"


@pytest.fixture(scope="module")
def store(generated, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The generated dataset prepared at SIZE, and its manifest."""
    out = tmp_path_factory.mktemp("prepared") / "saliency"
    return out, prepare(generated[0], out, size=SIZE)


def _resized(path: Path, mode: str) -> np.ndarray:
    """PIL's bilinear resize of the image at `path` (as `mode`) to SIZE."""
    with Image.open(path) as img:
        return np.asarray(img.convert(mode).resize(SIZE[::-1], Image.Resampling.BILINEAR))


def _truncate(path: Path) -> Path:
    """Cut a file to half its bytes, as an interrupted copy would."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def test_round_trip_layout_and_alignment(generated, store) -> None:
    root, missing = generated
    out, manifest = store
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {"images.npy", "manifest.parquet", "skipped.csv", "info.json"}
    assert files == expected | {f"maps/{task}.npy" for task in TASK_ORDER}
    assert list(manifest.columns) == COLUMNS + [f"has_{task}" for task in TASK_ORDER]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "manifest.parquet"), manifest)
    assert manifest["id"].tolist() == list(range(N)) and manifest["name"].tolist() == NAMES
    assert manifest["source"].tolist() == [f"images/{name}.jpg" for name in NAMES]
    assert {manifest[c].dtype for c in ("id", "height", "width")} == {np.dtype(np.int64)}
    assert manifest["sha256"].tolist() == [sha256_file(root / s) for s in manifest["source"]]
    images = np.load(out / "images.npy")
    assert images.shape == (N, *SIZE, 3) and images.dtype == np.uint8
    for row in manifest.itertuples():
        with Image.open(root / row.source) as img:
            assert img.size == (row.width, row.height)
        np.testing.assert_array_equal(images[row.id], _resized(root / row.source, "RGB"))
    for task in TASK_ORDER:
        maps = np.load(out / "maps" / f"{task}.npy")
        assert maps.shape == (N, *SIZE) and maps.dtype == np.uint8
        assert manifest[f"has_{task}"].dtype == bool
        assert manifest.loc[~manifest[f"has_{task}"], "name"].tolist() == missing[task]
        for row in manifest.itertuples():
            source = root / "saliencies" / task / f"{row.name}.png"
            want = _resized(source, "L") if source.is_file() else np.zeros(SIZE, np.uint8)
            np.testing.assert_array_equal(maps[row.id], want)
    info = json.loads((out / "info.json").read_text())
    assert info["tasks"] == TASK_ORDER and info["size"] == list(SIZE) and info["skipped"] == 0
    assert info["maps"] == {task: N - len(missing[task]) for task in TASK_ORDER}
    assert sum(info["counts"].values()) == N
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped.columns.tolist() == ["source", "reason"] and skipped.empty


def test_split_fractions_and_seed(generated, store, tmp_path: Path) -> None:
    manifest = store[1]
    counts = manifest["split"].value_counts().to_dict()
    for split, fraction in zip(("train", "val", "test"), (0.7, 0.15, 0.15), strict=True):
        assert abs(counts[split] - fraction * N) <= 1
    for count in range(1, 60):
        labels = assign_splits(count, (0.6, 0.3, 0.1), seed=count)
        for split, fraction in zip(("train", "val", "test"), (0.6, 0.3, 0.1), strict=True):
            assert abs((labels == split).sum() - fraction * count) <= 1
    np.testing.assert_array_equal(assign_splits(N, (0.7, 0.15, 0.15), 0), manifest["split"])
    other = prepare(generated[0], tmp_path / "other", size=SIZE, seed=5)
    assert other["split"].tolist() != manifest["split"].tolist()
    assert other.drop(columns="split").equals(manifest.drop(columns="split"))


def test_workers_relative_root_and_progress_bar(generated, store, tmp_path, monkeypatch, capsys):
    shutil.copytree(generated[0], tmp_path / "raw")
    monkeypatch.chdir(tmp_path)
    manifest = prepare(Path("raw"), Path("out"), size=SIZE, workers=2)
    assert "converting saliency" in capsys.readouterr().err
    pd.testing.assert_frame_equal(manifest, store[1])
    for name in ["images.npy", *(f"maps/{task}.npy" for task in TASK_ORDER)]:
        assert (tmp_path / "out" / name).read_bytes() == (store[0] / name).read_bytes()


def _rgb_map(raw: Path, equal: bool) -> Path:
    """Rewrite colour_contrast/img_0004.png as RGB, with equal or differing channels."""
    path = raw / "saliencies" / "colour_contrast" / "img_0004.png"
    gray = np.asarray(Image.open(path))
    Image.fromarray(np.stack([gray, gray, gray if equal else 255 - gray], axis=2)).save(path)
    return path


def _wrong_size(raw: Path) -> Path:
    """Shrink edge_density/img_0005.png by a few pixels."""
    path = raw / "saliencies" / "edge_density" / "img_0005.png"
    with Image.open(path) as img:
        img.resize((img.width - 3, img.height)).save(path)
    return path


def _orphan(raw: Path) -> Path:
    """A map whose image does not exist."""
    path = raw / "saliencies" / "centre_bias" / "ghost.png"
    shutil.copy(raw / "saliencies" / "centre_bias" / "img_0000.png", path)
    return path


def _garbage(raw: Path) -> Path:
    """A .png image file that is not an image."""
    path = raw / "images" / "notes.png"
    path.write_text("not an image")
    return path


def _same_stem(raw: Path) -> Path:
    """A second image file with a taken name stem."""
    path = raw / "images" / "img_0007.png"
    Image.new("RGB", (40, 40)).save(path)
    return path


MAP_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated map": (
        lambda raw: _truncate(raw / "saliencies" / "bright_spots" / "img_0003.png"),
        "unreadable map",
    ),
    "wrong-size map": (_wrong_size, "map \\(the image's size\\), found"),
    "rgb map": (lambda raw: _rgb_map(raw, equal=False), "found mode RGB"),
}
IMAGE_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated image": (lambda raw: _truncate(raw / "images" / "img_0002.jpg"), "unreadable image"),
    "not an image": (_garbage, "unreadable image"),
    "second image of a name": (_same_stem, "same name stem"),
    "map without image": (_orphan, "map without an image"),
}


@pytest.mark.parametrize("case", [*MAP_CASES, *IMAGE_CASES])
def test_bad_input_errors_name_the_file_or_are_skipped(raw: Path, tmp_path: Path, case) -> None:
    make_bad, problem = {**MAP_CASES, **IMAGE_CASES}[case]
    bad = make_bad(raw)
    with pytest.raises(BadInputError, match=problem) as caught:
        prepare(raw, tmp_path / "error", size=SIZE)
    assert caught.value.path == str(bad)
    assert not (tmp_path / "error").exists()
    manifest = prepare(raw, tmp_path / "skip", size=SIZE, on_bad_sample="skip")
    skipped = pd.read_csv(tmp_path / "skip" / "skipped.csv")
    assert skipped["source"].tolist() == [str(bad)]
    assert skipped["reason"].str.contains(problem).all()
    if case in MAP_CASES:  # the image stays; its map of that task counts as missing
        task, stem = bad.parent.name, bad.stem
        assert not manifest.loc[manifest["name"] == stem, f"has_{task}"].item()
        assert not np.load(tmp_path / "skip" / "maps" / f"{task}.npy")[int(stem[-4:])].any()
    kept = [f"img_{k:04d}" for k in range(N) if case != "truncated image" or k != 2]
    assert manifest["name"].tolist() == kept
    images = np.load(tmp_path / "skip" / "images.npy")
    assert len(images) == len(kept)
    for row in manifest.itertuples():
        np.testing.assert_array_equal(images[row.id], _resized(raw / row.source, "RGB"))


def test_rgb_map_with_equal_channels_is_accepted(raw: Path, tmp_path: Path) -> None:
    path = _rgb_map(raw, equal=True)
    prepare(raw, tmp_path / "out", size=SIZE)
    stored = np.load(tmp_path / "out" / "maps" / "colour_contrast.npy")[4]
    np.testing.assert_array_equal(stored, _resized(path, "L"))


@pytest.mark.parametrize("policy", ["error", "skip"])
def test_no_images_or_no_tasks_fail_under_every_policy(raw, tmp_path, policy) -> None:
    saliencies = raw / "saliencies"
    for task in TASKS:
        shutil.rmtree(saliencies / task)
    (saliencies / "notes.txt").write_text("no task folders")
    with pytest.raises(BadInputError, match="no task folders") as caught:
        prepare(raw, tmp_path / "out", size=SIZE, on_bad_sample=policy)
    assert caught.value.path == str(saliencies)
    for image in (raw / "images").iterdir():
        image.unlink()
    with pytest.raises(BadInputError, match="no image files") as caught:
        prepare(raw, tmp_path / "out", size=SIZE, on_bad_sample=policy)
    assert caught.value.path == str(raw / "images")
    shutil.rmtree(raw / "images")
    with pytest.raises(BadInputError, match="folder does not exist"):
        prepare(raw, tmp_path / "out", size=SIZE, on_bad_sample=policy)
    assert not (tmp_path / "out").exists()


def test_all_images_unreadable_under_skip(raw: Path, tmp_path: Path) -> None:
    for image in (raw / "images").iterdir():
        image.write_bytes(b"")
    with pytest.raises(BadInputError, match="no usable image"):
        prepare(raw, tmp_path / "out", size=SIZE, on_bad_sample="skip")


def test_argument_errors(raw: Path, tmp_path: Path) -> None:
    for kwargs in ({"splits": (0.5, 0.5, 0.5)}, {"on_bad_sample": "ignore"}, {"size": (0, 8)}):
        with pytest.raises(ValueError):
            prepare(raw, tmp_path / "out", **kwargs)


def test_store_items(generated, store) -> None:
    out, manifest = store
    missing = generated[1]
    images = np.load(out / "images.npy")
    for split in ("train", "val", "test"):
        data = PackedSaliency(out, split)
        rows = manifest[manifest["split"] == split]
        assert len(data) == len(rows) and data.names == rows["name"].tolist()
        assert data.tasks == TASK_ORDER and isinstance(data.images, np.memmap)
        for index, row in enumerate(rows.itertuples()):
            image, maps, has = data[index]
            assert image.dtype == torch.uint8 and image.shape == (3, *SIZE)
            np.testing.assert_array_equal(image.permute(1, 2, 0).numpy(), images[row.id])
            assert list(maps) == list(has) == TASK_ORDER
            assert has == {task: row.name not in missing[task] for task in TASK_ORDER}
            for task, saliency in maps.items():
                assert saliency.dtype == torch.uint8 and saliency.shape == SIZE
                stored = np.load(out / "maps" / f"{task}.npy", mmap_mode="r")[row.id]
                np.testing.assert_array_equal(saliency.numpy(), stored)


def test_store_task_subset_pickle_and_loader(store) -> None:
    out = store[0]
    data = PackedSaliency(out, "train", tasks=["edge_density", "bright_spots"])
    image, maps, has = data[1]
    assert list(maps) == list(has) == ["edge_density", "bright_spots"]
    assert data.images.shape == (N, *SIZE, 3)  # the memory maps are open now
    pickled = pickle.dumps(data)
    assert len(pickled) < data.images.nbytes
    clone = pickle.loads(pickled)
    assert clone._maps is None
    assert all(torch.equal(a, b) for a, b in zip(clone[1][1].values(), maps.values(), strict=True))
    batch = next(iter(DataLoader(data, batch_size=4)))
    assert batch[0].shape == (4, 3, *SIZE) and batch[1]["bright_spots"].shape == (4, *SIZE)
    assert batch[2]["edge_density"].dtype == torch.bool
    with pytest.raises(ValueError, match="unknown tasks \\['itti'\\]"):
        PackedSaliency(out, "train", tasks=["itti"])
    with pytest.raises(ValueError, match="split"):
        PackedSaliency(out, "holdout")
    with pytest.raises(BadInputError, match="manifest.parquet"):
        PackedSaliency(out / "nowhere", "train")


def test_split_folders_are_kept(raw: Path, tmp_path: Path) -> None:
    """The original's --input_images layout: train/, val/ (and test/) give the split; run/
    images need no maps and are not stored; a name in two folders is one image too many."""
    images = raw / "images"
    for split, names in (("train", NAMES[:12]), ("val", NAMES[12:16]), ("run", NAMES[16:])):
        (images / split).mkdir()
        for name in names:
            (images / f"{name}.jpg").rename(images / split / f"{name}.jpg")
    manifest = prepare(raw, tmp_path / "store", size=SIZE, splits=(1.0, 0.0, 0.0))
    assert manifest["split"].tolist() == ["train"] * 12 + ["val"] * 4
    assert manifest["source"].tolist()[-1] == "images/val/img_0015.jpg"
    info = json.loads((tmp_path / "store" / "info.json").read_text())
    assert info["counts"] == {"train": 12, "val": 4, "test": 0}
    rejected = pd.read_csv(tmp_path / "store" / "skipped.csv")["source"]
    assert not any("run/" in source for source in rejected)  # maps of run images: not orphans
    shutil.copy(images / "val" / "img_0012.jpg", images / "train" / "img_0012.jpg")
    with pytest.raises(BadInputError, match=r"img_0012.jpg: an image of the same name stem"):
        prepare(raw, tmp_path / "again", size=SIZE)
