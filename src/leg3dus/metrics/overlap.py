"""Overlap and volume metrics of a binary prediction against the truth: Dice, IoU,
precision, recall, volumes (cm3) and relative volume error (%).

All are computed from the voxel counts TP (in both), FP (prediction only) and FN (truth
only). Conventions for empty masks (see ``docs/metrics.md``): when both masks are empty
every overlap score is 1 and the volume error 0; a ratio whose denominator alone is
empty is NaN (recall without truth, precision without prediction); the volume error of
a prediction against an empty truth is inf.
"""

from __future__ import annotations

import math

import numpy as np


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) voxel counts of two masks (nonzero = inside).

    >>> confusion(np.array([1, 1, 0]), np.array([0, 1, 1]))
    (1, 1, 1)
    """
    p, t = np.asarray(pred) != 0, np.asarray(truth) != 0
    tp = int(np.count_nonzero(p & t))
    return tp, int(np.count_nonzero(p)) - tp, int(np.count_nonzero(t)) - tp


def _ratio(num: float, den: float, both_empty: bool) -> float:
    if den == 0:
        return 1.0 if both_empty else float("nan")
    return num / den


def overlap_from_counts(tp: int, fp: int, fn: int) -> dict[str, float]:
    """``dice``, ``iou``, ``precision``, ``recall`` from voxel counts.

    >>> overlap_from_counts(3, 1, 0)["dice"]
    0.8571428571428571
    """
    both_empty = tp + fp + fn == 0
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "iou": _ratio(tp, tp + fp + fn, both_empty),
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
    }


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient 2|P∩T| / (|P| + |T|); 1 when both masks are empty.

    >>> dice(np.array([1, 1, 0]), np.array([0, 1, 1]))
    0.5
    """
    return overlap_from_counts(*confusion(pred, truth))["dice"]


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union |P∩T| / |P∪T| (Jaccard); 1 when both masks are empty."""
    return overlap_from_counts(*confusion(pred, truth))["iou"]


def precision(pred: np.ndarray, truth: np.ndarray) -> float:
    """|P∩T| / |P|; NaN when only the prediction is empty, 1 when both are."""
    return overlap_from_counts(*confusion(pred, truth))["precision"]


def recall(pred: np.ndarray, truth: np.ndarray) -> float:
    """|P∩T| / |T| (sensitivity); NaN when only the truth is empty, 1 when both are."""
    return overlap_from_counts(*confusion(pred, truth))["recall"]


def volume_cm3(mask: np.ndarray, spacing) -> float:
    """Volume of a mask in cm3 (ml): voxel count times the voxel volume (mm3) / 1000.

    >>> volume_cm3(np.ones((10, 10, 10)), (1.0, 1.0, 1.0))
    1.0
    """
    return int(np.count_nonzero(mask)) * float(np.prod(spacing)) / 1000.0


def volume_error_percent(pred_cm3: float, truth_cm3: float) -> float:
    """Signed relative volume error 100 (V_pred - V_truth) / V_truth (%).

    0 when both volumes are 0; +inf when only the truth is empty.

    >>> volume_error_percent(105.0, 100.0)
    5.0
    """
    if truth_cm3 == 0:
        return 0.0 if pred_cm3 == 0 else math.inf
    return 100.0 * (pred_cm3 - truth_cm3) / truth_cm3


def volume_metrics(pred_voxels: int, truth_voxels: int, spacing) -> dict[str, float]:
    """``volume_pred_cm3``, ``volume_truth_cm3``, ``volume_error_percent`` and
    ``abs_volume_error_percent`` from voxel counts."""
    voxel_cm3 = float(np.prod(spacing)) / 1000.0
    vp, vt = pred_voxels * voxel_cm3, truth_voxels * voxel_cm3
    err = volume_error_percent(float(pred_voxels), float(truth_voxels))
    return {"volume_pred_cm3": vp, "volume_truth_cm3": vt, "volume_error_percent": err,
            "abs_volume_error_percent": abs(err)}
