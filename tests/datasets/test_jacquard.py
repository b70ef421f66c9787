"""Tests for the Jacquard demo generator, grasp maps, conversion and packed reader."""

from __future__ import annotations

import pickle
import shutil
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import tifffile
from PIL import Image

import visionflow.data.jacquard as jq
import visionflow.data.jacquard.grasp_maps as codec
import visionflow.demo.jacquard as demo
from visionflow.data.jacquard.grasp_maps import (
    grasp_map,
    grasp_maps,
    maps_to_rectangles,
    rotate_grasps,
    scale_grasps,
)
from visionflow.data.jacquard.prepare import prepare
from visionflow.data.jacquard.raw import SUFFIXES, parse_grasps
from visionflow.data.jacquard.store import PackedJacquard, locate_view
from visionflow.io import BadInputError, sha256_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jacquard_reference import reference_maps  # noqa: E402

RAW = 96  # demo image size: not the stored size, so every test exercises scaling
SIZE = 64


def _files(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Five classes, three objects (two train, one test), two views each."""
    root = tmp_path_factory.mktemp("jacquard") / "raw"
    demo.generate(root, objects_per_class=3, views_per_object=2, size=RAW, seed=0)
    return root


@pytest.fixture(scope="module")
def store(raw: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared")
    prepare(raw, out, size=SIZE)
    return out


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """One class, two objects of one view each, for damaging."""
    root = tmp_path / "small"
    demo.generate(root, classes=("Chair",), objects_per_class=2, views_per_object=1,
                  splits={"train": 1, "test": 1}, size=RAW)  # fmt: skip
    return root


def _stem(root: Path, split: str = "train") -> Path:
    """The file prefix of the first sample of `split`."""
    return Path(str(sorted((root / split).rglob("*_RGB.png"))[0])[: -len("_RGB.png")])


# ---------------------------------------------------------------- demo generator


def test_demo_layout_and_consistent_grasps(raw: Path) -> None:
    splits = {"train": 2, "test": 1}
    for split, objects in splits.items():
        for name in jq.DEFAULT_CLASSES:
            folders = sorted((raw / split / name).iterdir())
            assert len(folders) == objects
            for folder in folders:
                names = sorted(p.name for p in folder.iterdir())
                expected = sorted(
                    f"{view}_{folder.name}{suffix}"
                    for view in range(2)
                    for suffix in (*SUFFIXES.values(), "_stereo_depth.tiff")
                )
                assert names == expected
    for stem in (Path(str(p)[: -len("_RGB.png")]) for p in raw.rglob("*_RGB.png")):
        depth = tifffile.imread(f"{stem}_perfect_depth.tiff")
        assert depth.dtype == np.float32 and depth.shape == (RAW, RAW)
        mask = np.asarray(Image.open(f"{stem}_mask.png")) > 0
        grasps = parse_grasps(Path(f"{stem}_grasps.txt"))
        assert len(grasps) >= 4
        centres = np.floor(grasps[:, :2]).astype(int)
        assert mask[centres[:, 1], centres[:, 0]].mean() > 0.9  # grasps sit on the object
        assert depth[mask].mean() < depth[~mask].mean() - 0.02  # object above the table


def test_demo_is_deterministic(raw: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    demo.generate(again, objects_per_class=3, views_per_object=2, size=RAW, seed=0)
    demo.generate(other, objects_per_class=3, views_per_object=2, size=RAW, seed=1)
    assert _files(again) == _files(raw)
    assert _files(other).keys() != _files(raw).keys()


def test_demo_interrupted_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    original = demo._write_view
    monkeypatch.setattr(demo, "_write_view", failing)
    with pytest.raises(KeyboardInterrupt):
        demo.generate(tmp_path / "raw", size=RAW)
    assert list(tmp_path.iterdir()) == []


def test_demo_classes_differ_in_colour(store: Path) -> None:
    train = PackedJacquard(store, "train")
    means = {}
    for index in range(len(train)):
        sample = train[index]
        means.setdefault(sample["label"], []).append(sample["rgb"][sample["mask"] == 1].mean(0))
    centres = np.array([np.mean(v, axis=0) for _, v in sorted(means.items())])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    assert gaps[~np.eye(len(centres), dtype=bool)].min() > 20


# ---------------------------------------------------------------- grasp maps


def test_vectorised_maps_equal_reference_on_demo(raw: Path, monkeypatch) -> None:
    files = sorted(raw.rglob("*_grasps.txt"))
    for path in files:
        grasps = parse_grasps(path)
        assert np.array_equal(grasp_maps(grasps, RAW, SIZE), reference_maps(grasps, RAW, SIZE))
    monkeypatch.setattr(codec, "GRASP_CHUNK", 3)  # chunk boundaries must not change ties
    for path in files[:4]:
        grasps = parse_grasps(path)
        assert np.array_equal(grasp_maps(grasps, RAW, SIZE), reference_maps(grasps, RAW, SIZE))


def test_maps_turn_with_the_image(raw: Path) -> None:
    grasps = parse_grasps(sorted(raw.rglob("*_grasps.txt"))[0])
    maps = grasp_maps(grasps, RAW, SIZE)
    assert maps[0, ..., 5].max() == 1.0
    for turns in range(4):
        assert np.array_equal(maps[turns, ..., 5], np.rot90(maps[0, ..., 5], turns))
        assert np.array_equal(maps[turns, ..., 3], np.rot90(maps[0, ..., 3], turns))


def test_rotation_keeps_angles_in_range() -> None:
    grasps = np.array([[10.0, 20.0, -30.0, 8.0, 4.0], [10.0, 20.0, 45.0, 8.0, 4.0]])
    assert rotate_grasps(grasps, 1, 100)[:, :3].tolist() == [
        [20.0, 90.0, 60.0],
        [20.0, 90.0, -45.0],
    ]
    assert rotate_grasps(grasps, 2, 100)[:, :3].tolist() == [
        [90.0, 80.0, -30.0],
        [90.0, 80.0, 45.0],
    ]


def test_angles_outside_half_turn_are_wrapped() -> None:
    grasps = np.array([[10.0, 20.0, angle, 8.0, 4.0] for angle in (135.0, -100.0, 90.0)])
    assert scale_grasps(grasps, 100, 100)[:, 2].tolist() == [-45.0, 80.0, 90.0]


def test_map_without_covering_grasps_is_zero_not_nan() -> None:
    outside = np.array([[500.0, 500.0, 0.0, 10.0, 4.0]])
    for grasps in (np.empty((0, 5)), outside):
        grasp_map_ = grasp_map(grasps, 16)
        assert np.isfinite(grasp_map_).all() and not grasp_map_.any()


def test_coordinates_scale_from_raw_size() -> None:
    raw = np.array([[224.0, 112.0, 0.0, 40.0, 20.0], [300.0, 300.0, 30.0, 60.0, 16.0]])
    maps = grasp_maps(raw, 448, 224)
    assert np.array_equal(maps, grasp_maps(raw / [2, 2, 1, 2, 2], 224, 224))
    first = maps[0, :100, :150, 5] > 0  # the first grasp alone: 20 x 10 px around (112, 56)
    rows, cols = np.nonzero(first)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (51, 60, 102, 121)
    assert maps_to_rectangles(maps[0], 0.0)[0] == (112.0, 56.0, 0.0, 20.0, 10.0)


def test_maps_to_rectangles_on_constructed_map() -> None:
    map6 = np.zeros((32, 32, 6), np.float32)
    for i, j in [(10, 20), (11, 20), (10, 21)]:  # one grasp centred at (22.0, 8.25)
        map6[i, j] = [22.0 - (j + 0.5), 8.25 - (i + 0.5), 0.75, 12.0, 6.0, 1.0]
    map6[3, 3] = [1.0, 1.0, 0.5, 4.0, 2.0, 0.25]  # weakly covered: (4.5, 4.5), angle 0
    assert maps_to_rectangles(map6, 0.5) == [(22.0, 8.25, 45.0, 12.0, 6.0)]
    assert maps_to_rectangles(map6, 0.0) == [
        (4.5, 4.5, 0.0, 4.0, 2.0),
        (22.0, 8.25, 45.0, 12.0, 6.0),
    ]


def test_maps_to_rectangles_recovers_grasps() -> None:
    grasps = np.array([[40.0, 30.0, 20.0, 18.0, 8.0], [90.5, 100.25, -70.0, 24.0, 10.0]])
    rectangles = maps_to_rectangles(grasp_maps(grasps, 128, 128)[0], 0.0)
    assert np.allclose(rectangles, grasps, atol=1e-4)


def test_parse_grasps_keeps_last_digit_and_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("1;2;3;4;5\n\n10.5;20;-30;40;50")  # no final newline
    assert parse_grasps(path).tolist() == [[1, 2, 3, 4, 5], [10.5, 20, -30, 40, 50]]


# ---------------------------------------------------------------- conversion and reader


def test_store_contents(raw: Path, store: Path) -> None:
    manifest = pd.read_parquet(store / "manifest.parquet")
    assert len(manifest) == 5 * 3 * 2
    assert manifest["split"].value_counts().to_dict() == {"train": 20, "test": 10}
    assert manifest["index"].tolist() == list(range(30))
    assert (manifest["label"] == manifest["class"].map(jq.DEFAULT_CLASSES.index)).all()
    assert pd.read_csv(store / "skipped.csv").empty
    row = manifest.iloc[7]
    for key in SUFFIXES:
        assert row[f"{key}_sha256"] == sha256_file(raw / row[key])
    maps = np.load(store / "maps.npy", mmap_mode="r")
    assert maps.shape == (30, 4, SIZE, SIZE, 6) and maps.dtype == np.float32
    expected = grasp_maps(parse_grasps(raw / row["grasps"]), RAW, SIZE)
    assert np.array_equal(maps[7], expected)
    assert np.load(store / "rgb.npy", mmap_mode="r").shape == (30, SIZE, SIZE, 3)
    mask = np.load(store / "mask.npy")
    assert set(np.unique(mask)) == {0, 1}


def test_reader_returns_samples_and_pickles_cheaply(store: Path) -> None:
    test = PackedJacquard(store, "test")
    assert len(test) == 10 and test.classes[4] == "pen+pencil"
    sample = test[3]
    assert sample["rgb"].shape == (SIZE, SIZE, 3) and sample["rgb"].dtype == np.uint8
    assert sample["depth"].shape == (SIZE, SIZE) and sample["depth"].dtype == np.float32
    assert sample["mask"].shape == (SIZE, SIZE) and sample["maps"].shape == (4, SIZE, SIZE, 6)
    assert sample["label"] == test.labels[3]
    blob = pickle.dumps(test)
    assert len(blob) < 50_000
    assert np.array_equal(pickle.loads(blob)[3]["maps"], sample["maps"])


def test_workers_match_serial(raw: Path, store: Path, tmp_path: Path) -> None:
    prepare(raw, tmp_path, size=SIZE, workers=2)
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "manifest.parquet"), pd.read_parquet(store / "manifest.parquet")
    )
    for key in jq.ARRAYS:
        assert np.array_equal(np.load(tmp_path / f"{key}.npy"), np.load(store / f"{key}.npy"))


@pytest.mark.skipif(not Path("/proc/self/maps").is_file(), reason="needs Linux /proc")
def test_store_is_not_kept_mapped_while_converting(raw: Path, tmp_path: Path, monkeypatch) -> None:
    """Samples are written, not mapped: no file of the output folder is mapped while samples
    arrive, so the conversion's memory does not grow with the store (bench/scale.py)."""
    import visionflow.data.jacquard.prepare as module

    out, original, mapped = tmp_path / "out", module.progress, []

    def watched(*args, **kwargs):
        for result in original(*args, **kwargs):
            lines = Path("/proc/self/maps").read_text().splitlines()
            mapped.extend(line for line in lines if str(out) in line)
            yield result

    monkeypatch.setattr(module, "progress", watched)
    prepare(raw, out, size=SIZE)
    assert mapped == []
    assert np.load(out / "maps.npy").shape[1:] == (4, SIZE, SIZE, 6)


def _remove_mask(stem: Path) -> tuple[Path, str]:
    Path(f"{stem}_mask.png").unlink()
    return Path(f"{stem}_mask.png"), "does not exist"


def _garbage_tiff(stem: Path) -> tuple[Path, str]:
    Path(f"{stem}_perfect_depth.tiff").write_bytes(b"this is not a TIFF file")
    return Path(f"{stem}_perfect_depth.tiff"), "unreadable TIFF"


def _small_depth(stem: Path) -> tuple[Path, str]:
    tifffile.imwrite(f"{stem}_perfect_depth.tiff", np.ones((10, 10), np.float32))
    return Path(f"{stem}_perfect_depth.tiff"), "shape (96, 96), found float32 of shape (10, 10)"


def _integer_depth(stem: Path) -> tuple[Path, str]:
    tifffile.imwrite(f"{stem}_perfect_depth.tiff", np.ones((RAW, RAW), np.uint16))
    return Path(f"{stem}_perfect_depth.tiff"), "found uint16"


def _bad_number(stem: Path) -> tuple[Path, str]:
    path = Path(f"{stem}_grasps.txt")
    lines = path.read_text().splitlines()
    lines[2] = "10;20;abc;5;5"
    path.write_text("\n".join(lines) + "\n")
    return path, "line 3: expected 'x;y;theta;opening;jaw_size' numbers, found '10;20;abc;5;5'"


def _short_line(stem: Path) -> tuple[Path, str]:
    path = Path(f"{stem}_grasps.txt")
    path.write_text(path.read_text() + "10;20;30;5\n")
    return path, f"line {len(path.read_text().splitlines())}: expected"


def _outside(stem: Path) -> tuple[Path, str]:
    path = Path(f"{stem}_grasps.txt")
    lines = path.read_text().splitlines()
    lines[1] = f"{RAW + 3};20;0;5;5"
    path.write_text("\n".join(lines) + "\n")
    return path, f"line 2: grasp centre ({RAW + 3}, 20) outside the 96x96 image"


def _empty(stem: Path) -> tuple[Path, str]:
    Path(f"{stem}_grasps.txt").write_text("\n")
    return Path(f"{stem}_grasps.txt"), "no grasp lines"


DAMAGES = [_remove_mask, _garbage_tiff, _small_depth, _integer_depth, _bad_number, _short_line,
           _outside, _empty]  # fmt: skip


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda f: f.__name__.strip("_"))
def test_bad_input_names_the_file(small: Path, tmp_path: Path, damage) -> None:
    path, problem = damage(_stem(small))
    out = tmp_path / "out"
    with pytest.raises(BadInputError) as caught:
        prepare(small, out, classes=("Chair",), size=32)
    assert caught.value.path == str(path)
    assert problem in caught.value.problem
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("damage", DAMAGES[:2] + DAMAGES[4:5], ids=["missing", "tiff", "line"])
def test_skip_records_bad_samples(small: Path, tmp_path: Path, damage) -> None:
    path, problem = damage(_stem(small))
    manifest = prepare(small, tmp_path, classes=("Chair",), size=32, on_bad_sample="skip")
    assert manifest["split"].tolist() == ["test"]
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert skipped["source"].tolist() == [str(path)]
    assert problem in skipped["reason"][0]
    assert np.load(tmp_path / "maps.npy").shape == (1, 4, 32, 32, 6)
    assert len(PackedJacquard(tmp_path, "test")) == 1


