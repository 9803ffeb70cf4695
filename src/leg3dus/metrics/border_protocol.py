"""Border analysis as published by Duque et al. (IPCAI 2024): the prediction scored
separately on the *distinct* border of each muscle (visible in the ultrasound) and on
its *completed* border (inferred by the annotator), where the two parts are given as
label volumes made from the expert label beforehand.

A border volume lies on the grid of the truth. Its nonzero voxels mark the border part;
it may hold

- the muscle values 0/100/150/200 (one volume for all muscles, each border voxel
  carrying the value of its muscle),
- one nonzero value such as 1 or 255 (all muscles, unlabelled), or
- the border of one muscle only (``{"GM": volume}``; any nonzero value).

How a part is scored (see ``docs/metrics.md``):

- a truth surface point (surfel corner or border voxel) belongs to a part when a border
  voxel of that part, of its muscle, lies in its 2x2x2 cell (surfels) or its 3x3x3
  neighbourhood (border voxels); a point can belong to both parts (where they meet);
- a predicted surface point is scored with a part when its nearest truth surface point
  can be one that belongs to that part only (so points nearest to where the parts meet
  are scored with neither);
- the part's HD, HD95, ASSD, MASD and NSD are those of :mod:`leg3dus.metrics.surface`
  on these two point sets; a part that the prediction has no point facing is scored on
  the truth -> prediction distances alone;
- ``border_dice`` is the surface Dice at the tolerance on border voxels: (truth border
  voxels of the part within the tolerance of the predicted border + predicted border
  voxels of the part within the tolerance of the part's truth border voxels) / (both
  counts), where a truth border voxel of the structure is in the part by the rule above
  (a border voxel of the part in its 3x3x3 neighbourhood) and a predicted border voxel is
  of the part when it faces truth border voxels of that part only. A prediction equal
  to the truth scores 1 on both parts, for each muscle and for the union (an all-muscle
  border volume also marks the borders between muscles, which are not on the union's
  surface: they do not count against it).

Examples
--------
>>> import numpy as np
>>> t = np.zeros((12, 12, 12), np.uint8); t[3:9, 3:9, 3:9] = 100
>>> edge = t.copy(); edge[4:8, 4:8, 4:8] = 0          # the border voxels of SOL
>>> distinct = edge.copy(); distinct[:, :, 3] = 0     # all but the x = 3 face
>>> completed = edge - distinct
>>> p = t.copy(); p[3:9, 3:9, 2] = 100                # the x = 3 face one voxel out
>>> from leg3dus.metrics import evaluate
>>> r = evaluate(p, t, borders={"distinct": distinct, "completed": completed})["SOL"]
>>> r["distinct_hd"], r["completed_hd"]
(0.0, 1.0)
"""

from __future__ import annotations

import math

import numpy as np

from ..core.errors import GeometryError, LabelError, OptionError
from ..core.labels import MUSCLES, VALUES
from . import _kernels
from .surface import _CELL, SurfaceDistances, _weighted_percentile, surface_metrics

PARTS = ("distinct", "completed")
#: Keys added per structure for each part (``distinct_hd``, ...).
PART_KEYS = ("area_share", "hd", "hd95", "assd", "masd", "nsd", "border_dice")
#: All border keys, in output order.
KEYS = tuple(f"{p}_{k}" for p in PARTS for k in PART_KEYS)
_EPS = 1e-9


def _coding(array: np.ndarray, what: str) -> str:
    """``"values"`` (muscle values), ``"binary"`` (one nonzero value) or ``"classes"``."""
    present = [int(v) for v in np.flatnonzero(np.bincount(array.ravel(), minlength=256))]
    nonzero = [v for v in present if v != 0]
    if set(present) <= set(VALUES):
        return "values"
    if len(nonzero) == 1:
        return "binary"
    if set(nonzero) <= {1, 2, 3}:
        return "classes"
    raise LabelError(f"{what}: expected border labels 0/100/150/200, one nonzero value, "
                     f"or classes 0..3; found values {present}")


