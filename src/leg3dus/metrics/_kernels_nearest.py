"""Numba kernels of the metrics: exact nearest-point distances (mm) between two sets of
(z, y, x) grid points, by a bucketed search that the queries of one cell share (with a
k-d tree for the few queries that no search settles), or, when the two sets lie far
apart, by the distance transform of :mod:`._kernels_edt`.

Why the queries of a cell search together: when two surfaces lie far apart, a query's
search visits every cell of a ball as wide as its distance, nearly all of them empty.
The queries of one cell need the same cells in the same order, so they walk that list
once, each skipping the cells it can rule out; the walk is shared by the ~20-40 queries
of a cell instead of repeated by each.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

from ..core.errors import OptionError
from ._kernels_edt import edt_distances


@numba.njit(cache=True, nogil=True)
def _bucket(points, cell, origin, dims):
    """The points sorted by cubic cell of ``cell`` indices (a contiguous copy), per cell
    id ``(c0 * dims[1] + c1) * dims[2] + c2`` the start of its run, and the sorting
    order (``sorted[j] = points[order[j]]``)."""
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
    order = np.empty(n, np.int64)
    for k in range(n):
        j = fill[ids[k]]
        fill[ids[k]] += 1
        order[j] = k
        for a in range(3):
            pts[j, a] = points[k, a]
    return pts, starts, order


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


@lru_cache(maxsize=16)
def _offsets(cell: int, spacing: tuple, radius: int):
    s = np.asarray(spacing, np.float64)
    return _cell_offsets(cell, s * s, radius)


@numba.njit(cache=True, nogil=True, inline="always")
def _box_gap2(a, b, c, q0, q1, q2, origin, cell, s2):
    """Squared least distance (mm2) from a query to the box of cell (a, b, c)."""
    lo0 = origin[0] + a * cell
    lo1 = origin[1] + b * cell
    lo2 = origin[2] + c * cell
    # Gap from the query to the cell's box, per axis, in indices.
    g0 = max(lo0 - q0, q0 - lo0 - cell + 1, 0)
    g1 = max(lo1 - q1, q1 - lo1 - cell + 1, 0)
    g2 = max(lo2 - q2, q2 - lo2 - cell + 1, 0)
    return g0 * g0 * s2[0] + g1 * g1 * s2[1] + g2 * g2 * s2[2]


@numba.njit(cache=True, nogil=True, inline="always")
def _nearest_in(t0, t1, pts, q0, q1, q2, s2, best):
    """The smaller of ``best`` and the squared distances (mm2) to ``pts[t0:t1]``."""
    for t in range(t0, t1):
        d0 = float(pts[t, 0] - q0)
        d1 = float(pts[t, 1] - q1)
        d2 = float(pts[t, 2] - q2)
        d = d0 * d0 * s2[0] + d1 * d1 * s2[1] + d2 * d2 * s2[2]
        if d < best:
            best = d
    return best


@numba.njit(cache=True, nogil=True, inline="always")
def _search_block(k0, k1, c0, c1, c2, qpts, pts, starts, origin, dims, cell, s2, off,
                  bound, best):
    """Squared nearest distances (mm2) of the queries ``qpts[k0:k1]``, all in cell
    (c0, c1, c2), into ``best``: one walk over the cells in increasing order of their
    lower bound, until no query can find a nearer point."""
    for k in range(k0, k1):
        best[k] = np.inf
    worst = np.inf
    for j in range(len(off)):
        if bound[j] >= worst:
            break
        a, b, c = c0 + off[j, 0], c1 + off[j, 1], c2 + off[j, 2]
        if a < 0 or b < 0 or c < 0 or a >= dims[0] or b >= dims[1] or c >= dims[2]:
            continue
        cid = (a * dims[1] + b) * dims[2] + c
        t0, t1 = starts[cid], starts[cid + 1]
        if t0 == t1:
            continue
        worst = 0.0
        for k in range(k0, k1):
            d_best = best[k]
            if bound[j] < d_best:
                q0, q1, q2 = qpts[k, 0], qpts[k, 1], qpts[k, 2]
                if _box_gap2(a, b, c, q0, q1, q2, origin, cell, s2) < d_best:
                    d_best = _nearest_in(t0, t1, pts, q0, q1, q2, s2, d_best)
                    best[k] = d_best
            if d_best > worst:
                worst = d_best


@numba.njit(cache=True, nogil=True, inline="always")
def _walk_one(q0, q1, q2, pts, starts, origin, dims, cell, s2, off, bound):
    """Squared nearest distance (mm2) of one query walking alone (the walk of
    :func:`_search_block` for a single query, with its state in registers)."""
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
        if _box_gap2(a, b, c, q0, q1, q2, origin, cell, s2) < best:
            best = _nearest_in(starts[cid], starts[cid + 1], pts, q0, q1, q2, s2, best)
    return best


@numba.njit(cache=True, nogil=True)
def _grid(points, cell):
    """The points bucketed in cells of ``cell`` indices: sorted points, run starts, the
    grid's origin (index of its first corner) and its size in cells."""
    origin = np.empty(3, np.int64)
    dims = np.empty(3, np.int64)
    for a in range(3):
        origin[a] = points[:, a].min()
        dims[a] = (points[:, a].max() - origin[a]) // cell + 1
    pts, starts, _ = _bucket(points, cell, origin, dims)
    return pts, starts, origin, dims


