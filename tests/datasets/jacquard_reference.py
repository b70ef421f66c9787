"""Per-pixel Python-loop reference of the Jacquard grasp maps (slow; for tests and bench).

Same semantics as `visionflow.data.jacquard.grasp_maps`, written the way the original
preprocessing loops: every pixel visits every grasp.
"""

from __future__ import annotations

import math

import numpy as np


def _scaled(line: list[float], scale: float) -> list[float]:
    """One raw grasp in output pixels, theta wrapped to [-90, 90]."""
    x, y, theta, opening, jaw = line
    if theta < -90 or theta > 90:
        theta = (theta + 90) % 180 - 90
    return [x * scale, y * scale, theta, opening * scale, jaw * scale]


def _rotated(grasp: list[float], turns: int, size: int) -> list[float]:
    """The grasp in the image turned `turns` x 90 degrees counter-clockwise."""
    x, y, theta, opening, jaw = grasp
    c = size / 2
    dx, dy = x - c, y - c
    for _ in range(turns):
        dx, dy = dy, -dx
    if turns % 2:
        theta = theta + 90 if theta <= 0 else theta - 90
    return [c + dx, c + dy, theta, opening, jaw]


def _box(grasp: list[float]) -> tuple[float, float, float, float]:
    """(min_x, max_x, min_y, max_y) of the grasp rectangle's corners."""
    x, y, theta, w, h = grasp
    w, h = w / 2, h / 2
    cos, sin = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    xs = [x - w * cos + h * sin, x + w * cos + h * sin, x + w * cos - h * sin]
    xs.append(x - w * cos - h * sin)
    ys = [y - w * sin - h * cos, y + w * sin - h * cos, y + w * sin + h * cos]
    ys.append(y - w * sin + h * cos)
    return min(xs), max(xs), min(ys), max(ys)


def reference_map(grasps: list[list[float]], size: int) -> np.ndarray:
    """(size, size, 6) map from grasps in output pixels, one pixel at a time."""
    boxes = [_box(g) for g in grasps]
    out = np.zeros((size, size, 6), dtype=np.float32)
    counts = [[0] * size for _ in range(size)]
    for i in range(size):
        for j in range(size):
            px, py = j + 0.5, i + 0.5
            best, label = math.inf, None
            for g, (x0, x1, y0, y1) in zip(grasps, boxes, strict=True):
                if x0 <= px <= x1 and y0 <= py <= y1:
                    counts[i][j] += 1
                    dx, dy = g[0] - px, g[1] - py
                    if abs(dx) + abs(dy) < best:
                        best = abs(dx) + abs(dy)
                        label = [dx, dy, (g[2] + 90) / 180, g[3], g[4]]
            if label is not None:
                out[i, j, :5] = label
    most = max(max(row) for row in counts)
    if most > 0:
        for i in range(size):
            for j in range(size):
                out[i, j, 5] = counts[i][j] / most
    return out


def reference_maps(grasps: np.ndarray, raw_size: int, size: int) -> np.ndarray:
    """(4, size, size, 6) maps of raw-pixel grasp lines for rotations 0/90/180/270."""
    scaled = [_scaled([float(v) for v in line], size / raw_size) for line in grasps]
    return np.stack([reference_map([_rotated(g, t, size) for g in scaled], size) for t in range(4)])
