"""NeuroVis double-log loss, rotated-rectangle IoU, grasp and class decoding."""

import math

import numpy as np
import pytest
import torch

from visionflow.data.jacquard.grasp_maps import grasp_map, rotate_grasps
from visionflow.experiments.grasp.data import grasp_target
from visionflow.metrics.grasp import (
    angle_difference,
    class_accuracy,
    class_from_maps,
    decode_best_grasp,
    double_log_loss,
    grasp_accuracy,
    grasp_correct,
    rectangle_corners,
    rectangle_iou,
)

SIZE = 224


def test_double_log_loss_matches_hand_computation():
    pred = torch.zeros(1, 6, 1, 2)
    target = torch.zeros(1, 6, 1, 2)
    # Pixel 0 is a grasp pixel (target confidence 1), pixel 1 background (confidence 0).
    target[0, :, 0, 0] = torch.tensor([0.5, -0.5, 0.0, 0.2, 0.0, 1.0])
    pred[0, :, 0, 0] = torch.tensor([0.0, 0.0, 0.0, 0.2, 0.6, 0.5])
    pred[0, :, 0, 1] = torch.tensor([0.9, 0.9, 0.9, 0.9, 0.9, 0.2])  # masked parameters
    # confidence: (-log(0.5 + 1e-5) - log(1 - 0.2 + 1e-5)) / 2 = (0.693127 + 0.223131) / 2
    # parameters at pixel 0: o < g: -log(1 - 0.5 / 1.50001) = 0.405461; o > g:
    # -log(1 - 0.5 / 1.50001) = 0.405461; equal: 0, 0; -log(1 - 0.6 / 1.00001) = 0.916276;
    # mean over 5 channels x 2 pixels = 0.172720, counted twice.
    assert double_log_loss(pred, target).item() == pytest.approx(0.458129 + 2 * 0.172720, abs=1e-5)
    assert double_log_loss(pred, target).item() == pytest.approx(0.803569, abs=1e-5)


def test_double_log_loss_is_small_at_target_and_rejects_bad_shapes():
    target = torch.zeros(2, 6, 3, 3)
    target[:, :5] = 0.3
    target[:, 5, 1, 1] = 1.0
    pred = target.clone()
    pred[:, 5] = target[:, 5].clamp(1e-6, 1 - 1e-6)
    assert double_log_loss(pred, target).item() < 1e-4
    pred[:, 0] = -0.3  # parameter error where confidence is 0 is ignored...
    target_bg, pred_bg = target.clone(), pred.clone()
    target_bg[:, 5], pred_bg[:, 5] = 0.0, 1e-6
    assert double_log_loss(pred_bg, target_bg).item() < 1e-4
    assert double_log_loss(pred, target).item() > 0.01  # ...but not under a grasp pixel
    with pytest.raises(ValueError, match="expected pred and target"):
        double_log_loss(torch.zeros(1, 5, 2, 2), torch.zeros(1, 5, 2, 2))


def test_rectangle_corners_axis_aligned():
    corners = rectangle_corners(10, 20, 0, 4, 2)
    np.testing.assert_allclose(corners, [[8, 19], [12, 19], [12, 21], [8, 21]])
    turned = rectangle_corners(10, 20, 90, 4, 2)
    np.testing.assert_allclose(np.sort(turned[:, 0]), [9, 9, 11, 11], atol=1e-12)
    np.testing.assert_allclose(np.sort(turned[:, 1]), [18, 18, 22, 22], atol=1e-12)


def test_iou_identical_disjoint_and_half_offset():
    a = rectangle_corners(1, 1, 0, 2, 2)
    assert rectangle_iou(a, a) == pytest.approx(1.0)
    assert rectangle_iou(a, rectangle_corners(10, 10, 0, 2, 2)) == 0.0
    # [0,2]x[0,2] vs [1,3]x[0,2]: intersection 2, union 6.
    assert rectangle_iou(a, rectangle_corners(2, 1, 0, 2, 2)) == pytest.approx(1 / 3)
    # Corner order (clockwise or not) does not matter.
    assert rectangle_iou(a[::-1], rectangle_corners(2, 1, 0, 2, 2)) == pytest.approx(1 / 3)


def test_iou_rotated_square_is_octagon():
    # A square and itself turned 45 degrees meet in a regular octagon: IoU = 1 / sqrt(2).
    a = rectangle_corners(0, 0, 0, 2, 2)
    b = rectangle_corners(0, 0, 45, 2, 2)
    assert rectangle_iou(a, b) == pytest.approx(1 / math.sqrt(2))
    assert rectangle_iou(a, rectangle_corners(0, 0, 90, 2, 2)) == pytest.approx(1.0)
    assert rectangle_iou(a, rectangle_corners(0, 0, 30, 0, 2)) == 0.0  # degenerate


def test_angle_difference_wraps_at_180():
    assert angle_difference(179, 1) == pytest.approx(2)
    assert angle_difference(-89, 89) == pytest.approx(2)
    assert angle_difference(10, 50) == pytest.approx(40)
    assert angle_difference(0, 90) == pytest.approx(90)


