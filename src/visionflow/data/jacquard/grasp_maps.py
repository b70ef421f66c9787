"""Grasp geometry and the 6-channel grasp-map codec: encoding grasps into maps, decoding them.

Grasps are (x, y, theta_deg, opening, jaw_size) rows in pixels (y down). A map is
(size, size, 6) when stored and (6, H, W) as a network target or prediction. Stored map
channels: dx, dy (grasp centre minus pixel centre, output pixels), angle (theta + 90) / 180,
opening and jaw size (output pixels), coverage (covering grasps / most on the map). The
network's normalised maps divide dx, dy and the opening by the map size and carry the jaw as
2 * h / (H * JAW_SCALE) - 1 (Jacquard's h / 100 at 1024 px, mapped to [-1, 1]). Rectangles
are (cx, cy, angle_deg, w, h), w along the angle (image axes, y down) and h across it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

ROTATIONS = (0, 90, 180, 270)
CHANNELS = 6
GRASP_CHUNK = 64  # grasps compared at once; bounds memory for files with many grasps
JAW_SCALE = 100 / 1024  # jaw-size unit as a fraction of the image side


def scale_grasps(grasps: np.ndarray, raw_size: int, size: int) -> np.ndarray:
    """Raw grasps to output pixels (x, y, opening, jaw scaled alike); theta wrapped to [-90, 90]."""
    scaled = np.array(grasps, dtype=np.float64)
    scaled[:, [0, 1, 3, 4]] *= size / raw_size
    theta = scaled[:, 2]
    wrap = (theta < -90) | (theta > 90)
    scaled[wrap, 2] = np.mod(theta[wrap] + 90, 180) - 90
    return scaled


def rotate_grasps(grasps: np.ndarray, turns: int, size: int) -> np.ndarray:
    """Grasps of the image turned `turns` x 90 degrees counter-clockwise (`np.rot90`)."""
    centre = size / 2
    dx, dy = grasps[:, 0] - centre, grasps[:, 1] - centre
    x, y = [(dx, dy), (dy, -dx), (-dx, -dy), (-dy, dx)][turns % 4]
    theta = grasps[:, 2]
    if turns % 2:
        theta = np.where(theta <= 0, theta + 90, theta - 90)
    return np.column_stack([centre + x, centre + y, theta, grasps[:, 3], grasps[:, 4]])


def grasp_bounds(grasps: np.ndarray) -> tuple[np.ndarray, ...]:
    """(min_x, max_x, min_y, max_y) of each grasp rectangle's axis-aligned bounding box."""
    x, y, w, h = grasps[:, 0], grasps[:, 1], grasps[:, 3] / 2, grasps[:, 4] / 2
    theta = np.deg2rad(grasps[:, 2])
    cos, sin = np.cos(theta), np.sin(theta)
    xs = np.stack([x - w * cos + h * sin, x + w * cos + h * sin, x + w * cos - h * sin,
                   x - w * cos - h * sin])  # fmt: skip
    ys = np.stack([y - w * sin - h * cos, y + w * sin - h * cos, y + w * sin + h * cos,
                   y - w * sin + h * cos])  # fmt: skip
    return xs.min(axis=0), xs.max(axis=0), ys.min(axis=0), ys.max(axis=0)


def _nearest(
    dist: np.ndarray, inside: np.ndarray, best: np.ndarray, owner: np.ndarray, first: int
) -> None:
    """Fold a chunk of grasps (numbered from `first`) into the running nearest `best`/`owner`."""
    dist = np.where(inside, dist, np.inf)
    chunk_owner = np.argmin(dist, axis=0)  # the first of equal distances, as in file order
    chunk_best = np.take_along_axis(dist, chunk_owner[None], axis=0)[0]
    closer = chunk_best < best  # strict: an earlier chunk keeps a tie
    best[closer] = chunk_best[closer]
    owner[closer] = chunk_owner[closer] + first


