"""Detectors: Faster R-CNN over the original's ResNet-FPN variants or a light MobileNet,
and the original's RetinaNet over a ResNet-50-FPN."""

from __future__ import annotations

import logging
from pathlib import Path

import torchvision
from torch import nn
from torchvision.models.detection import FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN, resnet_fpn_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from visionflow.io import BadInputError, safe_torch_load
from visionflow.models.catalog import (
    DETECTION_BACKBONES,
    LIGHT_BACKBONE,
    RESNET_BACKBONES,
    RETINANET,
)

log = logging.getLogger(__name__)

# The light detector: MobileNetV3-small stages at strides 8, 16 and 32 into a narrow FPN,
# anchors sized for objects of 16-128 px and a small box head, fast enough for a CPU demo.
LIGHT_STAGES = {"3": "0", "8": "1", "12": "2"}
LIGHT_CHANNELS = [24, 48, 576]
LIGHT_FPN_WIDTH = 64
LIGHT_HEAD_WIDTH = 256
FASTER_RCNN_LOSSES = ("loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg")
RETINANET_LOSSES = ("classification", "bbox_regression")


def loss_names(backbone: str) -> tuple[str, ...]:
    """The losses the detector over `backbone` returns in training mode."""
    return RETINANET_LOSSES if backbone == RETINANET else FASTER_RCNN_LOSSES


def imagenet_state(path: str | Path | None, backbone: str) -> dict | None:
    """The ImageNet classifier weights of `backbone` from a local file, without the classifier."""
    if not path:
        log.warning(
            "no ImageNet weights for %s given: its backbone starts from random init", backbone
        )
        return None
    state = safe_torch_load(path)
    state = state.get("state_dict", state)
    return {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}


def _load(module: nn.Module, state: dict | None, path: str | Path | None) -> None:
    if state is None:
        return
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise BadInputError(path, f"not ImageNet weights of this backbone: {exc}") from None


def _resnet(name: str, weights: str | Path | None, trainable_layers: int) -> nn.Module:
    backbone = resnet_fpn_backbone(
        backbone_name=name, weights=None, trainable_layers=trainable_layers
    )
    _load(backbone.body, imagenet_state(weights, name), weights)
    return backbone


def _retinanet_backbone(weights: str | Path | None, trainable_layers: int) -> nn.Module:
    """ResNet-50-FPN with P6/P7, as torchvision's retinanet_resnet50_fpn builds it; `weights`
    is a state dict of that COCO RetinaNet (its backbone is kept, as the original kept it)
    or of the ImageNet ResNet-50 classifier."""
    backbone = resnet_fpn_backbone(
        backbone_name="resnet50",
        weights=None,
        trainable_layers=trainable_layers,
        returned_layers=[2, 3, 4],
        extra_blocks=LastLevelP6P7(256, 256),
    )
    if not weights:
        imagenet_state(weights, RETINANET)  # warns
        return backbone
    state = safe_torch_load(weights)
    state = state.get("state_dict", state)
    if any(k.startswith("backbone.body.") for k in state):
        parts = {
            k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")
        }
        _load(backbone, parts, weights)
    else:
        _load(backbone.body, imagenet_state(weights, RETINANET), weights)
    return backbone


def _light(weights: str | Path | None) -> nn.Module:
    features = torchvision.models.mobilenet_v3_small().features
    state = imagenet_state(weights, LIGHT_BACKBONE)
    if state is not None:
        _load(features, {k.removeprefix("features."): v for k, v in state.items()}, weights)
    return BackboneWithFPN(features, LIGHT_STAGES, LIGHT_CHANNELS, LIGHT_FPN_WIDTH)


def build_detector(
    backbone: str,
    num_classes: int,
    image_size: int,
    weights: str | Path | None = None,
    trainable_layers: int = 5,
    max_size: int | None = None,
) -> FasterRCNN | RetinaNet:
    """The detector over `backbone` for `num_classes` labels plus background (label 0).

    Images are resized to `image_size` on the short side unless the long side would exceed
    `max_size` (torchvision's min_size / max_size; `image_size` when None); `weights` is a
    local file of the backbone's ImageNet classifier (random init with a warning when None).
    """
    if backbone not in DETECTION_BACKBONES:
        raise ValueError(
            f"unknown backbone {backbone!r}; choose from {', '.join(DETECTION_BACKBONES)}"
        )
    sizes = {"min_size": image_size, "max_size": max_size or image_size}
    if backbone == RETINANET:
        return RetinaNet(_retinanet_backbone(weights, trainable_layers), num_classes + 1, **sizes)
    if backbone in RESNET_BACKBONES:
        return FasterRCNN(_resnet(backbone, weights, trainable_layers), num_classes + 1, **sizes)
    anchors = AnchorGenerator(((16,), (32,), (64,), (128,)), ((0.5, 1.0, 2.0),) * 4)
    return FasterRCNN(
        _light(weights),
        rpn_anchor_generator=anchors,
        box_head=TwoMLPHead(LIGHT_FPN_WIDTH * 7 * 7, LIGHT_HEAD_WIDTH),
        box_predictor=FastRCNNPredictor(LIGHT_HEAD_WIDTH, num_classes + 1),
        rpn_batch_size_per_image=128,
        box_batch_size_per_image=128,
        **sizes,
    )