def border_tables(volume, what: str, structures, muscle: str | None = None) -> dict:
    """Per structure, ``(array, table)``: the border voxels of the structure are those
    whose value ``v`` has ``table[v]`` true. ``muscle`` names the only muscle of a
    single-muscle volume."""
    array = np.asarray(volume)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer) and array.dtype != bool:
            raise LabelError(f"{what}: expected integer border labels, found {array.dtype}")
        if array.size and (array.min() < 0 or array.max() > 255):
            raise LabelError(f"{what}: border labels must lie in 0..255")
        array = array.astype(np.uint8)
    array = np.ascontiguousarray(array)
    any_value = np.ones(256, bool)
    any_value[0] = False
    if muscle is not None:
        return {muscle: (array, any_value)}
    coding = _coding(array, what)
    out = {}
    for name in structures:
        if coding == "binary" or name == "union":
            out[name] = (array, any_value)
            continue
        table = np.zeros(256, bool)
        m = next(m for m in MUSCLES if m.name == name)
        table[m.value if coding == "values" else m.index] = True
        out[name] = (array, table)
    return out


def check_borders(borders: dict, shape, structures) -> dict:
    """Normalise ``{"distinct": vol, "completed": vol}`` (a volume, or ``{muscle: vol}``)
    to ``{part: {structure: (array, table)}}``, checking names and shapes."""
    unknown = set(borders) - set(PARTS)
    if unknown:
        raise OptionError(f"unknown border parts {sorted(unknown)}; expected "
                          f"{', '.join(PARTS)}")
    out = {}
    for part, given in borders.items():
        if given is None:
            continue
        items = given.items() if isinstance(given, dict) else [(None, given)]
        tables: dict = {}
        for muscle, vol in items:
            what = f"{part} border" + (f" of {muscle}" if muscle else "")
            if muscle is not None and muscle not in structures:
                raise OptionError(f"{what}: unknown muscle {muscle!r}; expected one of "
                                  f"{', '.join(m.name for m in MUSCLES)}")
            if np.shape(vol) != tuple(shape):
                raise GeometryError(f"{what}: shape {np.shape(vol)} differs from the "
                                    f"truth {tuple(shape)}")
            tables.update(border_tables(vol, what, structures, muscle))
        out[part] = tables
    return out


def touching(points: np.ndarray, array: np.ndarray, table: np.ndarray,
             surface: str) -> np.ndarray:
    """Which points have a border voxel (``table[array[v]]``) in their 2x2x2 cell
    (surfel corners) or their 3x3x3 neighbourhood (voxels)."""
    if len(points) == 0:
        return np.zeros(0, bool)
    steps = (-1, 0) if surface == "surfel" else (-1, 0, 1)
    hit = np.zeros(len(points), bool)
    shape = np.asarray(array.shape)
    pts = points.astype(np.int64)
    for dz in steps:
        for dy in steps:
            for dx in steps:
                q = pts + np.array([dz, dy, dx])
                inside = np.all((q >= 0) & (q < shape), axis=1)
                idx = np.flatnonzero(inside & ~hit)
                if idx.size:
                    v = array[q[idx, 0], q[idx, 1], q[idx, 2]]
                    hit[idx[table[v]]] = True
    return hit


def _nearest(queries, points, spacing) -> np.ndarray:
    if len(queries) == 0:
        return np.zeros(0)
    if len(points) == 0:
        return np.full(len(queries), np.inf)
    return _kernels.nearest_distances(queries, points, spacing, _CELL)


def _facing(pred_points, pred_to_truth, truth_points, only, spacing) -> np.ndarray:
    """Predicted points whose nearest truth point can be one of ``only``."""
    d = _nearest(pred_points, truth_points[only], spacing)
    return d <= pred_to_truth + _EPS