def encode(grasp_map, y, x, rect, confidence=1.0):
    """Write rectangle (cx, cy, angle, w, h) at pixel (y, x) in the documented encoding
    (offsets from the pixel's centre)."""
    cx, cy, angle, w, h = rect
    grasp_map[:, y, x] = torch.tensor(
        [
            (cx - x - 0.5) / SIZE,
            (cy - y - 0.5) / SIZE,
            (angle + 90) / 180,
            w / SIZE,
            2 * h / (SIZE * 100 / 1024) - 1,
            confidence,
        ]
    )


@pytest.fixture
def pred_map():
    grasp_map = torch.zeros(6, SIZE, SIZE)
    encode(grasp_map, 100, 120, (110.0, 105.0, 30.0, 40.0, 20.0), confidence=0.9)
    encode(grasp_map, 10, 10, (10.0, 10.0, -60.0, 8.0, 4.0), confidence=0.5)  # weaker
    return grasp_map


def test_decode_best_grasp_takes_highest_confidence_pixel(pred_map):
    np.testing.assert_allclose(decode_best_grasp(pred_map), (110, 105, 30, 40, 20), atol=1e-4)


def test_encoded_map_decodes_to_its_grasp_at_every_pixel():
    size = 45  # odd: the rotation centre falls on a pixel centre
    grasps = np.array([[15.3, 18.0, 30.0, 12.0, 4.0], [28.0, 24.7, -75.0, 10.0, 3.0],
                       [22.0, 22.0, 90.0, 8.0, 2.5]])  # fmt: skip
    for turns in range(4):
        turned = rotate_grasps(grasps, turns, size)
        pred = grasp_target(grasp_map(turned, size))
        rows, cols = torch.nonzero(pred[5] > 0, as_tuple=True)
        assert len(rows) > 100
        pred[5] = 0
        for y, x in zip(rows.tolist(), cols.tolist(), strict=True):
            pred[5, y, x] = 1  # this pixel is the most confident
            decoded = np.array(decode_best_grasp(pred))
            pred[5, y, x] = 0
            owner = turned[np.abs(turned - decoded).max(axis=1).argmin()]
            np.testing.assert_allclose(decoded, owner, atol=1e-4)
            iou = rectangle_iou(rectangle_corners(*decoded), rectangle_corners(*owner))
            assert iou == pytest.approx(1.0, abs=1e-6), (turns, y, x)


def test_grasp_correct_true_and_false(pred_map):
    assert grasp_correct(pred_map, np.array([[110, 105, 30, 40, 20]]))
    # Angle 35 degrees off fails even with a large overlap.
    assert not grasp_correct(pred_map, np.array([[110, 105, 65, 40, 20]]))
    # Same angle, shifted so the IoU is 0.2 (< 0.25): overlap 10 of a 40-wide box.
    a = math.radians(30)
    shifted = [110 + 30 * math.cos(a), 105 + 30 * math.sin(a), 30, 40, 20]
    pred_rect = rectangle_corners(110, 105, 30, 40, 20)
    assert rectangle_iou(pred_rect, rectangle_corners(*shifted)) == pytest.approx(10 / 70)
    assert not grasp_correct(pred_map, np.array([shifted]))
    # Shifted by 10 instead: IoU 30 / 50 = 0.6 passes; any one candidate is enough.
    near = [110 + 10 * math.cos(a), 105 + 10 * math.sin(a), 30, 40, 20]
    assert grasp_correct(pred_map, torch.tensor([shifted, near]))


def test_grasp_correct_wraps_angles(pred_map):
    grasp_map = torch.zeros(6, SIZE, SIZE)
    encode(grasp_map, 50, 50, (50.0, 50.0, -89.0, 40.0, 20.0))
    assert grasp_correct(grasp_map, np.array([[50, 50, 89, 40, 20]]))
    assert not grasp_correct(grasp_map, np.array([[50, 50, 50, 40, 20]]))


def test_grasp_accuracy_over_batch(pred_map):
    maps = torch.stack([pred_map, pred_map])
    gts = [np.array([[110, 105, 30, 40, 20]]), np.array([[10, 10, 30, 40, 20]])]
    assert grasp_accuracy(maps, gts) == 0.5
    with pytest.raises(ValueError, match="sample counts"):
        grasp_accuracy(maps, gts[:1])


def test_class_from_maps_uses_confidence_weighted_mass():
    m = torch.full((6, 4, 4), -1.0)
    m[5] = 0.0
    # Class 3 covers 8 pixels at confidence 0.1; class 1 one pixel at confidence 0.9.
    m[3, :2, :] = 1.0
    m[5, :2, :] = 0.1
    m[1, 3, 3] = 1.0
    m[5, 3, 3] = 0.9
    # class 1: -0.8 + 0.9 = 0.1; class 3: 0.8 - 0.9 = -0.1; others: -1.7. (Unweighted
    # sums would pick class 3: 8 - 8 = 0 against 1 - 15 = -14.)
    assert class_from_maps(m) == 1
    m[5, :2, :] = 0.3  # class 3: 2.4 - 0.9 = 1.5; class 1: -2.4 + 0.9 = -1.5
    assert class_from_maps(m) == 3
    assert class_accuracy(torch.stack([m, m]), torch.tensor([3, 1])) == 0.5
