"""Surface distances between a prediction and the truth, and the metrics built on them:
Hausdorff distance (HD), its 95th percentile (HD95, two conventions), average symmetric
surface distance (ASSD), mean average surface distance (MASD) and normalised surface
distance (NSD, the surface Dice at a tolerance).

Two surface representations, chosen with ``surface``:

``"surfel"`` (default, DeepMind's surface-distance)
    Surface points are the voxel corners whose 2x2x2 cell holds both inside and outside
    voxels; each carries the area (mm2) of the marching-cubes surface in its cell.
    Percentiles and means are weighted by that area.
``"voxel"`` (MONAI's default, medpy)
    Surface points are the centres of the voxels inside the mask with a face neighbour
    outside it; each weighs 1. Percentiles interpolate linearly (``numpy.percentile``).

Distances are Euclidean in mm with the voxel spacing, from every point of one surface to
the nearest point of the other, computed exactly: by a search among the surface points,
or, when the surfaces lie far apart, by a distance transform of the box that holds both
(never of the whole volume). See ``docs/metrics.md`` for every definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.arrays import bounding_box
from ..core.errors import OptionError
from . import _kernels
from ._surfel_table import surfel_area_table

SURFACES = ("surfel", "voxel")
HD95_MODES = ("max", "pooled")
#: Side (in voxels) of the cells that bucket surface points for the nearest-point search.
_CELL = 4


@dataclass
class SurfaceDistances:
    """Distances (mm) from each surface point of one mask to the other surface.

    ``truth_points``/``pred_points`` are (N, 3) integer (z, y, x) indices: voxel corners
    (corner ``i`` lies between voxels ``i - 1`` and ``i``) for surfels, voxel indices for
    border voxels. ``truth_codes`` holds the 2x2x2 neighbour codes of surfel points.
    """

    truth_to_pred: np.ndarray
    pred_to_truth: np.ndarray
    truth_weights: np.ndarray
    pred_weights: np.ndarray
    surface: str = "surfel"
    truth_points: np.ndarray | None = None
    pred_points: np.ndarray | None = None
    truth_codes: np.ndarray | None = None

    @property
    def truth_empty(self) -> bool:
        return len(self.truth_to_pred) == 0

    @property
    def pred_empty(self) -> bool:
        return len(self.pred_to_truth) == 0


def check_surface(surface: str) -> str:
    if surface not in SURFACES:
        raise OptionError(f"unknown surface {surface!r}; expected one of {', '.join(SURFACES)}")
    return surface


def _spread(members) -> np.ndarray:
    spread = np.zeros(256, np.uint32)
    for s, member in enumerate(members):
        spread[np.asarray(member, bool)] |= np.uint32(1 << (4 * s))
    return spread


def structure_points(labels, members, lo, hi, spacing, surface: str = "surfel"):
    """Surface points of several structures of one uint8 label volume, looking only
    inside the voxel box ``lo..hi`` (exclusive ends) that holds all of them.

    ``members`` are 256-entry boolean tables (``member[value]``: the value belongs to
    the structure), at most eight. Returns, per structure, ``(points, weights, codes)``:
    (N, 3) integer (z, y, x) points, their weights (surfel areas in mm2, or 1) and the
    surfel neighbour codes (None for voxel surfaces).
    """
    check_surface(surface)
    if len(members) > 8:
        raise OptionError(f"at most 8 structures at once, found {len(members)}")
    lo, hi = np.asarray(lo, np.int64), np.asarray(hi, np.int64)
    if np.any(hi <= lo):
        empty = (np.zeros((0, 3), np.int32), np.zeros(0),
                 np.zeros(0, np.uint8) if surface == "surfel" else None)
        return [empty for _ in members]
    find = _kernels.surfel_points if surface == "surfel" else _kernels.border_points
    coords, codes, starts = find(labels, _spread(members), len(members), lo, hi)
    runs = list(zip(starts[:-1], starts[1:], strict=True))
    if surface == "surfel":
        table = surfel_area_table(spacing)
        return [(coords[a:b], table[codes[a:b]], codes[a:b]) for a, b in runs]
    return [(coords[a:b], np.ones(b - a), None) for a, b in runs]


def distances_between(truth_points, pred_points, spacing,
                      surface: str = "surfel") -> SurfaceDistances:
    """:class:`SurfaceDistances` of two sets of surface points, each ``(points, weights,
    codes)`` as :func:`structure_points` returns them."""
    spacing = np.asarray(spacing, dtype=np.float64)
    t_pts, t_w, t_codes = truth_points
    p_pts, p_w, _ = pred_points
    t2p = _kernels.nearest_distances(t_pts, p_pts, spacing, _CELL)
    p2t = _kernels.nearest_distances(p_pts, t_pts, spacing, _CELL)
    return SurfaceDistances(t2p, p2t, t_w, p_w, surface, t_pts, p_pts, t_codes)


def structure_distances(pred_labels, truth_labels, member, lo, hi, spacing,
                        surface: str = "surfel") -> SurfaceDistances:
    """Surface distances of the structure ``member[value]`` (a 256-entry boolean table)
    between two uint8 label volumes, looking only inside the voxel box ``lo..hi``
    (exclusive ends) that holds all of it in both."""
    (truth,) = structure_points(truth_labels, [member], lo, hi, spacing, surface)
    (pred,) = structure_points(pred_labels, [member], lo, hi, spacing, surface)
    return distances_between(truth, pred, spacing, surface)


def _box(mask: np.ndarray):
    box = bounding_box(mask)
    if box is None:
        return None
    return np.array([s.start for s in box]), np.array([s.stop for s in box])


def surface_distances(pred: np.ndarray, truth: np.ndarray, spacing=(1.0, 1.0, 1.0),
                      surface: str = "surfel") -> SurfaceDistances:
    """Distances between the surfaces of two binary masks (nonzero = inside).

    Parameters
    ----------
    pred, truth
        3D arrays of the same shape, (z, y, x).
    spacing
        Voxel size (z, y, x) in mm.
    surface
        ``"surfel"`` (DeepMind) or ``"voxel"`` (MONAI/medpy border voxels).

    Examples
    --------
    >>> a = np.zeros((8, 8, 8), bool); a[2:6, 2:6, 2:6] = True
    >>> b = np.roll(a, 1, axis=0)
    >>> float(hausdorff(surface_distances(b, a, (2.0, 1.0, 1.0))))
    2.0
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape or pred.ndim != 3:
        raise OptionError(f"masks must be 3D arrays of one shape, found {pred.shape} "
                          f"and {truth.shape}")
    p8 = np.ascontiguousarray(pred != 0).view(np.uint8)
    t8 = np.ascontiguousarray(truth != 0).view(np.uint8)
    member = np.zeros(256, bool)
    member[1] = True
    box_p, box_t = _box(p8), _box(t8)
    boxes = [b for b in (box_p, box_t) if b is not None]
    if not boxes:
        lo = hi = np.zeros(3, np.int64)
    else:
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
    return structure_distances(p8, t8, member, lo, hi, spacing, surface)