def _directed(d, w, tolerance_mm, surface) -> dict[str, float]:
    mean = float(np.dot(d, w) / w.sum())
    return {"hd": float(d.max()), "hd95": _weighted_percentile(d, w, 95.0, surface),
            "assd": mean, "masd": mean,
            "nsd": float(w[d <= tolerance_mm].sum() / w.sum())}


def _part_metrics(sd: SurfaceDistances, in_part, facing, tolerance_mm, hd95_mode):
    nan = dict.fromkeys(PART_KEYS[1:6], math.nan)
    if not in_part.any():
        return nan
    t2p, tw = sd.truth_to_pred[in_part], sd.truth_weights[in_part]
    if sd.pred_empty:
        return {"hd": math.inf, "hd95": math.inf, "assd": math.inf, "masd": math.inf,
                "nsd": 0.0}
    if not facing.any():
        return _directed(t2p, tw, tolerance_mm, sd.surface)
    part = SurfaceDistances(t2p, sd.pred_to_truth[facing], tw, sd.pred_weights[facing],
                            sd.surface)
    return surface_metrics(part, tolerance_mm, hd95_mode)


def _membership(points, tables, surface):
    """(in distinct, in completed) of truth points; a part not given is all False."""
    return [touching(points, *tables[p], surface) if p in tables
            else np.zeros(len(points), bool) for p in PARTS]


def _border_dice(pred_vox, truth_vox, truth_parts, k, spacing, tolerance_mm):
    """Surface Dice at tolerance on the truth border voxels of part ``k``."""
    border_pts = truth_vox[truth_parts[k]]
    if len(border_pts) == 0:
        return math.nan
    pts, _, _ = pred_vox
    if len(pts) == 0:
        return 0.0
    b2p = _nearest(border_pts, pts, spacing)
    p2t = _nearest(pts, truth_vox, spacing)
    only = truth_parts[k] & ~truth_parts[1 - k]
    facing = _facing(pts, p2t, truth_vox, only, spacing) if only.any() \
        else np.zeros(len(pts), bool)
    p2b = _nearest(pts[facing], border_pts, spacing)
    near = int((b2p <= tolerance_mm).sum()) + int((p2b <= tolerance_mm).sum())
    return near / (len(border_pts) + int(facing.sum()))


def border_scores(sd: SurfaceDistances, tables: dict, spacing, tolerance_mm: float = 1.0,
                  hd95_mode: str = "max", voxels=None) -> dict[str, float]:
    """The border keys (:data:`KEYS`) of one structure.

    Parameters
    ----------
    sd
        Surface distances of the structure, with points (:func:`distances_between`).
    tables
        ``{part: (array, table)}`` of this structure (:func:`check_borders`).
    voxels
        ``(truth, pred)`` border-voxel surfaces ``(points, weights, codes)`` of the
        structure, for ``border_dice`` (None: ``border_dice`` is NaN).
    """
    out = dict.fromkeys(KEYS, math.nan)
    if not tables:
        return out
    parts = _membership(sd.truth_points, tables, sd.surface)
    total = sd.truth_weights.sum()
    vox_parts = None
    if voxels is not None:
        truth_vox, pred_vox = voxels
        vox_parts = _membership(truth_vox[0], tables, "voxel")
    for k, part in enumerate(PARTS):
        if part not in tables:
            continue
        in_part = parts[k]
        only = in_part & ~parts[1 - k]
        facing = _facing(sd.pred_points, sd.pred_to_truth, sd.truth_points, only, spacing) \
            if only.any() and not sd.pred_empty else np.zeros(len(sd.pred_to_truth), bool)
        row = _part_metrics(sd, in_part, facing, tolerance_mm, hd95_mode)
        row["area_share"] = float(sd.truth_weights[in_part].sum() / total) if total > 0 \
            else math.nan
        if vox_parts is not None:
            row["border_dice"] = _border_dice(pred_vox, truth_vox[0], vox_parts, k, spacing,
                                              tolerance_mm)
        out.update({f"{part}_{key}": float(v) for key, v in row.items()})
    return out
