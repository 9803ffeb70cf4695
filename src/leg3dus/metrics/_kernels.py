"""Single-pass numba kernels over full label volumes: joint value counts with bounding
boxes, and the surface points of one structure inside its bounding box.

A structure is given as ``member``, a boolean table of 256 entries: voxel ``v`` belongs
to it when ``member[v]`` (one label value, or every muscle value for the union). Volumes
are uint8 in (z, y, x) order; nothing the size of a volume is allocated.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def joint_stats(pred, truth):
    """Joint histogram ``hist[p, t]`` of two uint8 volumes and the bounding box of every
    value in each, as ``box[v] = (z0, y0, x0, z1, y1, x1)`` with exclusive ends (z0 > z1
    when the value is absent)."""
    nz, ny, nx = pred.shape
    hist = np.zeros((256, 256), np.int64)
    big = max(nz, ny, nx) + 1
    box_p = np.empty((256, 6), np.int64)
    box_t = np.empty((256, 6), np.int64)
    for v in range(256):
        for k in range(3):
            box_p[v, k] = big
            box_t[v, k] = big
            box_p[v, 3 + k] = -1
            box_t[v, 3 + k] = -1
    for z in range(nz):
        for y in range(ny):
            for x in range(nx):
                p = pred[z, y, x]
                t = truth[z, y, x]
                hist[p, t] += 1
                if p != 0:
                    _grow(box_p, p, z, y, x)
                if t != 0:
                    _grow(box_t, t, z, y, x)
    for v in range(256):
        for k in range(3):
            if box_p[v, 3 + k] >= 0:
                box_p[v, 3 + k] += 1
            if box_t[v, 3 + k] >= 0:
                box_t[v, 3 + k] += 1
    return hist, box_p, box_t


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


@numba.njit(inline="always")
def _inside(labels, member, z, y, x):
    nz, ny, nx = labels.shape
    if z < 0 or y < 0 or x < 0 or z >= nz or y >= ny or x >= nx:
        return False
    return member[labels[z, y, x]]


@numba.njit(nogil=True)
def _sweep(labels, member, lo, hi, coords, codes, fill):
    # One pass over the voxel planes of the box; the 4-bit code of a corner (y, x) in a
    # plane has bit 8 for voxel (y-1, x-1), 4 (y-1, x), 2 (y, x-1), 1 (y, x).
    ny, nx = hi[1] - lo[1] + 1, hi[2] - lo[2] + 1
    prev = np.zeros((ny, nx), np.uint8)
    cur = np.zeros((ny, nx), np.uint8)
    n = 0
    for z in range(lo[0] - 1, hi[0] + 1):
        cur[:] = 0
        if 0 <= z < labels.shape[0]:
            for y in range(lo[1], hi[1]):
                j = y - lo[1]
                row = labels[z, y]
                for x in range(lo[2], hi[2]):
                    if member[row[x]]:
                        i = x - lo[2]
                        cur[j, i] |= 1
                        cur[j, i + 1] |= 2
                        cur[j + 1, i] |= 4
                        cur[j + 1, i + 1] |= 8
        if z >= lo[0]:
            for j in range(ny):
                for i in range(nx):
                    code = (prev[j, i] << 4) | cur[j, i]
                    if code != 0 and code != 255:
                        if fill:
                            coords[n, 0] = z
                            coords[n, 1] = lo[1] + j
                            coords[n, 2] = lo[2] + i
                            codes[n] = code
                        n += 1
        prev, cur = cur, prev
    return n


@numba.njit(cache=True, nogil=True)
def surfel_points(labels, member, lo, hi):
    """Corners whose 2x2x2 cell holds both structure and background, for the voxel box
    ``lo..hi`` (exclusive ends, inside the volume, holding all of the structure): their
    (z, y, x) corner indices (corner ``i`` lies between voxels ``i - 1`` and ``i``) and
    their neighbour codes, bit ``128 >> (4a + 2b + c)`` set when voxel
    (z-1+a, y-1+b, x-1+c) is inside, as DeepMind's ``ENCODE_NEIGHBOURHOOD_3D_KERNEL``."""
    coords = np.empty((0, 3), np.int32)
    codes = np.empty(0, np.uint8)
    n = _sweep(labels, member, lo, hi, coords, codes, False)
    coords = np.empty((n, 3), np.int32)
    codes = np.empty(n, np.uint8)
    _sweep(labels, member, lo, hi, coords, codes, True)
    return coords, codes


@numba.njit(inline="always")
def _is_border(labels, member, z, y, x):
    if not _inside(labels, member, z, y, x):
        return False
    return not (_inside(labels, member, z - 1, y, x) and _inside(labels, member, z + 1, y, x)
                and _inside(labels, member, z, y - 1, x)
                and _inside(labels, member, z, y + 1, x)
                and _inside(labels, member, z, y, x - 1)
                and _inside(labels, member, z, y, x + 1))


@numba.njit(cache=True, nogil=True)
def border_voxels(labels, member, lo, hi):
    """Voxels of the structure in the box ``lo..hi`` with a face neighbour outside it
    (outside the volume counts as outside): their (z, y, x) indices."""
    n = 0
    for z in range(lo[0], hi[0]):
        for y in range(lo[1], hi[1]):
            for x in range(lo[2], hi[2]):
                if _is_border(labels, member, z, y, x):
                    n += 1
    coords = np.empty((n, 3), np.int32)
    i = 0
    for z in range(lo[0], hi[0]):
        for y in range(lo[1], hi[1]):
            for x in range(lo[2], hi[2]):
                if _is_border(labels, member, z, y, x):
                    coords[i, 0] = z
                    coords[i, 1] = y
                    coords[i, 2] = x
                    i += 1
    return coords


