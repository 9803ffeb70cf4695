"""Numba kernels of the metrics: joint value counts with bounding boxes in one pass over
two label volumes; the surface points (surfels or border voxels) of several structures
at once inside their bounding box; exact nearest-point distances between point sets;
an area-weighted percentile.

Structures are given as ``spread``, a table of 256 words: bit ``4 s`` of ``spread[v]``
is set when voxel value ``v`` belongs to structure ``s`` (one label value, or every
muscle value for the union). Volumes are uint8 in (z, y, x) order; nothing the size of a
volume is allocated.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(nogil=True)
def _joint_chunk(pred, truth, z0, z1, hist, box_p, box_t):
    ny, nx = pred.shape[1], pred.shape[2]
    for z in range(z0, z1):
        for y in range(ny):
            for x in range(nx):
                p = pred[z, y, x]
                t = truth[z, y, x]
                hist[p, t] += 1
                if p != 0:
                    _grow(box_p, p, z, y, x)
                if t != 0:
                    _grow(box_t, t, z, y, x)


def joint_stats(pred, truth):
    """Joint histogram ``hist[p, t]`` of two uint8 volumes and the bounding box of every
    value in each, as ``box[v] = (z0, y0, x0, z1, y1, x1)`` with exclusive ends (z0 > z1
    when the value is absent). Slabs along z are counted in parallel."""
    return _joint_stats(pred, truth, 4 * numba.get_num_threads())


@numba.njit(cache=True, parallel=True)
def _joint_stats(pred, truth, n_chunks):
    nz, ny, nx = pred.shape
    n_chunks = max(1, min(nz, n_chunks))
    edges = np.linspace(0, nz, n_chunks + 1).astype(np.int64)
    hists = np.zeros((n_chunks, 256, 256), np.int64)
    big = max(nz, ny, nx) + 1
    boxes = np.empty((2, n_chunks, 256, 6), np.int64)
    boxes[..., :3] = big
    boxes[..., 3:] = -1
    for c in numba.prange(n_chunks):
        _joint_chunk(pred, truth, edges[c], edges[c + 1], hists[c], boxes[0, c], boxes[1, c])
    hist = hists.sum(axis=0)
    out = np.empty((2, 256, 6), np.int64)
    for w in range(2):
        for v in range(256):
            for k in range(3):
                out[w, v, k] = boxes[w, :, v, k].min()
                hi = boxes[w, :, v, 3 + k].max()
                out[w, v, 3 + k] = hi + 1 if hi >= 0 else -1
    return hist, out[0], out[1]


@numba.njit(inline="always")
def _grow(box, v, z, y, x):
    if z < box[v, 0]:
        box[v, 0] = z
    if y < box[v, 1]:
        box[v, 1] = y
    if x < box[v, 2]:
        box[v, 2] = x
    if z > box[v, 3]:
        box[v, 3] = z
    if y > box[v, 4]:
        box[v, 4] = y
    if x > box[v, 5]:
        box[v, 5] = x


@numba.njit(nogil=True)
def _plane(labels, spread, z, lo, hi, plane):
    # Corner codes of voxel plane z: nibble s of a corner (y, x) holds structure s's bits,
    # 8 for voxel (y-1, x-1), 4 (y-1, x), 2 (y, x-1), 1 (y, x). Outside the volume is
    # outside every structure.
    plane[:] = 0
    if z < 0 or z >= labels.shape[0]:
        return
    for y in range(lo[1], hi[1]):
        j = y - lo[1]
        row = labels[z, y]
        for x in range(lo[2], hi[2]):
            w = spread[row[x]]
            if w:
                i = x - lo[2]
                plane[j, i] |= w
                plane[j, i + 1] |= w << 1
                plane[j + 1, i] |= w << 2
                plane[j + 1, i + 1] |= w << 3


@numba.njit(nogil=True)
def _sweep(labels, spread, n_struct, lo, hi, z0, z1, counts, pos, coords, codes, fill):
    # Corners of planes z0..z1-1 whose cell holds both inside and outside voxels of a
    # structure: counted per structure, or (fill) written at pos[s] onwards.
    ny, nx = hi[1] - lo[1] + 1, hi[2] - lo[2] + 1
    prev = np.empty((ny, nx), np.uint32)
    cur = np.empty((ny, nx), np.uint32)
    _plane(labels, spread, z0 - 1, lo, hi, prev)
    for z in range(z0, z1):
        _plane(labels, spread, z, lo, hi, cur)
        for j in range(ny):
            for i in range(nx):
                p, c = prev[j, i], cur[j, i]
                if p == 0 and c == 0:
                    continue
                for s in range(n_struct):
                    code = (((p >> (4 * s)) & 15) << 4) | ((c >> (4 * s)) & 15)
                    if code != 0 and code != 255:
                        if fill:
                            k = pos[s]
                            coords[k, 0] = z
                            coords[k, 1] = lo[1] + j
                            coords[k, 2] = lo[2] + i
                            codes[k] = code
                            pos[s] = k + 1
                        else:
                            counts[s] += 1
        prev, cur = cur, prev


def surfel_points(labels, spread, n_struct, lo, hi):
    """Surface points of up to eight structures at once, in one parallel pass over the
    voxel box ``lo..hi`` (exclusive ends, inside the volume, holding all of every
    structure). ``spread[v]`` has bit ``4 s`` set when value ``v`` belongs to structure
    ``s``.

    The points of structure ``s`` are ``coords[starts[s]:starts[s + 1]]``, in scan
    order: the corners whose 2x2x2 cell holds both structure and background, as (z, y, x)
    corner indices (corner ``i`` lies between voxels ``i - 1`` and ``i``), and ``codes``
    their neighbour codes, bit ``128 >> (4a + 2b + c)`` set when voxel
    (z-1+a, y-1+b, x-1+c) is inside, as DeepMind's ``ENCODE_NEIGHBOURHOOD_3D_KERNEL``.
    """
    return _points(labels, spread, n_struct, lo, hi, 8 * numba.get_num_threads(), True)


def border_points(labels, spread, n_struct, lo, hi):
    """Border voxels of up to eight structures at once (as :func:`surfel_points`): the
    voxels of a structure with a face neighbour outside it (outside the volume counts as
    outside), as (z, y, x) indices in scan order; ``codes`` is unused."""
    return _points(labels, spread, n_struct, lo, hi, 8 * numba.get_num_threads(), False)


@numba.njit(nogil=True)
def _word(labels, spread, z, y, x):
    nz, ny, nx = labels.shape
    if z < 0 or y < 0 or x < 0 or z >= nz or y >= ny or x >= nx:
        return np.uint32(0)
    return spread[labels[z, y, x]]


@numba.njit(nogil=True)
def _border_sweep(labels, spread, n_struct, lo, hi, z0, z1, counts, pos, coords, fill):
    nz, ny, nx = labels.shape
    for z in range(z0, z1):
        for y in range(lo[1], hi[1]):
            for x in range(lo[2], hi[2]):
                w = spread[labels[z, y, x]]
                if w == 0:
                    continue
                if 0 < z < nz - 1 and 0 < y < ny - 1 and 0 < x < nx - 1:
                    inner = (w & spread[labels[z - 1, y, x]] & spread[labels[z + 1, y, x]]
                             & spread[labels[z, y - 1, x]] & spread[labels[z, y + 1, x]]
                             & spread[labels[z, y, x - 1]] & spread[labels[z, y, x + 1]])
                else:
                    inner = (w & _word(labels, spread, z - 1, y, x)
                             & _word(labels, spread, z + 1, y, x)
                             & _word(labels, spread, z, y - 1, x)
                             & _word(labels, spread, z, y + 1, x)
                             & _word(labels, spread, z, y, x - 1)
                             & _word(labels, spread, z, y, x + 1))
                edge = w & ~inner
                if edge == 0:
                    continue
                for s in range(n_struct):
                    if (edge >> (4 * s)) & 1:
                        if fill:
                            k = pos[s]
                            coords[k, 0] = z
                            coords[k, 1] = y
                            coords[k, 2] = x
                            pos[s] = k + 1
                        else:
                            counts[s] += 1


@numba.njit(cache=True, parallel=True)
def _points(labels, spread, n_struct, lo, hi, n_chunks, surfels):
    # Slabs along z are counted in parallel, then filled in parallel at their offsets.
    z_lo = lo[0]
    z_hi = hi[0] + 1 if surfels else hi[0]
    n_chunks = max(1, min(z_hi - z_lo, n_chunks))
    edges = np.linspace(z_lo, z_hi, n_chunks + 1).astype(np.int64)
    counts = np.zeros((n_chunks, n_struct), np.int64)
    pos = np.zeros((n_chunks, n_struct), np.int64)
    coords = np.empty((0, 3), np.int32)
    codes = np.empty(0, np.uint8)
    for c in numba.prange(n_chunks):
        _slab(labels, spread, n_struct, lo, hi, edges[c], edges[c + 1], counts[c], pos[c],
              coords, codes, False, surfels)
    starts = np.zeros(n_struct + 1, np.int64)
    for s in range(n_struct):
        run = starts[s]
        for c in range(n_chunks):
            pos[c, s] = run
            run += counts[c, s]
        starts[s + 1] = run
    coords = np.empty((starts[n_struct], 3), np.int32)
    codes = np.empty(starts[n_struct] if surfels else 0, np.uint8)
    for c in numba.prange(n_chunks):
        _slab(labels, spread, n_struct, lo, hi, edges[c], edges[c + 1], counts[c], pos[c],
              coords, codes, True, surfels)
    return coords, codes, starts


@numba.njit(nogil=True)
def _slab(labels, spread, n_struct, lo, hi, z0, z1, counts, pos, coords, codes, fill,
          surfels):
    if surfels:
        _sweep(labels, spread, n_struct, lo, hi, z0, z1, counts, pos, coords, codes, fill)
    else:
        _border_sweep(labels, spread, n_struct, lo, hi, z0, z1, counts, pos, coords, fill)


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


@numba.njit(cache=True, nogil=True)
def weighted_percentile(d, w, q):
    """The smallest distance ``d[k]`` whose cumulative weight share, distances in
    increasing order, reaches ``q`` (0..1), without sorting everything: weights are
    summed into bins of distance, and only the bin where the share is reached is sorted.

    Returns ``(value, exact)``; ``exact`` is False when the share at the decision lies
    within rounding of ``q`` (a tie that the order of summation decides), for the caller
    to settle with a full sort.
    """
    n = len(d)
    total = 0.0
    top = 0.0
    for k in range(n):
        total += w[k]
        if d[k] > top:
            top = d[k]
    target = q * total
    tie = 1e-9 * total
    n_bins = 1 << 14
    scale = (n_bins - 1) / top if top > 0 else 0.0
    counts = np.zeros(n_bins, np.int64)
    weights = np.zeros(n_bins)
    for k in range(n):
        b = int(d[k] * scale)
        counts[b] += 1
        weights[b] += w[k]
    below = 0.0
    chosen = -1
    for b in range(n_bins):
        if counts[b] > 0:
            if below + weights[b] >= target:
                chosen = b
                break
            below += weights[b]
    if chosen < 0:
        return top, False
    members = np.empty(counts[chosen], np.int64)
    m = 0
    for k in range(n):
        if int(d[k] * scale) == chosen:
            members[m] = k
            m += 1
    order = np.argsort(d[members], kind="mergesort")
    for j in range(m):
        k = members[order[j]]
        before = below
        below += w[k]
        if below >= target:
            exact = target - before > tie and below - target > tie
            return d[k], exact
    return d[members[order[m - 1]]], False


@numba.njit(cache=True, parallel=True)
def cell_contrast(image, start, points, codes):
    """|mean of the inside voxels - mean of the outside voxels| of each surfel point's
    2x2x2 cell in ``image``, a crop whose voxel 0 is voxel ``start`` of the volume;
    voxels beyond the crop take the value of the nearest voxel in it."""
    out = np.empty(len(points))
    nz, ny, nx = image.shape
    for k in numba.prange(len(points)):
        sum_in = 0.0
        sum_out = 0.0
        n_in = 0
        for c in range(8):
            z = min(max(points[k, 0] - 1 + ((c >> 2) & 1) - start[0], 0), nz - 1)
            y = min(max(points[k, 1] - 1 + ((c >> 1) & 1) - start[1], 0), ny - 1)
            x = min(max(points[k, 2] - 1 + (c & 1) - start[2], 0), nx - 1)
            value = float(image[z, y, x])
            if (codes[k] >> (7 - c)) & 1:
                sum_in += value
                n_in += 1
            else:
                sum_out += value
        out[k] = abs(sum_in / n_in - sum_out / (8 - n_in))
    return out