@numba.njit(cache=True, parallel=True)
def _walk(queries, pts, starts, origin, dims, spacing, cell, off, bound, radius, shared):
    """Distances of :func:`ring_search` on a bucketed grid of points (:func:`_grid`);
    ``shared``: the queries of a cell walk together, else each walks alone (for a few
    scattered queries, with no bucketing of them)."""
    nq = len(queries)
    out = np.empty(nq, np.float64)
    if nq == 0:
        return out
    s2 = spacing * spacing
    beyond = (radius * cell + 1) ** 2 * s2.min()
    if not shared:
        for k in numba.prange(nq):
            d = _walk_one(queries[k, 0], queries[k, 1], queries[k, 2], pts, starts, origin,
                          dims, cell, s2, off, bound)
            out[k] = np.sqrt(d) if d <= beyond else -np.sqrt(d)
        return out
    qlo = np.empty(3, np.int64)
    qdims = np.empty(3, np.int64)
    for a in range(3):
        qlo[a] = (queries[:, a].min() - origin[a]) // cell
        qdims[a] = (queries[:, a].max() - origin[a]) // cell - qlo[a] + 1
    # The queries bucketed on the same cell grid (shifted to start at their first cell).
    qpts, qstarts, qorder = _bucket(queries, cell, origin + qlo * cell, qdims)
    blocks = np.flatnonzero(qstarts[1:] != qstarts[:-1])
    best = np.empty(nq, np.float64)
    for i in numba.prange(len(blocks)):
        bid = blocks[i]
        c2 = bid % qdims[2] + qlo[2]
        c1 = (bid // qdims[2]) % qdims[1] + qlo[1]
        c0 = bid // (qdims[1] * qdims[2]) + qlo[0]
        k0, k1 = qstarts[bid], qstarts[bid + 1]
        _search_block(k0, k1, c0, c1, c2, qpts, pts, starts, origin, dims, cell, s2, off,
                      bound, best)
        for k in range(k0, k1):
            d = best[k]
            out[qorder[k]] = np.sqrt(d) if d <= beyond else -np.sqrt(d)
    return out


@numba.njit(cache=True, nogil=True)
def _walk_serial(queries, pts, starts, origin, dims, spacing, cell, off, bound, radius):
    """:func:`_walk` of each query alone, on one thread: for a few queries (a sample),
    where starting threads would cost more than the walks."""
    out = np.empty(len(queries), np.float64)
    s2 = spacing * spacing
    beyond = (radius * cell + 1) ** 2 * s2.min()
    for k in range(len(queries)):
        d = _walk_one(queries[k, 0], queries[k, 1], queries[k, 2], pts, starts, origin,
                      dims, cell, s2, off, bound)
        out[k] = np.sqrt(d) if d <= beyond else -np.sqrt(d)
    return out


class _Grid:
    """The points of :func:`nearest_distances`, bucketed once for all its walks."""

    def __init__(self, points, spacing, cell):
        self.spacing = np.asarray(spacing, np.float64)
        self.cell = int(cell)
        self.empty = len(points) == 0
        if not self.empty:
            self.arrays = _grid(np.ascontiguousarray(points, np.int32), self.cell)

    def walk(self, queries, radius, shared=True):
        """:func:`_walk` of the queries (``shared`` or alone; a few queries, at most
        :data:`_SAMPLE`, walk alone on one thread)."""
        queries = np.ascontiguousarray(queries, np.int32)
        if self.empty:
            return np.full(len(queries), np.inf)
        off, bound = _offsets(self.cell, tuple(self.spacing.tolist()), int(radius))
        if len(queries) <= _SAMPLE:
            return _walk_serial(queries, *self.arrays, self.spacing, self.cell, off, bound,
                                int(radius))
        return _walk(queries, *self.arrays, self.spacing, self.cell, off, bound,
                     int(radius), shared)


def ring_search(queries, points, spacing, cell, radius):
    """Euclidean distance (mm) from each query to the nearest of ``points``; both are
    integer (z, y, x) grid indices, ``spacing`` in mm.

    The points are bucketed in cubic cells of ``cell`` indices, and so are the queries.
    The queries of one cell walk together through the cells within ``radius`` cells of
    their own, in increasing order of the least distance a point of that cell can have
    from their cell; each query skips the cells whose box lies farther than its best
    distance so far, and the walk stops as soon as no remaining cell can hold a nearer
    point for any of them. A query not settled within ``radius`` cells gets minus the
    nearest distance found (-inf if none). ``inf`` for every query when there are no
    points.

    >>> q = np.array([[0, 0, 0], [9, 0, 0]], np.int32)
    >>> p = np.array([[0, 3, 4]], np.int32)
    >>> ring_search(q, p, np.array([1.0, 1.0, 1.0]), 4, 6).tolist()
    [5.0, 10.295630140987]
    """
    return _Grid(points, spacing, cell).walk(queries, radius)


#: Widest search (in cells) before the k-d tree takes over; its offset table has
#: (2 r + 1)^3 entries.
_MAX_RADIUS = 32
#: Largest box (voxels) that the distance transform may use: one float64 array of it.
MAX_TRANSFORM_VOXELS = 1 << 25
#: Queries whose distance is measured to choose the method.
_SAMPLE = 2000
#: Mean walk per query (cells) from which the queries of a cell walk together.
_SHARED_WALK = 20.0


@numba.njit(cache=True, nogil=True)
def _box_voxels(queries, points):
    """Voxels in the box that holds both point sets (neither empty)."""
    lo = np.full(3, np.iinfo(np.int64).max)
    hi = np.full(3, np.iinfo(np.int64).min)
    for pts in (queries, points):
        for k in range(len(pts)):
            for a in range(3):
                lo[a] = min(lo[a], pts[k, a])
                hi[a] = max(hi[a], pts[k, a])
    return float((hi[0] - lo[0] + 1) * (hi[1] - lo[1] + 1) * (hi[2] - lo[2] + 1))


def plan(queries, points, spacing, cell=4, radius=6, grid=None, transform=True) -> str:
    """How :func:`nearest_distances` finds the distances: ``"transform"`` (the distance
    transform of the box of both sets, :func:`edt_distances`), ``"shared"`` (the cell
    search, the queries of a cell walking together) or ``"alone"`` (the cell search,
    each query walking alone: no bucketing of the queries, best for close sets).

    The search costs each query about the cells of a ball as wide as its distance, (d /
    cell + 1.5)^3 (d in voxels of the finest axis), plus a fixed part (the points it
    reads: about 20 such units); the transform costs about 4 such units per voxel of
    the box (both measured on one CPU thread; both use every thread). Sharing the walk
    pays from about 20 units per query. The distances come from the search of an even
    sample of at most 2000 queries (for a query that finds no point within the search,
    the search's reach), so the choice is deterministic. ``grid``: the points already
    bucketed (:class:`_Grid`); ``transform=False`` rules the transform out."""
    n_q = len(queries)
    if n_q == 0 or len(points) == 0:
        return "alone"
    spacing = np.asarray(spacing, np.float64)
    if grid is None:
        grid = _Grid(points, spacing, cell)
    sample = queries[::-(-n_q // _SAMPLE)]
    d = np.abs(grid.walk(sample, radius, shared=False))
    d = np.where(np.isinf(d), (radius * cell + 1) * spacing.min(), d) / spacing.min()
    walk = float(np.mean((d / cell + 1.5) ** 3))
    if transform:
        box = _box_voxels(np.ascontiguousarray(queries, np.int32),
                          np.ascontiguousarray(points, np.int32))
        if box <= MAX_TRANSFORM_VOXELS and n_q * (walk + 20.0) > 4.0 * box:
            return "transform"
    return "shared" if walk > _SHARED_WALK else "alone"


def use_transform(queries, points, spacing, cell=4, radius=6) -> bool:
    """Whether :func:`plan` chooses the distance transform: yes for a tiny box, no
    for two points against two others in a box of 61^3 voxels.

    >>> a = np.array([[0, 0, 0], [0, 0, 1]], np.int32)
    >>> use_transform(a, a, (1.0, 1.0, 1.0)), use_transform(a, a + 60, (1.0, 1.0, 1.0))
    (True, False)
    """
    return plan(queries, points, spacing, cell, radius) == "transform"


def nearest_distances(queries, points, spacing, cell=4, radius=6, max_mm=None,
                      method="auto"):
    """Exact distance (mm) from each query to the nearest point.

    ``method="search"``: the cell search of :func:`ring_search` settles the near
    queries; the few far ones (an outlier, a missed part) go to a wider search, then to
    a k-d tree. ``method="transform"``: the distance transform of the box of both sets
    (:func:`edt_distances`). ``"auto"`` chooses the transform when the sets lie far
    apart (:func:`plan`). With ``max_mm`` (search only), far queries get
    ``inf`` instead (enough to know that they lie farther than ``max_mm``)."""
    spacing = np.asarray(spacing, np.float64)
    if method not in ("auto", "search", "transform"):
        raise OptionError(f"unknown nearest-distance method {method!r}; expected auto, "
                          "search or transform")
    if max_mm is not None:
        radius = int(np.ceil(max_mm / (cell * spacing.min()))) + 1
    how = "transform" if method == "transform" and max_mm is None else None
    if how is None:
        grid = _Grid(points, spacing, cell)
        how = plan(queries, points, spacing, cell, radius, grid,
                   transform=method == "auto" and max_mm is None)
    if how == "transform":
        return edt_distances(np.ascontiguousarray(queries, np.int32),
                             np.ascontiguousarray(points, np.int32), spacing)
    out = grid.walk(queries, radius, shared=how == "shared")
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
            out[idx] = grid.walk(queries[idx], max(wider, radius))
            far[idx] = False
    if far.any():
        from scipy.spatial import cKDTree

        tree = cKDTree(points * spacing, balanced_tree=False, compact_nodes=False)
        out[far] = tree.query(queries[far] * spacing)[0]
    return out
