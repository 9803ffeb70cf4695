"""Pixel-based trilinear insertion in doubles: PLUS's PARTIAL and NONE optimisation levels.

Follows IGSIO ``vtkIGSIOPasteSliceIntoVolumeHelperCommon.h`` (``vtkTrilinearInterpolation``
with F = double): each pixel is spread over its eight neighbour voxels with weights
``rx * ry * rz`` ...; MEAN keeps a running weighted mean rounded by ``igsioMath::Round``
(integer pixel types) and stores ``Round(256 * weight)`` in the accumulation buffer;
MAXIMUM and LATEST write a corner only when its weight is at least 1/8; IMPORTANCE_MASK
weights each pixel by its mask value and accumulates ``weight * mask``. PARTIAL
positions a pixel incrementally along its row and first requires its nearest voxel
inside the grid (``vtkOptimizedInsertSlice``); NONE multiplies the whole matrix per pixel
(``vtkUnoptimizedInsertSlice``). FULL (fixed point) lives in :mod:`.pnn`.
"""

from __future__ import annotations

import numba
import numpy as np

from .pnn_nn import IMPORTANCE, LATEST, MAXIMUM, MEAN, plus_floor, plus_round

_MAX = 65535


@numba.njit(cache=True)
def _corner(out, acc, z, y, x, f, v, wgt, mode, is_float):
    old = np.int64(acc[z, y, x])
    a = np.float64(old)
    o = out[z, y, x]
    if mode == MAXIMUM:
        if f >= 0.125 and v > o:
            out[z, y, x] = v
            a = f * 256
    elif mode == LATEST:
        if f >= 0.125:
            out[z, y, x] = v
            a = f * 256
    elif mode == MEAN:
        r = old / 256.0
        a = f + r
        if is_float:
            out[z, y, x] = np.float32((f * np.float64(v) + r * np.float64(o)) / a)
        else:
            out[z, y, x] = plus_round((f * np.float64(v) + r * np.float64(o)) / a)
        a *= 256
    elif wgt != 0:
        a = wgt * f + old
        if is_float:  # in * mask and out * acc are float products in C
            num = np.float64(np.float32(v) * np.float32(wgt)) * f + \
                np.float64(np.float32(o) * np.float32(old))
            out[z, y, x] = np.float32(num / a)
        else:
            num = np.float64(np.int64(v) * wgt) * f + np.float64(np.int64(o) * old)
            out[z, y, x] = plus_round(num / a)
    if a < _MAX:
        acc[z, y, x] = plus_round(a)
    else:
        acc[z, y, x] = _MAX


@numba.njit(cache=True)
def _trilinear(out, acc, px, py, pz, v, wgt, mode, is_float):
    nz, ny, nx = out.shape
    x0, y0, z0 = plus_floor(px), plus_floor(py), plus_floor(pz)
    fx, fy, fz = px - x0, py - y0, pz - z0
    x1, y1, z1 = x0 + (fx != 0), y0 + (fy != 0), z0 + (fz != 0)
    if x0 < 0 or y0 < 0 or z0 < 0 or x1 > nx - 1 or y1 > ny - 1 or z1 > nz - 1:
        return
    rx, ry, rz = 1 - fx, 1 - fy, 1 - fz
    ryrz, ryfz, fyrz, fyfz = ry * rz, ry * fz, fy * rz, fy * fz
    fdx = (rx * ryrz, rx * ryfz, rx * fyrz, rx * fyfz,
           fx * ryrz, fx * ryfz, fx * fyrz, fx * fyfz)
    for j in range(7, -1, -1):
        f = fdx[j]
        if f == 0:
            continue
        xx = x1 if j >= 4 else x0
        yy = y1 if (j & 2) else y0
        zz = z1 if (j & 1) else z0
        _corner(out, acc, zz, yy, xx, f, v, wgt, mode, is_float)


@numba.njit(cache=True, error_model="numpy")
def linear_double(frame, imp, dm, seg, mask, unoptimized, out, acc, mode, reject, thr,
                  is_float):
    """Insert one frame (h, w) into ``out``/``acc`` (z, y, x), PARTIAL or NONE."""
    nz, ny, nx = out.shape
    h, w = frame.shape
    for row in range(h):
        if unoptimized:
            c0, c1, k0, k1 = 0, w - 1, 1, 0
        else:
            c0, c1, k0, k1 = seg[row, 0], seg[row, 1], seg[row, 2], seg[row, 3]
        for col in range(c0, c1 + 1):
            if unoptimized:
                if not mask[row, col]:
                    continue
            elif k0 <= col <= k1:
                continue
            v = frame[row, col]
            if reject and np.float64(v) < thr:
                continue
            wgt = np.int64(imp[row, col]) if mode == IMPORTANCE else 0
            x, y = np.float64(col), np.float64(row)
            if unoptimized:
                px = ((dm[0, 0] * x + dm[0, 1] * y) + dm[0, 2] * 0.0) + dm[0, 3]
                py = ((dm[1, 0] * x + dm[1, 1] * y) + dm[1, 2] * 0.0) + dm[1, 3]
                pz = ((dm[2, 0] * x + dm[2, 1] * y) + dm[2, 2] * 0.0) + dm[2, 3]
                pw = ((dm[3, 0] * x + dm[3, 1] * y) + dm[3, 2] * 0.0) + dm[3, 3]
                px, py, pz = px / pw, py / pw, pz / pw
            else:
                px = ((dm[0, 3] + 0.0 * dm[0, 2]) + y * dm[0, 1]) + x * dm[0, 0]
                py = ((dm[1, 3] + 0.0 * dm[1, 2]) + y * dm[1, 1]) + x * dm[1, 0]
                pz = ((dm[2, 3] + 0.0 * dm[2, 2]) + y * dm[2, 1]) + x * dm[2, 0]
                rx_, ry_, rz_ = plus_round(px), plus_round(py), plus_round(pz)
                if not (0 <= rx_ < nx and 0 <= ry_ < ny and 0 <= rz_ < nz):
                    continue
            _trilinear(out, acc, px, py, pz, v, wgt, mode, is_float)


__all__ = ["IMPORTANCE", "LATEST", "MAXIMUM", "MEAN", "linear_double"]
