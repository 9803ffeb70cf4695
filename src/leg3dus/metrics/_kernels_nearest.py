"""Numba kernels of the metrics: exact nearest-point distances (mm) between two sets of
(z, y, x) grid points, by a bucketed ring search with a k-d tree for the few far
queries."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _bucket(points, cell, origin, dims):
    """The points sorted by cubic cell of ``cell`` indices (a contiguous copy) and, per
    cell id ``(c0 * dims[1] + c1) * dims[2] + c2``, the start of its run."""
    n = len(points)
    ids = np.empty(n, np.int64)
    for k in range(n):
        c0 = (points[k, 0] - origin[0]) // cell
        c1 = (points[k, 1] - origin[1]) // cell
        c2 = (points[k, 2] - origin[2]) // cell
        ids[k] = (c0 * dims[1] + c1) * dims[2] + c2
    starts = np.zeros(dims[0] * dims[1] * dims[2] + 1, np.int64)
    for k in range(n):
        starts[ids[k] + 1] += 1
    for k in range(1, len(starts)):
        starts[k] += starts[k - 1]
    fill = starts[:-1].copy()
    pts = np.empty((n, 3), np.int32)
    for k in range(n):
        j = fill[ids[k]]
        fill[ids[k]] += 1
        for a in range(3):
            pts[j, a] = points[k, a]
    return pts, starts


@numba.njit(cache=True, nogil=True)
def _cell_offsets(cell, s2, radius):
    """Cell offsets within Chebyshev distance ``radius``, sorted by the squared distance
    (mm2) below which no point of that cell can lie, wherever the query is in its cell."""
    w = 2 * radius + 1
    off = np.empty((w * w * w, 3), np.int64)
    bound = np.empty(w * w * w)
    k = 0
    for a in range(-radius, radius + 1):
        for b in range(-radius, radius + 1):
            for c in range(-radius, radius + 1):
                off[k, 0], off[k, 1], off[k, 2] = a, b, c
                v = 0.0
                for axis, o in enumerate((a, b, c)):
                    if o != 0:
                        gap = (abs(o) - 1) * cell + 1
                        v += gap * gap * s2[axis]
                bound[k] = v
                k += 1
    order = np.argsort(bound, kind="mergesort")
    return off[order], bound[order]


@numba.njit(cache=True, parallel=True)
def ring_search(queries, points, spacing, cell, radius):
    """Euclidean distance (mm) from each query to the nearest of ``points``; both are
    integer (z, y, x) grid indices, ``spacing`` in mm.

    The points are bucketed in cubic cells of ``cell`` indices. Each query visits the
    cells within ``radius`` cells of its own in increasing order of the least distance a
    point of that cell can have, skips cells whose box lies farther than the best distance
    so far, and stops as soon as no remaining cell can hold a nearer point. A query not
    settled within ``radius`` cells gets minus the nearest distance found (-inf if none).
    ``inf`` for every query when there are no points.
    """
    out = np.empty(len(queries), np.float64)
    if len(points) == 0:
        out[:] = np.inf
        return out
    origin = np.empty(3, np.int64)
    dims = np.empty(3, np.int64)
    for a in range(3):
        origin[a] = points[:, a].min()
        dims[a] = (points[:, a].max() - origin[a]) // cell + 1
    pts, starts = _bucket(points, cell, origin, dims)
    s2 = spacing * spacing
    off, bound = _cell_offsets(cell, s2, radius)
    beyond = (radius * cell + 1) ** 2 * s2.min()
    for k in numba.prange(len(queries)):
        q0, q1, q2 = queries[k, 0], queries[k, 1], queries[k, 2]
        c0 = (q0 - origin[0]) // cell
        c1 = (q1 - origin[1]) // cell
        c2 = (q2 - origin[2]) // cell
        best = np.inf
        for j in range(len(off)):
            if bound[j] >= best:
                break
            a, b, c = c0 + off[j, 0], c1 + off[j, 1], c2 + off[j, 2]
            if a < 0 or b < 0 or c < 0 or a >= dims[0] or b >= dims[1] or c >= dims[2]:
                continue
            cid = (a * dims[1] + b) * dims[2] + c
            if starts[cid] == starts[cid + 1]:
                continue
            # Gap from the query to the cell's box, per axis, in indices.
            lo0 = origin[0] + a * cell
            lo1 = origin[1] + b * cell
            lo2 = origin[2] + c * cell
            g0 = max(lo0 - q0, q0 - lo0 - cell + 1, 0)
            g1 = max(lo1 - q1, q1 - lo1 - cell + 1, 0)
            g2 = max(lo2 - q2, q2 - lo2 - cell + 1, 0)
            if g0 * g0 * s2[0] + g1 * g1 * s2[1] + g2 * g2 * s2[2] >= best:
                continue
            for t in range(starts[cid], starts[cid + 1]):
                d0 = float(pts[t, 0] - q0)
                d1 = float(pts[t, 1] - q1)
                d2 = float(pts[t, 2] - q2)
                d = d0 * d0 * s2[0] + d1 * d1 * s2[1] + d2 * d2 * s2[2]
                if d < best:
                    best = d
        out[k] = np.sqrt(best) if best <= beyond else -np.sqrt(best)
    return out


#: Widest search (in cells) before the k-d tree takes over; its offset table has
#: (2 r + 1)^3 entries.
_MAX_RADIUS = 32


def nearest_distances(queries, points, spacing, cell=4, radius=6, max_mm=None):
    """Exact distance (mm) from each query to the nearest point: the bucketed search of
    :func:`ring_search` settles the near queries; the few far ones (an outlier, a missed
    part) go to a k-d tree. With ``max_mm``, far queries get ``inf`` instead (enough to
    know that they lie farther than ``max_mm``)."""
    spacing = np.asarray(spacing, np.float64)
    if max_mm is not None:
        radius = int(np.ceil(max_mm / (cell * spacing.min()))) + 1
    out = ring_search(queries, points, spacing, cell, radius)
    far = out < 0
    if max_mm is not None:
        # Unsettled queries with nothing found within max_mm lie farther than max_mm.
        beyond = far & (-out > max_mm)
        out[beyond] = np.inf
        far &= ~beyond
    found = far & np.isfinite(out)
    if found.any():
        # The nearest point found so far bounds the search: widen it for these queries.
        wider = int(np.ceil(((-out[found]).max() / spacing.min() - 1) / cell))
        if wider <= _MAX_RADIUS:
            idx = np.flatnonzero(found)
            out[idx] = ring_search(queries[idx], points, spacing, cell, max(wider, radius))
            far[idx] = False
    if far.any():
        from scipy.spatial import cKDTree

        tree = cKDTree(points * spacing, balanced_tree=False, compact_nodes=False)
        out[far] = tree.query(queries[far] * spacing)[0]
    return out