def _weighted_percentile(d, w, q, surface):
    if surface == "voxel":
        return float(np.percentile(d, q))
    # DeepMind's rule: the smallest distance whose cumulative area share, distances in
    # increasing order, reaches q/100.
    value, exact = _kernels.weighted_percentile(d, w, q / 100.0)
    if exact:
        return float(value)
    # A share within rounding of q: sum in DeepMind's order (by distance, then area) so
    # that the tie falls the same way.
    order = np.lexsort((w, d))
    cum = np.cumsum(w[order])
    idx = np.searchsorted(cum / cum[-1], q / 100.0)
    return float(d[order][min(idx, len(d) - 1)])


def _one_empty(sd: SurfaceDistances):
    """None when both surfaces exist, else the value of a distance for empty masks."""
    if sd.truth_empty and sd.pred_empty:
        return 0.0
    if sd.truth_empty or sd.pred_empty:
        return float("inf")
    return None


def hausdorff(sd: SurfaceDistances) -> float:
    """Hausdorff distance (mm): the largest distance from a point of either surface to
    the other surface. 0 when both masks are empty, inf when only one is."""
    empty = _one_empty(sd)
    if empty is not None:
        return empty
    return float(max(sd.truth_to_pred.max(), sd.pred_to_truth.max()))


def hausdorff_percentile(sd: SurfaceDistances, percentile: float = 95.0,
                         mode: str = "max") -> float:
    """Robust Hausdorff distance (mm) at ``percentile``.

    ``mode="max"`` (DeepMind, MONAI, MetricsReloaded): the larger of the two directed
    percentiles. ``mode="pooled"`` (medpy, seg-metrics): the percentile of both
    directions' distances taken together. 0 when both masks are empty, inf when only
    one is.
    """
    if mode not in HD95_MODES:
        raise OptionError(f"unknown HD95 mode {mode!r}; expected one of {', '.join(HD95_MODES)}")
    if not 0 <= percentile <= 100:
        raise OptionError(f"percentile must lie in 0..100, found {percentile}")
    empty = _one_empty(sd)
    if empty is not None:
        return empty
    if mode == "max":
        return max(_weighted_percentile(sd.truth_to_pred, sd.truth_weights, percentile,
                                        sd.surface),
                   _weighted_percentile(sd.pred_to_truth, sd.pred_weights, percentile,
                                        sd.surface))
    d = np.concatenate([sd.truth_to_pred, sd.pred_to_truth])
    w = np.concatenate([sd.truth_weights, sd.pred_weights])
    return _weighted_percentile(d, w, percentile, sd.surface)


