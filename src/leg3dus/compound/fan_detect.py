"""PLUS's fan-angle detector (``EnableFanAnglesAutoDetect``): per frame, the angular span of
a curvilinear probe's fan that holds image content, within the configured FanAnglesDeg.

Follows IGSIO ``vtkIGSIOFanAngleDetectorAlgo.cxx`` (``vtkIGSIOFanAngleDetectorAlgo::Update``):
pixels are sampled one pixel apart on arcs at 15, 30, 50 and 70 % of the way from the
fan's start to its stop radius; along each arc a moving window of ``2 * filter radius``
samples opens a bright run when at least half its samples reach the brightness
threshold and closes it when at most half do; the widest run over all arcs, narrowed by
3 degrees on each side and kept within the configured angles, is the frame's fan. A
frame with no run is empty and PLUS skips it.
"""

from __future__ import annotations

import math

import numpy as np

from ..sweep.config import ReconParams

_DEPTHS_PERCENT = (15, 30, 50, 70)
_MARGIN_DEG = -3.0
_RAD = 0.017453292519943295


def _vtk_round(x: float) -> int:
    # vtkMath::Round: half away from zero
    return int(x + (0.5 if x >= 0 else -0.5))


def detect_fan_angles(frame: np.ndarray, p: ReconParams) -> tuple[float, float] | None:
    """The fan angles (left, right) in degrees detected in ``frame`` (h, w), or None when
    the frame holds no content (PLUS then skips it).

    Uses ``p.fan_angles_deg`` as the widest allowed fan, ``p.fan_origin_pixel``, the fan
    radii and ``p.fan_detect_brightness_threshold`` / ``p.fan_detect_filter_radius_pixel``.

    Examples
    --------
    >>> p = ReconParams(fan_angles_deg=(-30.0, 30.0), fan_origin_pixel=(100.0, 0.0),
    ...                 fan_radius_start_pixel=10.0, fan_radius_stop_pixel=190.0,
    ...                 fan_detect_filter_radius_pixel=2)
    >>> rows, cols = np.mgrid[0:200, 0:200]
    >>> theta = np.degrees(np.arctan2(cols - 100, rows))
    >>> frame = np.where(np.abs(theta) < 20, 200, 0).astype(np.uint8)
    >>> [round(a) for a in detect_fan_angles(frame, p)]
    [-19, 20]
    >>> detect_fan_angles(np.zeros((200, 200), np.uint8), p) is None
    True
    """
    h, w = frame.shape
    x_origin, y_origin = int(p.fan_origin_pixel[0]), int(p.fan_origin_pixel[1])
    lo, hi = p.fan_angles_deg[0] * _RAD, p.fan_angles_deg[1] * _RAD
    n_avg = p.fan_detect_filter_radius_pixel * 2
    thr = p.fan_detect_brightness_threshold
    r0, r1 = p.fan_radius_start_pixel, p.fan_radius_stop_pixel
    best = (0.0, 0.0)
    for percent in _DEPTHS_PERCENT:
        radius = r0 + (r1 - r0) * percent / 100
        step = 1.0 / radius
        thetas, values = [], []
        for k in range(int((hi - lo) / step)):
            angle = lo + k * step
            x = _vtk_round(x_origin + radius * math.sin(angle))
            y = _vtk_round(y_origin + radius * math.cos(angle))
            if 0 <= x < w and 0 <= y < h:
                thetas.append(angle)
                values.append(float(frame[y, x]))
        bright = np.asarray(values) >= thr
        lefts, rights, valid = [], [], False
        for j in range(n_avg, len(thetas)):
            count = int(bright[j - n_avg:j].sum())
            if not valid and count >= n_avg / 2.0:
                lefts.append(thetas[j - n_avg])
                valid = True
            elif valid and count <= n_avg / 2.0:
                rights.append(thetas[j - 1])
                valid = False
        if len(lefts) > len(rights):
            rights.append(hi)
        band = (0.0, 0.0)
        for a, b in zip(lefts, rights, strict=False):
            if b - a > band[1] - band[0]:
                band = (a, b)
        if band[1] - band[0] > best[1] - best[0]:
            best = band
    if best == (0.0, 0.0):
        return None
    left = max(math.degrees(best[0]) - _MARGIN_DEG, p.fan_angles_deg[0])
    right = min(math.degrees(best[1]) + _MARGIN_DEG, p.fan_angles_deg[1])
    return left, right
