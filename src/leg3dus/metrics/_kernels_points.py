"""Numba kernels of the metrics: the surface points (surfels or border voxels) of several
structures at once inside their bounding box, and the image contrast across each
surfel's cell.

Structures are given as ``spread``, a table of 256 words: bit ``4 s`` of ``spread[v]``
is set when voxel value ``v`` belongs to structure ``s`` (one label value, or every
muscle value for the union). Volumes are uint8 in (z, y, x) order;
nothing the size of a volume is allocated.
"""

from __future__ import annotations

import numba
import numpy as np


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