def directed_means(sd: SurfaceDistances) -> tuple[float, float]:
    """Weighted mean distance (mm) truth->prediction and prediction->truth."""
    empty = _one_empty(sd)
    if empty is not None:
        return empty, empty
    return (float(np.dot(sd.truth_to_pred, sd.truth_weights) / sd.truth_weights.sum()),
            float(np.dot(sd.pred_to_truth, sd.pred_weights) / sd.pred_weights.sum()))


def assd(sd: SurfaceDistances) -> float:
    """Average symmetric surface distance (mm): the weighted mean over the points of
    both surfaces of their distance to the other surface."""
    empty = _one_empty(sd)
    if empty is not None:
        return empty
    total = np.dot(sd.truth_to_pred, sd.truth_weights) + np.dot(sd.pred_to_truth,
                                                                sd.pred_weights)
    return float(total / (sd.truth_weights.sum() + sd.pred_weights.sum()))


def masd(sd: SurfaceDistances) -> float:
    """Mean average surface distance (mm): the mean of the two directed mean distances."""
    a, b = directed_means(sd)
    return (a + b) / 2


def nsd(sd: SurfaceDistances, tolerance_mm: float = 1.0) -> float:
    """Normalised surface distance (surface Dice) at ``tolerance_mm``: the share of both
    surfaces (by weight) lying within the tolerance of the other. 1 when both masks are
    empty, 0 when only one is."""
    if tolerance_mm < 0:
        raise OptionError(f"tolerance must be >= 0 mm, found {tolerance_mm}")
    if sd.truth_empty and sd.pred_empty:
        return 1.0
    if sd.truth_empty or sd.pred_empty:
        return 0.0
    near = (sd.truth_weights[sd.truth_to_pred <= tolerance_mm].sum()
            + sd.pred_weights[sd.pred_to_truth <= tolerance_mm].sum())
    return float(near / (sd.truth_weights.sum() + sd.pred_weights.sum()))


def surface_metrics(sd: SurfaceDistances, tolerance_mm: float = 1.0,
                    hd95_mode: str = "max") -> dict[str, float]:
    """``hd``, ``hd95``, ``assd``, ``masd`` and ``nsd`` of one pair of surfaces."""
    return {"hd": hausdorff(sd), "hd95": hausdorff_percentile(sd, 95.0, hd95_mode),
            "assd": assd(sd), "masd": masd(sd), "nsd": nsd(sd, tolerance_mm)}
