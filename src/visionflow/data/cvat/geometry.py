"""Axis-aligned extents of CVAT's shapes: rotated boxes and ellipses, masks, point sets.

Extents are [xmin, ymin, xmax, ymax] in image pixel-edge coordinates, the table's boxes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import accumulate


def extent(points: Sequence[float]) -> list[float]:
    """[xmin, ymin, xmax, ymax] of a flat x, y, x, y, ... point list."""
    xs, ys = points[0::2], points[1::2]
    return [min(xs), min(ys), max(xs), max(ys)]


def _about_centre(cx: float, cy: float, half_w: float, half_h: float) -> list[float]:
    return [cx - half_w, cy - half_h, cx + half_w, cy + half_h]


def rotated_box_extent(corners: Sequence[float], degrees: float) -> list[float]:
    """Extent of the box `corners` (xtl, ytl, xbr, ybr) turned by `degrees` about its centre.

    CVAT's rotation: clockwise on screen (image y points down) for a positive angle.
    """
    xtl, ytl, xbr, ybr = corners
    cos, sin = abs(math.cos(math.radians(degrees))), abs(math.sin(math.radians(degrees)))
    w, h = xbr - xtl, ybr - ytl
    half_w, half_h = (w * cos + h * sin) / 2, (w * sin + h * cos) / 2
    return _about_centre((xtl + xbr) / 2, (ytl + ybr) / 2, half_w, half_h)


def ellipse_extent(cx: float, cy: float, rx: float, ry: float, degrees: float) -> list[float]:
    """Extent of the ellipse of radii `rx`, `ry` about (cx, cy) turned by `degrees`."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    half_w = math.sqrt((rx * cos) ** 2 + (ry * sin) ** 2)
    half_h = math.sqrt((rx * sin) ** 2 + (ry * cos) ** 2)
    return _about_centre(cx, cy, half_w, half_h)


def mask_extent(
    runs: Sequence[int], left: int, top: int, width: int, height: int
) -> list[float] | None:
    """Extent of the set pixels of a CVAT mask placed at (left, top), or None if none is set.

    CVAT's run lengths cover the width x height placement row-major, alternating unset and
    set pixels, starting with unset ones; ValueError if they do not cover it exactly. The
    extent comes from the runs themselves, without drawing the mask.
    """
    if any(run < 0 for run in runs):
        raise ValueError("has a negative run length")
    if sum(runs) != width * height:
        raise ValueError(f"run lengths sum to {sum(runs)}, not width x height = {width * height}")
    starts = list(accumulate([0, *runs[:-1]]))
    set_runs = [(s, run) for s, run in zip(starts[1::2], runs[1::2], strict=True) if run]
    if not set_runs:
        return None
    rows, cols = set(), set()
    for start, run in set_runs:
        first, last = divmod(start, width), divmod(start + run - 1, width)
        rows.update((first[0], last[0]))
        if first[0] == last[0]:
            cols.update((first[1], last[1]))
        else:  # the run wraps to the next row: it reaches both sides when it spans them
            cols.update((first[1], width - 1, 0, last[1]))
    return [float(left + min(cols)), float(top + min(rows)), float(left + max(cols) + 1),
            float(top + max(rows) + 1)]  # fmt: skip
