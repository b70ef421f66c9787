"""Faster R-CNN variants, the detection dataset, a short training run and its predictions."""

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from helpers import assert_one_file_per_checkpoint

from visionflow.data.cvat.splits import every_nth, frames, write_split
from visionflow.data.cvat.table import prepare
from visionflow.demo.cvat import generate
from visionflow.experiments.detection import evaluation
from visionflow.experiments.detection.frames import DetectionFrames, split_frames
from visionflow.experiments.detection.training import train
from visionflow.io import BadInputError
from visionflow.models.catalog import DETECTION_BACKBONES
from visionflow.models.detection import FASTER_RCNN_LOSSES as LOSSES
from visionflow.models.detection import build_detector, loss_names

LABELS = ["circle", "square", "triangle"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A tiny demo export, its prepared store with an every-3rd-frame split, and the two
    tables: (raw root, store, table, split)."""
    root = tmp_path_factory.mktemp("cvat") / "raw"
    generate(root, tasks=2, frames_per_task=12, size=64, seed=0)
    store = root.parent / "prepared"
    table = prepare(root, store / "annotations", [], LABELS)
    split = every_nth(frames(table), 3)
    write_split(store / "split", split)
    return root, store, table, split


def test_every_seed_backbone_builds_and_unknown_ones_are_refused():
    assert DETECTION_BACKBONES[:5] == ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
    assert DETECTION_BACKBONES[-1] == "retinanet_resnet50"
    model = build_detector("mobilenet_v3_small", num_classes=3, image_size=64).eval()
    with torch.no_grad():
        [out] = model([torch.rand(3, 64, 64)])
    assert set(out) == {"boxes", "labels", "scores"}
    assert model.roi_heads.box_predictor.cls_score.out_features == 4  # + background
    with pytest.raises(ValueError, match="unknown backbone 'vgg16'"):
        build_detector("vgg16", 3, 64)


def test_frames_resize_as_torchvision_and_the_original_and_normalise_once(demo):
    """Short side to image_size unless the long side passes max_size (800 / 1333: a
    1920 x 1080 frame becomes 1333 x 749, torchvision floors); frames come in [0, 1] and
    only the model normalises them, with ImageNet statistics."""
    model = build_detector("mobilenet_v3_small", 3, 800, max_size=1333).eval()
    batch, _ = model.transform([torch.rand(3, 1080, 1920)])
    assert batch.image_sizes == [(749, 1333)]
    assert model.transform.image_mean == [0.485, 0.456, 0.406]
    assert model.transform.image_std == [0.229, 0.224, 0.225]
    square = build_detector("mobilenet_v3_small", 3, 64)  # max_size None: the short side
    assert square.transform.max_size == 64
    root, _, table, _ = demo
    image, _ = DetectionFrames(table, root, LABELS)[0]
    assert float(image.min()) >= 0 and float(image.max()) <= 1 and float(image.max()) > 0.5


@pytest.mark.slow
def test_retinanet_keeps_the_coco_backbone_and_gets_a_fresh_head(tmp_path):
    """As the original's get_retina_model_with_args: a COCO RetinaNet's ResNet-50-FPN
    backbone under a new head for the labels plus background."""
    coco = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None)
    torch.save(coco.state_dict(), tmp_path / "retinanet_coco.pth")
    model = build_detector("retinanet_resnet50", 3, 64, tmp_path / "retinanet_coco.pth")
    coco_state, state = coco.backbone.state_dict(), model.backbone.state_dict()
    assert set(coco_state) - set(state) == {k for k in coco_state if "num_batches" in k}
    assert all(torch.equal(coco_state[k], state[k]) for k in state)
    assert model.head.classification_head.num_classes == 4
    model.train()
    target = {"boxes": torch.tensor([[5.0, 5.0, 30.0, 30.0]]), "labels": torch.tensor([1])}
    losses = model([torch.rand(3, 64, 64)], [target])
    assert set(losses) == set(loss_names("retinanet_resnet50")) == {"classification",
                                                                    "bbox_regression"}  # fmt: skip
    torch.save(torchvision.models.resnet50().state_dict(), tmp_path / "resnet50.pth")
    imagenet = build_detector("retinanet_resnet50", 3, 64, tmp_path / "resnet50.pth")
    assert imagenet.backbone.body.conv1.weight.shape == (64, 3, 7, 7)


def test_imagenet_weights_load_from_a_local_file(tmp_path, caplog):
    resnet = torchvision.models.resnet18()
    torch.save(resnet.state_dict(), tmp_path / "resnet18.pth")
    model = build_detector("resnet18", 3, 64, tmp_path / "resnet18.pth")
    assert torch.equal(model.backbone.body.conv1.weight, resnet.conv1.weight)
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "resnet34.pth")
    with pytest.raises(BadInputError, match="not ImageNet weights of this backbone"):
        build_detector("resnet18", 3, 64, tmp_path / "resnet34.pth")
    with caplog.at_level(logging.WARNING):
        build_detector("resnet18", 3, 64)
    assert "starts from random init" in caplog.text


def test_frames_flip_with_their_boxes_the_same_way_every_time(demo):
    root, _, table, _ = demo
    flipped = DetectionFrames(table, root, LABELS, augment_seed=0)
    plain = DetectionFrames(table, root, LABELS)
    assert len(plain) == table[["task", "frame"]].drop_duplicates().shape[0]
    flips = 0
    for index in range(len(plain)):
        image, target = plain[index]
        other, moved = flipped[(index, 3)]
        assert torch.equal(other, flipped[(index, 3)][0])  # seeded by (epoch, index)
        if not torch.equal(image, other):
            flips += 1
            assert torch.equal(other, image.flip(-1))
            width = image.shape[-1]
            assert torch.allclose(moved["boxes"][:, [2, 0]], width - target["boxes"][:, [0, 2]])
        assert (target["labels"] >= 1).all() and target["boxes"].shape[1] == 4
    assert 0 < flips < len(plain)


def test_photometric_distortion_is_seeded_by_seed_epoch_and_frame(demo):
    """The original's RandomPhotometricDistort after the flip, the same on a resumed run."""
    root, _, table, _ = demo
    flipped = DetectionFrames(table, root, LABELS, augment_seed=0)
    distorted = DetectionFrames(table, root, LABELS, augment_seed=0, photometric=True)
    changed = 0
    for index in range(8):
        image = distorted[(index, 2)][0]
        assert torch.equal(image, distorted[(index, 2)][0])
        assert torch.equal(distorted[(index, 2)][1]["boxes"], flipped[(index, 2)][1]["boxes"])
        assert float(image.min()) >= 0 and float(image.max()) <= 1
        changed += not torch.allclose(image, flipped[(index, 2)][0])
    assert changed >= 6  # nothing changes with probability 1/64 (six draws of 1/2)
    assert not torch.equal(distorted[(0, 2)][0], distorted[(0, 3)][0])


def test_short_run_writes_metrics_checkpoint_and_predictions(demo, tmp_path):
    root, store, table, split = demo
    settings = {"variant": "light", "backbone": "mobilenet_v3_small", "image_size": 64,
                "trainable_layers": 5, "batch_size": 4, "val_batch_size": 4, "epochs": 2,
                "max_plateau_count": 1, "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
                "step_size": 5, "gamma": 0.5, "seed": 0, "workers": 0,
                "weights": None}  # fmt: skip
    best = train(store, tmp_path / "run", settings, root)
    metrics = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert list(metrics.columns[2:7]) == ["loss", *LOSSES]
    assert np.allclose(metrics[list(LOSSES)].sum(axis=1), metrics["loss"], rtol=1e-4)
    assert best.name == "best.ckpt" and (tmp_path / "run" / "logs" / "tensorboard").is_dir()
    assert_one_file_per_checkpoint(tmp_path / "run")

    val = split_frames(table, split, "val")
    predictions = evaluation.predict(best, store, root, batch_size=4)
    assert list(predictions.columns) == ["task", "frame", "label", "score", "xmin", "ymin",
                                         "xmax", "ymax"]  # fmt: skip
    assert predictions["label"].isin(LABELS).all() and predictions["score"].between(0, 1).all()
    assert set(zip(predictions["task"], predictions["frame"], strict=True)) <= set(
        zip(val["task"], val["frame"], strict=True)
    )

    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(BadInputError, match="not a visionflow detection checkpoint"):
        evaluation.load(tmp_path / "other.ckpt")


def test_a_split_without_validation_frames_is_refused(demo, tmp_path):
    root, store, _, split = demo
    settings = {"variant": "light", "backbone": "mobilenet_v3_small", "image_size": 64,
                "trainable_layers": 5, "batch_size": 4, "epochs": 1, "lr": 0.01,
                "momentum": 0.9, "weight_decay": 0, "step_size": 5, "gamma": 0.5, "seed": 0,
                "workers": 0}  # fmt: skip
    with pytest.raises(BadInputError, match="0 val frames"):
        only_train = tmp_path / "store"
        shutil.copytree(store / "annotations", only_train / "annotations")
        write_split(only_train / "split", split.assign(split="train"))
        train(only_train, tmp_path / "run", settings, root)
