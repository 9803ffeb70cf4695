"""leg3dus's border estimator: an estimate, from the ultrasound image, of which part of
each truth border is *distinct* (shown by the ultrasound) and which is *completed*
(inferred by the annotator), for when the border volumes of the published protocol
(Duque et al., IPCAI 2024; :mod:`leg3dus.metrics.border_protocol`) are not available.
The rule is leg3dus's own, not the paper's; its agreement with true borders is measured
on the phantom (``benchmarks/study_border.py``, figures in ``docs/metrics.md``).

A truth surface point (a surfel corner, see :mod:`leg3dus.metrics.surface`) is distinct
under ``rule="either"`` (default) when either criterion holds:

gradient
    The ultrasound, smoothed by a Gaussian of ``sigma_mm``, changes across the border
    by at least ``gradient_threshold`` grey levels per mm. Across the border means
    inside the point's 2x2x2 cell: |mean of its inside voxels - mean of its outside
    voxels| divided by the distance (mm) between the centroids of the two groups.
aponeurosis
    The point lies within ``aponeurosis_mm`` of the truth surface of another muscle:
    the border is an aponeurosis or septum shared with a neighbour.

``rule="gradient"`` or ``rule="aponeurosis"`` uses one criterion alone. Every other
point is completed. For each part the analysis reports the share of the truth border
area it holds, the share of its area within the tolerance of the predicted surface, and
its area-weighted mean distance to the predicted surface (mm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core.errors import OptionError
from . import _kernels
from .surface import SurfaceDistances

RULES = ("either", "gradient", "aponeurosis")
KEYS = ("estimated_distinct_fraction", "estimated_distinct_within_tol",
        "estimated_distinct_mean_mm", "estimated_completed_within_tol",
        "estimated_completed_mean_mm")


@dataclass(frozen=True)
class BorderOptions:
    """What makes a truth border point *distinct* for the estimator (see the module
    docstring)."""

    rule: str = "either"
    gradient_threshold: float = 40.0
    sigma_mm: float = 0.5
    aponeurosis_mm: float = 1.0

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise OptionError(f"unknown border rule {self.rule!r}; expected one of "
                              f"{', '.join(RULES)}")
        if self.gradient_threshold < 0 or self.sigma_mm < 0 or self.aponeurosis_mm < 0:
            raise OptionError("border options must be >= 0: gradient threshold "
                              f"{self.gradient_threshold}, sigma {self.sigma_mm} mm, "
                              f"aponeurosis distance {self.aponeurosis_mm} mm")


def _centroid_steps(spacing) -> np.ndarray:
    """Per neighbour code, the distance (mm) between the centroids of the inside and the
    outside voxels of the 2x2x2 cell (0 for codes 0 and 255)."""
    offsets = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], float)
    offsets *= np.asarray(spacing, float)
    steps = np.zeros(256)
    for code in range(1, 255):
        inside = np.array([(code >> (7 - k)) & 1 for k in range(8)], bool)
        steps[code] = np.linalg.norm(offsets[inside].mean(0) - offsets[~inside].mean(0))
    # Saddle cells (e.g. two opposite corners inside) have both centroids at the cell
    # centre: no direction across the border; use the smallest voxel spacing.
    steps[1:255][steps[1:255] < 1e-9] = min(spacing)
    return steps


def border_gradient(image: np.ndarray, points: np.ndarray, codes: np.ndarray, spacing,
                    sigma_mm: float = 0.5) -> np.ndarray:
    """Grey-level change per mm across the border at each surfel point.

    ``points`` are (N, 3) corner indices and ``codes`` their 2x2x2 neighbour codes (as
    :class:`SurfaceDistances` holds them); ``image`` is the full ultrasound volume.
    Only the bounding box of the points (plus the smoothing halo) is smoothed, in
    float32; a cell voxel outside the volume takes the value of the nearest voxel
    inside.
    """
    from scipy import ndimage

    if len(points) == 0:
        return np.zeros(0)
    spacing = np.asarray(spacing, float)
    sigma_vox = sigma_mm / spacing
    halo = np.ceil(3 * sigma_vox).astype(int) + 1
    lo = np.maximum(points.min(0) - 1 - halo, 0)
    hi = np.minimum(points.max(0) + 1 + halo, image.shape)
    crop = image[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))].astype(np.float32)
    if sigma_mm > 0:
        ndimage.gaussian_filter(crop, sigma_vox, output=crop, mode="nearest", truncate=3.0)
    contrast = _kernels.cell_contrast(crop, lo.astype(np.int64), points, codes)
    return contrast / _centroid_steps(spacing)[codes]


def distinct_mask(sd: SurfaceDistances, spacing, image: np.ndarray | None = None,
                  other_points: np.ndarray | None = None,
                  options: BorderOptions = BorderOptions(),
                  gradient: np.ndarray | None = None) -> np.ndarray:
    """Which truth surface points of ``sd`` (surfels) are distinct, as a boolean array.
    ``gradient``, when given, is :func:`border_gradient` of these points, computed by
    the caller (e.g. for several structures at once)."""
    if sd.surface != "surfel":
        raise OptionError("border analysis needs surfel surfaces (surface='surfel')")
    n = len(sd.truth_to_pred)
    distinct = np.zeros(n, bool)
    if options.rule in ("either", "gradient"):
        if gradient is None:
            if image is None:
                raise OptionError("the gradient rule of border analysis needs the "
                                  "ultrasound image (--image)")
            gradient = border_gradient(image, sd.truth_points, sd.truth_codes, spacing,
                                       options.sigma_mm)
        distinct |= gradient >= options.gradient_threshold
    if options.rule in ("either", "aponeurosis") and other_points is not None \
            and len(other_points):
        d = _kernels.nearest_distances(sd.truth_points, other_points, spacing,
                                       max_mm=options.aponeurosis_mm)
        distinct |= d <= options.aponeurosis_mm
    return distinct


def _part(d: np.ndarray, w: np.ndarray, tolerance_mm: float) -> tuple[float, float]:
    if w.sum() == 0:
        return math.nan, math.nan
    within = float(w[d <= tolerance_mm].sum() / w.sum())
    if np.isinf(d).any():
        return within, math.inf
    return within, float(np.dot(d, w) / w.sum())


def border_scores(sd: SurfaceDistances, distinct: np.ndarray,
                  tolerance_mm: float = 1.0) -> dict[str, float]:
    """The estimator's keys (:data:`KEYS`) from the truth->prediction distances and
    the distinct/completed split. NaN for a part without area; a mean of inf when the
    prediction is empty."""
    w, d = sd.truth_weights, sd.truth_to_pred
    total = w.sum()
    fraction = float(w[distinct].sum() / total) if total > 0 else math.nan
    dw, dm = _part(d[distinct], w[distinct], tolerance_mm)
    cw, cm = _part(d[~distinct], w[~distinct], tolerance_mm)
    return dict(zip(KEYS, (fraction, dw, dm, cw, cm), strict=True))


def border_analysis(sd: SurfaceDistances, spacing, image: np.ndarray | None = None,
                    other_points: np.ndarray | None = None, tolerance_mm: float = 1.0,
                    options: BorderOptions = BorderOptions(),
                    gradient: np.ndarray | None = None) -> dict[str, float]:
    """Estimate the distinct and completed parts of the truth border of ``sd`` (leg3dus's
    estimator) and score the prediction on each.

    Parameters
    ----------
    sd
        Surfel distances of one structure (from :func:`surface_distances`).
    spacing
        Voxel size (z, y, x) in mm.
    image
        The ultrasound volume on the same grid (needed by the gradient rule).
    other_points
        Corner indices of the truth surfaces of the other muscles (aponeurosis rule).
    gradient
        :func:`border_gradient` of the truth points, when already computed.

    Examples
    --------
    >>> from leg3dus.metrics import surface_distances
    >>> t = np.zeros((12, 12, 12), np.uint8); t[3:9, 3:9, 3:9] = 1
    >>> img = np.where(t > 0, 200, 20).astype(np.uint8)
    >>> sd = surface_distances(t, t, (1.0, 1.0, 1.0))
    >>> border_analysis(sd, (1.0, 1.0, 1.0), img)["estimated_distinct_within_tol"]
    1.0
    """
    distinct = distinct_mask(sd, spacing, image, other_points, options, gradient)
    return border_scores(sd, distinct, tolerance_mm)

