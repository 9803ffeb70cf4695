"""Evaluation metrics of predicted muscle labels against the truth.

The entry point is :func:`evaluate` (label volumes -> one dict of metrics per muscle and
for their union); the individual metrics work on binary masks. Definitions, conventions
and the values of empty masks are in ``docs/metrics.md``.

Examples
--------
>>> import numpy as np
>>> from leg3dus.metrics import evaluate, dice, surface_distances, hausdorff_percentile
>>> t = np.zeros((16, 16, 16), np.uint8); t[4:12, 4:12, 4:12] = 100
>>> p = np.roll(t, 1, axis=2)
>>> round(evaluate(p, t, spacing=(0.3, 0.3, 0.3))["SOL"]["dice"], 3)
0.875
>>> float(hausdorff_percentile(surface_distances(p, t, (0.3, 0.3, 0.3)), 95))
0.3
"""

from .border import BorderOptions, border_analysis, border_gradient
from .evaluate import (
    METRIC_KEYS,
    STRUCTURES,
    evaluate,
    evaluate_files,
    evaluate_volumes,
)
from .overlap import (
    confusion,
    dice,
    iou,
    overlap_from_counts,
    precision,
    recall,
    volume_cm3,
    volume_error_percent,
)
from .surface import (
    SurfaceDistances,
    assd,
    directed_means,
    hausdorff,
    hausdorff_percentile,
    masd,
    nsd,
    surface_distances,
    surface_metrics,
)

__all__ = [
    "METRIC_KEYS", "STRUCTURES", "BorderOptions", "SurfaceDistances", "assd",
    "border_analysis", "border_gradient", "confusion", "dice", "directed_means",
    "evaluate", "evaluate_files", "evaluate_volumes", "hausdorff", "hausdorff_percentile",
    "iou", "masd", "nsd", "overlap_from_counts", "precision", "recall",
    "surface_distances", "surface_metrics", "volume_cm3", "volume_error_percent",
]
