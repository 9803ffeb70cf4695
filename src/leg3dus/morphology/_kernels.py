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
