"""NeuroVis map loss and grasp/class accuracy as pure functions of tensors and arrays.

Maps are (6, H, W) (or (B, 6, H, W) batches) in the network's normalised encoding
(`data.jacquard.grasp_maps`). For classification, channels 0-4 hold +1 for the class and -1
otherwise, channel 5 the confidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from visionflow.data.jacquard.grasp_maps import decode_best_grasp, rectangle_corners

EPS = 1e-5
IOU_THRESHOLD = 0.25
ANGLE_THRESHOLD = 30.0


def double_log_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean confidence BCE plus twice the mean log-L1 of channels 0-4 where target conf != 0.

    With p, t the confidences, o, g the other channels, e = 1e-5, m = [t != 0] and
    means over every pixel (and every channel):
      L = mean(-(t log(p + e) + (1 - t) log(1 - p + e)))
          + 2 mean(m * l(o, g)),  l = -log(1 + (o - g) / (1 + g + e)) if o < g
                                      else -log(1 + (g - o) / (1 - g + e)).
    """
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 6:
        raise ValueError(
            f"expected pred and target (B, 6, H, W), got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    p, t = pred[:, 5], target[:, 5]
    confidence = -(torch.log(p + EPS) * t + torch.log(1 - p + EPS) * (1 - t))
    o, g = pred[:, :5], target[:, :5]
    left = -torch.log(1 + (o - g) / (1 + g + EPS))
    right = -torch.log(1 + (g - o) / (1 - g + EPS))
    params = torch.where(o < g, left, right) * (t != 0).unsqueeze(1)
    return confidence.mean() + 2 * params.mean()


def _area(poly: np.ndarray) -> float:
    """Signed shoelace area; positive for counter-clockwise in x-right, y-up axes."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _clip(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of convex `subject` inside convex counter-clockwise `clip`."""
    out = subject
    for a, b in zip(clip, np.roll(clip, -1, axis=0), strict=True):
        if len(out) == 0:
            break
        edge = b - a
        side = edge[0] * (out[:, 1] - a[1]) - edge[1] * (out[:, 0] - a[0])  # >= 0 is inside
        points = []
        for i in range(len(out)):
            j = (i + 1) % len(out)
            if side[i] >= 0:
                points.append(out[i])
            if (side[i] >= 0) != (side[j] >= 0):
                points.append(out[i] + (out[j] - out[i]) * side[i] / (side[i] - side[j]))
        out = np.array(points).reshape(-1, 2)
    return out


def rectangle_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex polygons given as (N, 2) corners in order.

    Degenerate (zero-area) polygons give 0.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    area_a, area_b = _area(a), _area(b)
    if area_a == 0 or area_b == 0:
        return 0.0
    a, b = (a if area_a > 0 else a[::-1]), (b if area_b > 0 else b[::-1])
    inter = abs(_area(_clip(a, b)))
    union = abs(area_a) + abs(area_b) - inter
    return inter / union if union > 0 else 0.0


def angle_difference(a_deg: float, b_deg: float) -> float:
    """Difference of two grasp angles modulo 180 degrees, in [0, 90]."""
    d = abs(a_deg - b_deg) % 180.0
    return min(d, 180.0 - d)


def grasp_correct(pred_map: Tensor | np.ndarray, gt_rectangles: Tensor | np.ndarray) -> bool:
    """Whether the best-confidence grasp matches a ground truth: IoU > 0.25 and angle < 30 deg."""
    cx, cy, angle, w, h = decode_best_grasp(pred_map)
    pred = rectangle_corners(cx, cy, angle, w, h)
    for g in np.asarray(torch.as_tensor(gt_rectangles).cpu(), dtype=float).reshape(-1, 5):
        close = angle_difference(angle, g[2]) < ANGLE_THRESHOLD
        if close and rectangle_iou(pred, rectangle_corners(*g)) > IOU_THRESHOLD:
            return True
    return False


def class_predictions(pred_maps: Tensor) -> Tensor:
    """Per map of a (B, 6, H, W) batch, the class (channel 0-4) with the largest
    confidence-weighted sum over the map."""
    m = torch.as_tensor(pred_maps).detach()
    return (m[:, :5] * m[:, 5:6]).sum(dim=(2, 3)).argmax(dim=1)


def class_from_maps(pred_map: Tensor) -> int:
    """`class_predictions` of a single (6, H, W) map."""
    return int(class_predictions(torch.as_tensor(pred_map)[None])[0])


def _check_counts(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"need equal non-zero sample counts, got {len(a)} and {len(b)}")


def grasp_accuracy(pred_maps: Tensor, gt_rectangles: Sequence[Tensor | np.ndarray]) -> float:
    """Fraction of samples in a (B, 6, H, W) batch whose best grasp is correct."""
    _check_counts(pred_maps, gt_rectangles)
    hits = sum(grasp_correct(m, g) for m, g in zip(pred_maps, gt_rectangles, strict=True))
    return hits / len(pred_maps)


def class_accuracy(pred_maps: Tensor, labels: Tensor) -> float:
    """Fraction of samples in a (B, 6, H, W) batch whose map-decoded class equals the label."""
    _check_counts(pred_maps, labels)
    pred = class_predictions(pred_maps).cpu()
    return float((pred == torch.as_tensor(labels).reshape(-1).cpu()).float().mean())
