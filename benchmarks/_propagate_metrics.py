"""Overlap, HD95 and volume error per label for the propagation benchmark and study.

Uses :mod:`leg3dus.metrics` when it provides ``dice``/``hd95``; otherwise the simple
definitions below (Dice; HD95 as the larger of the two directed 95th percentiles of
surface-voxel distances, in mm; signed volume error in % of the truth).
"""

from __future__ import annotations

import edt
import numpy as np
from scipy import ndimage


def _box(a: np.ndarray, b: np.ndarray, margin: int = 2):
    both = a | b
    out = []
    for ax in range(3):
        other = tuple(i for i in range(3) if i != ax)
        hit = np.flatnonzero(both.any(axis=other))
        if hit.size == 0:
            return None
        out.append(slice(max(hit[0] - margin, 0), min(hit[-1] + 1 + margin, a.shape[ax])))
    return tuple(out)


def _surface(m: np.ndarray) -> np.ndarray:
    return m & ~ndimage.binary_erosion(m, border_value=0)


def hd95(pred: np.ndarray, truth: np.ndarray, spacing) -> float:
    """Larger of the two directed 95th percentiles of surface distances (mm)."""
    if not pred.any() or not truth.any():
        return float("inf") if pred.any() != truth.any() else 0.0
    box = _box(pred, truth)
    p, t = pred[box], truth[box]
    sp, st = _surface(p), _surface(t)
    anis = tuple(float(s) for s in spacing)
    dt_t = edt.edt(np.ascontiguousarray(~st), anisotropy=anis, black_border=False)
    dt_p = edt.edt(np.ascontiguousarray(~sp), anisotropy=anis, black_border=False)
    return float(max(np.percentile(dt_t[sp], 95), np.percentile(dt_p[st], 95)))


def label_metrics(pred: np.ndarray, truth: np.ndarray, spacing, values) -> dict:
    """{value: {"dice", "hd95", "volume_error_percent"}} for each label value."""
    out = {}
    for v in values:
        p, t = pred == v, truth == v
        np_, nt = int(p.sum()), int(t.sum())
        inter = int(np.count_nonzero(p & t))
        dice = 2 * inter / (np_ + nt) if np_ + nt else 1.0
        out[v] = {"dice": dice, "hd95": hd95(p, t, spacing),
                  "volume_error_percent": 100.0 * (np_ - nt) / nt if nt else float("nan")}
    return out