@numba.njit(cache=True, nogil=True)
def _bucket(points, cell, origin, dims):
    ids = np.empty(len(points), np.int64)
    for k in range(len(points)):
        c0 = (points[k, 0] - origin[0]) // cell
        c1 = (points[k, 1] - origin[1]) // cell
        c2 = (points[k, 2] - origin[2]) // cell
        ids[k] = (c0 * dims[1] + c1) * dims[2] + c2
    order = np.argsort(ids, kind="mergesort")
    starts = np.zeros(dims[0] * dims[1] * dims[2] + 1, np.int64)
    for k in range(len(points)):
        starts[ids[k] + 1] += 1
    for k in range(1, len(starts)):
        starts[k] += starts[k - 1]
    return order, starts


@numba.njit(inline="always")
def _scan_cell(q, points, order, starts, cid, s2, best):
    for t in range(starts[cid], starts[cid + 1]):
        p = order[t]
        d0 = float(points[p, 0] - q[0])
        d1 = float(points[p, 1] - q[1])
        d2 = float(points[p, 2] - q[2])
        d = d0 * d0 * s2[0] + d1 * d1 * s2[1] + d2 * d2 * s2[2]
        if d < best:
            best = d
    return best


@numba.njit(cache=True, parallel=True)
def ring_search(queries, points, spacing, cell, max_rings):
    """Euclidean distance (mm) from each query to the nearest of ``points``; both are
    integer (z, y, x) grid indices, ``spacing`` in mm. The points are bucketed in cubic
    cells of ``cell`` indices and each query scans rings of cells outwards until no
    unvisited cell can hold a nearer point, or until ``max_rings`` rings: a query not
    settled by then gets minus the nearest distance found so far (-inf if none).
    ``inf`` for every query when there are no points."""
    out = np.empty(len(queries), np.float64)
    if len(points) == 0:
        out[:] = np.inf
        return out
    origin = np.empty(3, np.int64)
    dims = np.empty(3, np.int64)
    for a in range(3):
        origin[a] = points[:, a].min()
        dims[a] = (points[:, a].max() - origin[a]) // cell + 1
    order, starts = _bucket(points, cell, origin, dims)
    s2 = spacing * spacing
    smin = spacing.min()
    for k in numba.prange(len(queries)):
        q = queries[k]
        q0 = (q[0] - origin[0]) // cell
        q1 = (q[1] - origin[1]) // cell
        q2 = (q[2] - origin[2]) // cell
        r = max(-q0, q0 - dims[0] + 1, -q1, q1 - dims[1] + 1, -q2, q2 - dims[2] + 1, 0)
        r_end = r + max_rings
        best = np.inf
        settled = False
        while r <= r_end:
            if r >= 1:
                bound = ((r - 1) * cell + 1) * smin
                if best <= bound * bound:
                    settled = True
                    break
            lo0, hi0 = max(q0 - r, 0), min(q0 + r, dims[0] - 1)
            lo1, hi1 = max(q1 - r, 0), min(q1 + r, dims[1] - 1)
            lo2, hi2 = max(q2 - r, 0), min(q2 + r, dims[2] - 1)
            for c0 in range(lo0, hi0 + 1):
                edge0 = abs(c0 - q0) == r
                for c1 in range(lo1, hi1 + 1):
                    if edge0 or abs(c1 - q1) == r:
                        for c2 in range(lo2, hi2 + 1):
                            cid = (c0 * dims[1] + c1) * dims[2] + c2
                            best = _scan_cell(q, points, order, starts, cid, s2, best)
                    else:
                        for c2 in (q2 - r, q2 + r):
                            if lo2 <= c2 <= hi2:
                                cid = (c0 * dims[1] + c1) * dims[2] + c2
                                best = _scan_cell(q, points, order, starts, cid, s2, best)
            r += 1
        if not settled:
            bound = ((r - 1) * cell + 1) * smin
            settled = best <= bound * bound
        out[k] = np.sqrt(best) if settled else -np.sqrt(best)
    return out


def nearest_distances(queries, points, spacing, cell=4, max_rings=3, max_mm=None):
    """Exact distance (mm) from each query to the nearest point: a ring search over
    bucketed points settles the near queries; the few far ones (an outlier, a missed
    part) go to a k-d tree. With ``max_mm``, far queries get ``inf`` instead (enough to
    know that they lie farther than ``max_mm``)."""
    spacing = np.asarray(spacing, np.float64)
    if max_mm is not None:
        max_rings = int(np.ceil(max_mm / (cell * spacing.min()))) + 1
    out = ring_search(queries, points, spacing, cell, max_rings)
    far = out < 0
    if max_mm is not None:
        # Unsettled queries with nothing found within max_mm lie farther than max_mm.
        beyond = far & (-out > max_mm)
        out[beyond] = np.inf
        far &= ~beyond
    if far.any():
        from scipy.spatial import cKDTree

        tree = cKDTree(points * spacing, balanced_tree=False, compact_nodes=False)
        out[far] = tree.query(queries[far] * spacing)[0]
    return out
