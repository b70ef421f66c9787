"""Train/val splits of detection frames: every n-th, a given list, feature space, t-SNE figure."""

import logging

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from PIL import Image

from visionflow.data.cvat.splits import (
    cluster_counts,
    embed_frames,
    every_nth,
    feature_space,
    fixed_list,
    frames,
    make_split,
    write_split,
)
from visionflow.experiments.detection.figures import plot_tsne_split
from visionflow.figures import COLORS
from visionflow.io import BadInputError

BACKGROUND = {("A", 3), ("B", 5)}


def annotation_table(sizes=(("A", 12), ("B", 13)), background=BACKGROUND) -> pd.DataFrame:
    """Frames 0..n-1 of each task; two boxes per frame, one None row per background frame."""
    rows = []
    for task, count in sizes:
        for frame in range(count):
            image = f"{task}/images/{frame:04d}.jpg"
            boxes = [None] if (task, frame) in background else ["weed", "crop"]
            for label in boxes:
                box = [np.nan] * 4 if label is None else [1.0, 2.0, 10.0, 12.0]
                rows.append([task, frame, image, 40, 30, label, *box, "{}"])
    columns = ["task", "frame", "image", "width", "height", "label"]
    return pd.DataFrame(rows, columns=[*columns, "xmin", "ymin", "xmax", "ymax", "attributes"])


def original_every_tenth(table: pd.DataFrame) -> set[tuple[str, int]]:
    """The original rule: frames with boxes, concatenated over tasks, reindexed; index % 10 == 0."""
    labelled = table.dropna(subset=["label"]).drop_duplicates(["task", "frame"])
    entries = labelled[["task", "frame"]].reset_index(drop=True)
    return set(map(tuple, entries[entries.index % 10 == 0].itertuples(index=False)))


def val_set(split: pd.DataFrame) -> set[tuple[str, int]]:
    val = split[split["split"] == "val"]
    return set(zip(val["task"], val["frame"].astype(int), strict=True))


def test_frames_lists_each_frame_once_with_its_box_count():
    table = frames(annotation_table())
    assert len(table) == 25
    assert list(table.columns) == ["task", "frame", "image", "width", "height", "boxes"]
    assert table.loc[(table.task == "A") & (table.frame == 3), "boxes"].item() == 0
    assert table["boxes"].sum() == 2 * 23


def test_every_nth_picks_the_frames_the_original_picks():
    table = annotation_table()
    split = every_nth(frames(table), 10)
    # Counting runs across tasks and skips background frames: not A10, B0 as per task would.
    assert val_set(split) == {("A", 0), ("A", 11), ("B", 10)} == original_every_tenth(table)
    assert len(split) == 25 and set(split["cluster"]) == {-1}
    assert split.loc[(split.task == "B") & (split.frame == 5), "split"].item() == "train"


def write_list(path, text):
    path.write_text("task,frame\n" + text)
    return path


def test_fixed_list_takes_single_frames_and_whole_tasks(tmp_path):
    path = write_list(tmp_path / "val.csv", "A,3\nB,\nA,7\n")
    split = fixed_list(frames(annotation_table()), path)
    assert val_set(split) == {("A", 3), ("A", 7)} | {("B", f) for f in range(13)}
    assert (split["split"] == "train").sum() == 10


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("A,1\nC,2\n", "line 3: task 'C' is not in the annotations"),
        ("A,1\nB,40\n", "line 3: task 'B' has no frame 40"),
        ("A,x\n", "line 2: task 'A': frame 'x' is not an integer"),
    ],
)
def test_fixed_list_errors_name_the_file_and_line(tmp_path, text, problem):
    path = write_list(tmp_path / "val.csv", text)
    with pytest.raises(BadInputError, match="val.csv") as error:
        fixed_list(frames(annotation_table()), path)
    assert error.value.problem == problem


def test_fixed_list_needs_its_columns(tmp_path):
    path = tmp_path / "val.csv"
    path.write_text("name\nA\n")
    with pytest.raises(BadInputError, match="missing \\['frame', 'task'\\]"):
        fixed_list(frames(annotation_table()), path)


def blobs(seed=0):
    """Embeddings of 100 frames in three well-separated Gaussian blobs of 20, 30 and 50."""
    rng = np.random.default_rng(seed)
    sizes = (20, 30, 50)
    centres = rng.normal(size=(3, 16)) * 30
    points = np.concatenate(
        [c + rng.normal(size=(n, 16)) for c, n in zip(centres, sizes, strict=True)]
    )
    truth = np.repeat(np.arange(3), sizes)
    table = pd.DataFrame({"task": "T", "frame": np.arange(100), "image": "x.jpg"})
    return table, points, truth


