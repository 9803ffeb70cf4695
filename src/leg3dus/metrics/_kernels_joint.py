"""Numba kernel of the metrics: joint value counts of two uint8 label volumes (z, y, x)
with the bounding box of every value in each, in one parallel pass; nothing the size of a
volume is allocated."""

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
