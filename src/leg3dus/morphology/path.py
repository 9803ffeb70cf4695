"""Length of a muscle's centroid path, robust to its tiny end slices.

A muscle's first and last transverse slices hold a few voxels each: their centroids
jump sideways by millimetres from slice to slice, and summing those jumps inflates the
path (a 200 mm phantom gastrocnemius measured 256 mm with the plain sum). The rule:

1. keep the slices whose cross-sectional area is at least ``min_csa_fraction`` (10 %)
   of the muscle's maximum;
2. smooth their centroids along the leg with a Savitzky-Golay filter (quadratic, a
   window of ``smooth_mm`` = 5 mm, at least 3 slices; straight and evenly curved paths
   are kept exactly), so voxel-scale jitter does not add up;
3. the path length is the length of that polyline plus the stretch along the leg that
   the muscle covers beyond the first and last kept slice centres.

A straight muscle along the leg therefore has a path length equal to its length; a
tilted or curved one, longer.
"""

from __future__ import annotations

import numpy as np

#: Slices whose area is below this fraction of the maximum are left out of the path.
MIN_CSA_FRACTION = 0.1
#: Window of the Savitzky-Golay smoothing of the centroids, in mm along the leg.
SMOOTH_MM = 5.0


def centroid_path_length_mm(centroids_mm: np.ndarray, csa: np.ndarray, length_mm: float,
                            slice_mm: float, min_csa_fraction: float = MIN_CSA_FRACTION,
                            smooth_mm: float = SMOOTH_MM) -> float:
    """Path length (mm) of a muscle's centroids by the rule of the module docstring.

    Parameters
    ----------
    centroids_mm
        (n_slices, 3) physical centroids in (z, y, x) order; NaN where the slice is empty.
    csa
        Cross-sectional area per slice (any unit; only ratios matter).
    length_mm
        The muscle's length along the leg (whole first and last slices counted).
    slice_mm
        Slice spacing along the leg (axis 0).
    min_csa_fraction, smooth_mm
        The rule's threshold and smoothing window; ``smooth_mm=0`` turns smoothing off.

    Examples
    --------
    >>> c = np.zeros((5, 3)); c[:, 0] = np.arange(5.0)
    >>> round(centroid_path_length_mm(c, np.ones(5), length_mm=5.0, slice_mm=1.0), 6)
    5.0
    """
    csa = np.asarray(csa, dtype=np.float64)
    if not csa.size or csa.max() <= 0:
        return 0.0
    rows = np.flatnonzero(csa >= min_csa_fraction * csa.max())
    points = np.asarray(centroids_mm, dtype=np.float64)[rows]
    window = int(round(smooth_mm / slice_mm)) | 1  # odd
    if smooth_mm > 0 and window >= 3 and len(rows) >= 3:
        from scipy.signal import savgol_filter

        window = min(window, len(rows) if len(rows) % 2 else len(rows) - 1)
        points = savgol_filter(points, window, min(2, window - 1), axis=0, mode="interp")
    polyline = float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum())
    covered_mm = (rows[-1] - rows[0]) * slice_mm
    return polyline + max(float(length_mm - covered_mm), 0.0)
