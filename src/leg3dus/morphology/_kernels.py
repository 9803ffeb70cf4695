"""numba kernel of the per-slice sums (one pass over a uint8 label volume)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, cache=True, nogil=True)
def slice_sums_u8(labels):
    """Per slice k and value v: count, sum of y indices, sum of x indices (z, y, x)."""
    nz, ny, nx = labels.shape
    counts = np.zeros((nz, 256), np.int64)
    sum_y = np.zeros((nz, 256), np.float64)
    sum_x = np.zeros((nz, 256), np.float64)
    for k in numba.prange(nz):
        for i in range(ny):
            for j in range(nx):
                v = labels[k, i, j]
                if v:
                    counts[k, v] += 1
                    sum_y[k, v] += i
                    sum_x[k, v] += j
    return counts, sum_y, sum_x


@numba.njit(parallel=True, cache=True, nogil=True)
def slice_sums_u8_along(labels, axis, slot, nslots, nblocks):
    """Per slice k along array ``axis`` (1 or 2) and per slot ``slot[value]`` (-1: skip):
    count and sums of the two other indices, in (z, y, x) order. Reads the array in
    memory order, ``nblocks`` parallel blocks of axis 0 with their own sums."""
    n0, n1, n2 = labels.shape
    nk = labels.shape[axis]
    counts = np.zeros((nblocks, nk, nslots), np.int64)
    sum_a = np.zeros((nblocks, nk, nslots), np.float64)
    sum_b = np.zeros((nblocks, nk, nslots), np.float64)
    step = (n0 + nblocks - 1) // nblocks
    for b in numba.prange(nblocks):
        for i in range(b * step, min(n0, (b + 1) * step)):
            for j in range(n1):
                for m in range(n2):
                    s = slot[labels[i, j, m]]
                    if s >= 0:
                        if axis == 1:
                            k, u, w = j, i, m
                        else:
                            k, u, w = m, i, j
                        counts[b, k, s] += 1
                        sum_a[b, k, s] += u
                        sum_b[b, k, s] += w
    return counts.sum(axis=0), sum_a.sum(axis=0), sum_b.sum(axis=0)