def test_missing_class_folder(small: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="missing class folder") as caught:
        prepare(small, tmp_path / "out", classes=("Chair", "Lamp"))
    assert caught.value.path.endswith("train/Lamp")
    shutil.rmtree(small / "test")
    manifest = prepare(small, tmp_path, classes=("Chair", "Lamp"), size=32, on_bad_sample="skip")
    assert len(manifest) == 1
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert skipped["reason"].tolist() == ["missing split folder", "missing class folder"]
    assert skipped["source"].str.endswith("test").iloc[0]


def test_prepare_reads_only_the_configured_splits(small: Path, tmp_path: Path, caplog) -> None:
    for name in ("README", "reference_grasps", ".cache"):
        (small / name / "Chair" / "obj").mkdir(parents=True)  # not Jacquard views
    (small / "README" / "notes.txt").write_text("not a split")
    with caplog.at_level("WARNING"):
        manifest = prepare(small, tmp_path / "both", classes=("Chair",), size=32)
    assert manifest["split"].tolist() == ["train", "test"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.endswith("not one of the splits train, test: .cache, README, reference_grasps")
    only = prepare(small, tmp_path / "one", classes=("Chair",), size=32, splits=("test",))
    assert only["split"].tolist() == ["test"]
    with pytest.raises(BadInputError, match="missing split folder") as caught:
        prepare(small, tmp_path / "val", classes=("Chair",), splits=("train", "val"))
    assert caught.value.path == str(small / "val")


def test_depth_and_mask_are_resized_bicubic_as_pillow_default(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "raw" / "train" / "Chair" / "obj1"
    folder.mkdir(parents=True)
    stem = folder / "0_obj1"
    depth = rng.uniform(0.5, 1.5, (40, 40)).astype(np.float32)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:27, 13:30] = 255
    Image.fromarray(np.full((40, 40, 3), 90, np.uint8)).save(f"{stem}_RGB.png")
    Image.fromarray(mask).save(f"{stem}_mask.png")
    tifffile.imwrite(f"{stem}_perfect_depth.tiff", depth)
    Path(f"{stem}_grasps.txt").write_text("20;20;0;10;5\n")
    prepare(tmp_path / "raw", tmp_path / "out", classes=("Chair",), size=24, splits=("train",))
    sample = PackedJacquard(tmp_path / "out", "train")[0]
    bicubic = Image.fromarray(depth).resize((24, 24), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(sample["depth"], np.asarray(bicubic))
    grey = np.asarray(Image.fromarray(mask).resize((24, 24), Image.Resampling.BICUBIC))
    np.testing.assert_array_equal(sample["mask"], grey > 0)
    nearest = np.asarray(Image.fromarray(mask).resize((24, 24), Image.Resampling.NEAREST)) > 0
    assert sample["mask"].sum() > nearest.sum()  # the blurred edge counts as object


def test_raw_size_other_than_stored(tmp_path: Path) -> None:
    folder = tmp_path / "raw" / "train" / "Chair" / "obj1"
    folder.mkdir(parents=True)
    stem = folder / "0_obj1"
    Image.fromarray(np.full((448, 448, 3), 90, np.uint8)).save(f"{stem}_RGB.png")
    Image.fromarray(np.full((448, 448), 255, np.uint8)).save(f"{stem}_mask.png")
    tifffile.imwrite(f"{stem}_perfect_depth.tiff", np.ones((448, 448), np.float32))
    Path(f"{stem}_grasps.txt").write_text("224;112;0;40;20\n")
    prepare(tmp_path / "raw", tmp_path / "out", classes=("Chair",), size=112, splits=("train",))
    maps = PackedJacquard(tmp_path / "out", "train")[0]["maps"]
    assert maps_to_rectangles(maps[0], 0.0) == [(56.0, 28.0, 0.0, 10.0, 5.0)]
    assert maps_to_rectangles(maps[1], 0.0) == [(28.0, 56.0, 90.0, 10.0, 5.0)]


def test_reader_reports_missing_store(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="does not exist"):
        PackedJacquard(tmp_path, "train")


def test_show_draws_an_object_found_by_id_prefix(store: Path, tmp_path: Path, capsys) -> None:
    from visionflow.cli import main

    manifest = pd.read_parquet(store / "manifest.parquet")
    row = manifest[manifest["split"] == "test"].iloc[3]
    split, index = locate_view(store, row["object_id"][:8], int(row["view"]))
    assert (split, index) == ("test", 3)
    out = tmp_path / "show.png"
    argv = ["jacquard", "show", row["object_id"][:8], "--data", str(store), "--out", str(out)]
    assert main([*argv, "--rotation", "1"]) == 0
    assert plt.imread(out).std() > 0
    assert main(["jacquard", "show", "zz", "--data", str(store), "--out", str(out)]) == 2
    assert "no object with an id starting 'zz'" in capsys.readouterr().err