def test_feature_space_recovers_blobs_and_stratifies_each(tmp_path):
    table, points, truth = blobs()
    split = feature_space(table, points, clusters=3, val_fraction=0.2, seed=0)
    contingency = pd.crosstab(truth, split["cluster"]).to_numpy()
    assert ((contingency > 0).sum(axis=0) == 1).all() and ((contingency > 0).sum(axis=1) == 1).all()
    counts = cluster_counts(split)
    assert list(counts.columns) == ["cluster", "train", "val", "val_fraction"]
    sizes = counts["train"] + counts["val"]
    assert sorted(sizes) == [20, 30, 50]
    assert (np.abs(counts["val"] - 0.2 * sizes) <= 1).all()
    again = feature_space(table, points, clusters=3, val_fraction=0.2, seed=0)
    pd.testing.assert_frame_equal(split, again)
    other = feature_space(table, points, clusters=3, val_fraction=0.2, seed=1)
    assert val_set(other) != val_set(split)
    write_split(tmp_path, split)
    written = pd.read_csv(tmp_path / "clusters.csv")
    assert written["val"].sum() == (split["split"] == "val").sum() == 20
    assert list(pd.read_csv(tmp_path / "split.csv").columns) == [
        "task", "frame", "split", "cluster", "tsne_x", "tsne_y",
    ]  # fmt: skip


def test_feature_space_keeps_both_sets_in_small_clusters():
    table, points, _ = blobs()
    split = feature_space(table.iloc[:24], points[:24], clusters=2, val_fraction=0.01, seed=0)
    counts = cluster_counts(split)
    assert (counts["val"] >= 1).all() and (counts["train"] >= 1).all()


def write_images(root, table):
    rng = np.random.default_rng(0)
    for image in table["image"].unique():
        (root / image).parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(30, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / image, quality=90)


@pytest.fixture
def tiny_frames(tmp_path):
    table = annotation_table(sizes=(("A", 4), ("B", 3)), background={("B", 1)})
    write_images(tmp_path, table)
    return tmp_path, table


def test_embed_frames_is_deterministic_and_warns_once_without_weights(tiny_frames, caplog):
    root, table = tiny_frames
    with caplog.at_level(logging.WARNING, logger="visionflow.models.embedding"):
        first = embed_frames(frames(table), root, size=32, batch_size=3)
    warnings = [r for r in caplog.records if r.name == "visionflow.models.embedding"]
    assert len(warnings) == 1 and "random" in warnings[0].getMessage()
    assert first.shape == (7, 512) and np.isfinite(first).all()
    assert np.array_equal(first, embed_frames(frames(table), root, size=32, batch_size=3))
    # Another batch size only changes the float summation order.
    assert np.allclose(first, embed_frames(frames(table), root, size=32), rtol=1e-4, atol=1e-5)
    assert first.std(axis=0).max() > 0  # frames differ


def test_embed_frames_loads_given_weights(tiny_frames, tmp_path_factory, caplog):
    root, table = tiny_frames
    torch.manual_seed(5)
    weights = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    with caplog.at_level(logging.WARNING):
        loaded = embed_frames(frames(table), root, weights=weights, size=32)
    assert not caplog.records
    assert not np.allclose(loaded, embed_frames(frames(table), root, size=32))
    torch.save({"conv1.weight": torch.zeros(1)}, weights)
    with pytest.raises(BadInputError, match="resnet18.pth"):
        embed_frames(frames(table), root, weights=weights, size=32)


def test_embed_frames_names_a_missing_image(tiny_frames):
    root, table = tiny_frames
    (root / "A/images/0002.jpg").unlink()
    with pytest.raises(BadInputError, match="0002.jpg: task 'A' frame 2"):
        embed_frames(frames(table), root, size=32)


def test_make_split_dispatches_and_rejects_unknown_methods(tiny_frames, tmp_path_factory):
    root, table = tiny_frames
    split = make_split(table, "every_nth", root, {"n": 3})
    assert val_set(split) == {("A", 0), ("A", 3)}  # B0 is position 4, B2 position 5
    options = {"clusters": 2, "val_fraction": 0.3, "seed": 0, "size": 32}
    spaced = make_split(table, "feature_space", root, options)  # perplexity 30 clipped to 6
    assert set(spaced["cluster"]) == {0, 1} and {"tsne_x", "tsne_y"} <= set(spaced.columns)
    out = tmp_path_factory.mktemp("split")
    write_split(out, split)
    assert sorted(p.name for p in out.iterdir()) == ["clusters.csv", "split.csv"]
    counts = pd.read_csv(out / "clusters.csv")  # not clustered: one row, cluster -1
    assert counts["cluster"].tolist() == [-1] and counts[["train", "val"]].sum().sum() == len(split)
    with pytest.raises(ValueError, match="unknown split method 'random'"):
        make_split(table, "random", root, {})


def test_tsne_plot_writes_a_png(tmp_path):
    table, points, _ = blobs()
    split = feature_space(table, points, clusters=3, val_fraction=0.2, seed=0)
    plot_tsne_split(split, tmp_path / "tsne.png", "t-SNE split")
    image = mpimg.imread(tmp_path / "tsne.png")[..., :3]
    assert image.shape[0] > 400 and image.shape[1] > 600
    for colour in COLORS[:3]:
        rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
        assert (np.abs(image - rgb).max(axis=-1) < 0.08).sum() > 50