def grasp_map(grasps: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """(size, size, 6) float32 map: each pixel takes the nearest (L1) grasp whose box covers it.

    Only the rows and columns some box covers are computed, grasps in chunks of GRASP_CHUNK.
    """
    out = np.zeros((size, size, CHANNELS), np.float32) if out is None else out
    out[...] = 0
    min_x, max_x, min_y, max_y = grasp_bounds(grasps)
    centres = np.arange(size) + 0.5
    in_x = (min_x[:, None] <= centres) & (centres <= max_x[:, None])
    in_y = (min_y[:, None] <= centres) & (centres <= max_y[:, None])
    rows, cols = np.flatnonzero(in_y.any(axis=0)), np.flatnonzero(in_x.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return out
    region = np.s_[rows[0] : rows[-1] + 1], np.s_[cols[0] : cols[-1] + 1]
    in_x, in_y = in_x[:, region[1]], in_y[:, region[0]]
    dx = grasps[:, 0, None] - centres[region[1]]  # grasp x minus pixel-centre x, per column
    dy = grasps[:, 1, None] - centres[region[0]]
    best = np.full((in_y.shape[1], in_x.shape[1]), np.inf)
    owner = np.zeros(best.shape, dtype=np.int64)
    count = np.zeros(best.shape, dtype=np.int64)
    for first in range(0, len(grasps), GRASP_CHUNK):
        part = np.s_[first : first + GRASP_CHUNK]
        inside = in_y[part, :, None] & in_x[part, None, :]
        count += inside.sum(axis=0)
        dist = np.abs(dy[part, :, None]) + np.abs(dx[part, None, :])
        _nearest(dist, inside, best, owner, first)
    r, c = np.nonzero(count)
    k = owner[r, c]
    view = out[region]
    view[r, c, 0] = dx[k, c]
    view[r, c, 1] = dy[k, r]
    view[r, c, 2] = (grasps[k, 2] + 90) / 180
    view[r, c, 3] = grasps[k, 3]
    view[r, c, 4] = grasps[k, 4]
    view[..., 5] = count / count.max()
    return out


def grasp_maps(grasps: np.ndarray, raw_size: int, size: int) -> np.ndarray:
    """(4, size, size, 6) maps of raw-pixel grasps for the image turned 0/90/180/270 degrees."""
    scaled = scale_grasps(grasps, raw_size, size)
    maps = np.empty((len(ROTATIONS), size, size, CHANNELS), np.float32)
    for turns in range(len(ROTATIONS)):
        grasp_map(rotate_grasps(scaled, turns, size), size, out=maps[turns])
    return maps


def maps_to_rectangles(
    map6: np.ndarray, threshold: float
) -> list[tuple[float, float, float, float, float]]:
    """Distinct (cx, cy, angle_deg, width, height) of pixels whose coverage exceeds `threshold`.

    Centres (pixel centre + dx, dy) are rounded to 0.01 px so one grasp yields one rectangle.
    """
    rows, cols = np.nonzero(map6[..., 5] > threshold)
    values = map6[rows, cols].astype(np.float64)
    rectangles = np.column_stack(
        [
            np.round(cols + 0.5 + values[:, 0], 2),
            np.round(rows + 0.5 + values[:, 1], 2),
            values[:, 2] * 180 - 90,
            values[:, 3],
            values[:, 4],
        ]
    )
    return [tuple(float(v) for v in row) for row in np.unique(rectangles, axis=0)]


def rectangle_corners(cx: float, cy: float, angle_deg: float, w: float, h: float) -> np.ndarray:
    """The (4, 2) corners of a grasp rectangle, in the original's order."""
    a = np.deg2rad(angle_deg)
    along = np.array([np.cos(a), np.sin(a)]) * w / 2
    across = np.array([-np.sin(a), np.cos(a)]) * h / 2
    centre = np.array([cx, cy], dtype=float)
    return np.stack(
        [centre - along - across, centre + along - across, centre + along + across,
         centre - along + across]
    )  # fmt: skip


def decode_best_grasp(pred_map: Tensor | np.ndarray) -> tuple[float, float, float, float, float]:
    """The rectangle (cx, cy, angle_deg, w, h) stored at the highest-confidence pixel.

    Offsets are measured from the pixel's centre, as `grasp_map` encodes them.
    """
    m = torch.as_tensor(pred_map).detach().float().cpu()
    size = m.shape[-2]
    y, x = divmod(int(m[5].argmax()), m.shape[-1])
    dx, dy, angle, w, h = m[:5, y, x].tolist()
    return (
        x + 0.5 + dx * size,
        y + 0.5 + dy * size,
        angle * 180 - 90,
        w * size,
        (h / 2 + 0.5) * JAW_SCALE * size,
    )
