"""Pixel-based nearest-neighbour insertion with PLUS's arithmetic at each optimisation level.

``FULL`` and ``PARTIAL`` follow IGSIO's ``vtkIGSIOPasteSliceIntoVolumeHelperOptimized.h``
(``vtkOptimizedInsertSlice`` and the two ``vtkFreehand2OptimizedNNHelper`` overloads):
pixel positions in fixed point (14 fractional bits, FULL) or doubles (PARTIAL), row by
row; ``NONE`` follows ``vtkIGSIOPasteSliceIntoVolumeHelperUnoptimized.h``
(``vtkUnoptimizedInsertSlice`` and ``vtkNearestNeighborInterpolation``): every pixel
through the whole matrix in doubles, clip and fan tested per pixel.

The optimized helpers, in IMPORTANCE_MASK compounding, leave a row at the first pixel of
weight 0 without advancing their input and weight pointers, and do not advance the
weight pointer on the accumulation-overflow branch; later pixels of the frame are then
read from earlier positions. PLUS's volumes carry that, so these kernels reproduce it
(tracked as pointer lags). The unoptimized path skips a weight-0 pixel only.
"""

from __future__ import annotations

import numba
import numpy as np

MEAN, MAXIMUM, LATEST, IMPORTANCE = 0, 1, 2, 3
_HALF = 1 << 13
_THRESHOLD = 65279
_MAX = 65535
_SHIFT = 103079215104  # 1.5 * 2**36: igsioMath::Round / Floor on 64-bit builds


@numba.njit(cache=True)
def plus_round(x):
    """igsioMath::Round(double): x rounded to 2**-16 (half to even), then floor(x + 0.5)."""
    return np.int64(x + 103079215104.5) - _SHIFT


@numba.njit(cache=True)
def plus_floor(x):
    """igsioMath::Floor(double): x rounded to 2**-16 (half to even), then floored."""
    return np.int64(x + 103079215104.0) - _SHIFT


@numba.njit(cache=True)
def _cdiv(num, den):
    # C integer division truncates toward zero
    q = abs(num) // den
    return -q if num < 0 else q


@numba.njit(cache=True)
def nn_mean(v, o, a, add, wgt, is_float):
    """``(in * wgt + out * acc) / (acc + add)`` in the pixel type's arithmetic (C)."""
    if is_float:
        return (np.float32(v) * np.float32(wgt) + np.float32(o) * np.float32(a)) / \
            np.float32(a + add)
    return np.float64(_cdiv(np.int64(v) * wgt + np.int64(o) * a, a + add))


@numba.njit(cache=True)
def nn_overflow(v, o):
    """``(T)(in * 1/256 + out * 255/256)``: the recursive filter once a voxel is full."""
    return np.float64(v) * (1.0 / 256) + np.float64(o) * (255.0 / 256)


@numba.njit(cache=True)
def _store(out, z, y, x, val, is_float):
    if is_float:
        out[z, y, x] = np.float32(val)
    else:
        out[z, y, x] = np.int64(val)  # C conversion truncates toward zero


@numba.njit(cache=True)
def _index(fm, dm, fixed, row, col):
    if fixed:
        ix = (fm[0, 3] + row * fm[0, 1] + col * fm[0, 0] + _HALF) >> 14
        iy = (fm[1, 3] + row * fm[1, 1] + col * fm[1, 0] + _HALF) >> 14
        iz = (fm[2, 3] + row * fm[2, 1] + col * fm[2, 0] + _HALF) >> 14
        return ix, iy, iz
    # outPoint1 = (origin + 0 * zAxis) + idY * yAxis; outPoint = outPoint1 + idX * xAxis
    px = ((dm[0, 3] + 0.0 * dm[0, 2]) + row * dm[0, 1]) + col * dm[0, 0]
    py = ((dm[1, 3] + 0.0 * dm[1, 2]) + row * dm[1, 1]) + col * dm[1, 0]
    pz = ((dm[2, 3] + 0.0 * dm[2, 2]) + row * dm[2, 1]) + col * dm[2, 0]
    return plus_round(px), plus_round(py), plus_round(pz)


@numba.njit(cache=True)
def _inside(ix, iy, iz, nz, ny, nx):
    return 0 <= ix < nx and 0 <= iy < ny and 0 <= iz < nz


@numba.njit(cache=True)
def nn_optimized(frame, imp, fm, dm, fixed, seg, out, acc, mode, reject, thr, is_float):
    """Insert one frame (h, w) into ``out``/``acc`` (z, y, x), FULL (``fixed``) or PARTIAL."""
    nz, ny, nx = out.shape
    h, w = frame.shape
    flat = frame.ravel()
    wflat = imp.ravel()
    lag_p = 0
    lag_q = 0
    for row in range(h):
        s0, s1, k0, k1 = seg[row, 0], seg[row, 1], seg[row, 2], seg[row, 3]
        # the in-grid run of the row (vtkUltraFindExtent), cut by fan and clip
        xs, xe = s1 + 1, s0 - 1
        for col in range(s0, s1 + 1):
            ix, iy, iz = _index(fm, dm, fixed, row, col)
            if _inside(ix, iy, iz, nz, ny, nx):
                if xs > s1:
                    xs = col
                xe = col
        if xs > xe:
            continue
        # the skipped middle run (inside FanRadiusStart), as vtkOptimizedInsertSlice cuts it
        a0, b0, a1, b1 = xs, xe, 1, 0
        if k0 <= k1:
            if k0 < xs:
                if xs < k1 + 1:
                    a0 = k1 + 1
            elif k1 > xe:
                if xe > k0 - 1:
                    b0 = k0 - 1
            else:
                a0, b0, a1, b1 = xs, k0 - 1, k1 + 1, xe
        for part in range(2):
            start, end = (a0, b0) if part == 0 else (a1, b1)
            for col in range(start, end + 1):
                pos = row * w + col
                v = flat[pos - lag_p]
                if reject and np.float64(v) < thr:
                    continue
                ix, iy, iz = _index(fm, dm, fixed, row, col)
                if not _inside(ix, iy, iz, nz, ny, nx):
                    continue
                a = np.int64(acc[iz, iy, ix])
                o = out[iz, iy, ix]
                if mode == MEAN or mode == IMPORTANCE:
                    if a <= _THRESHOLD:
                        wgt = 256
                        if mode == IMPORTANCE:
                            wgt = np.int64(wflat[pos - lag_q])
                            if wgt == 0:  # PLUS leaves the row here, pointers unmoved
                                lag_p += end - col + 1
                                lag_q += end - col + 1
                                break
                        _store(out, iz, iy, ix, nn_mean(v, o, a, wgt, wgt, is_float), is_float)
                        acc[iz, iy, ix] = min(a + wgt, _MAX)
                    else:
                        _store(out, iz, iy, ix, nn_overflow(v, o), is_float)
                        if mode == IMPORTANCE:
                            lag_q += 1
                elif mode == MAXIMUM:
                    if o < v:
                        out[iz, iy, ix] = v
                    acc[iz, iy, ix] = 256
                else:
                    out[iz, iy, ix] = v
                    acc[iz, iy, ix] = 256


@numba.njit(cache=True, error_model="numpy")
def nn_unoptimized(frame, imp, dm, mask, out, acc, mode, reject, thr, is_float):
    """Insert one frame the NONE way: every kept pixel through the whole matrix."""
    nz, ny, nx = out.shape
    h, w = frame.shape
    for row in range(h):
        for col in range(w):
            if not mask[row, col]:
                continue
            v = frame[row, col]
            if reject and np.float64(v) < thr:
                continue
            x, y = np.float64(col), np.float64(row)
            px = ((dm[0, 0] * x + dm[0, 1] * y) + dm[0, 2] * 0.0) + dm[0, 3]
            py = ((dm[1, 0] * x + dm[1, 1] * y) + dm[1, 2] * 0.0) + dm[1, 3]
            pz = ((dm[2, 0] * x + dm[2, 1] * y) + dm[2, 2] * 0.0) + dm[2, 3]
            pw = ((dm[3, 0] * x + dm[3, 1] * y) + dm[3, 2] * 0.0) + dm[3, 3]
            ix, iy, iz = plus_round(px / pw), plus_round(py / pw), plus_round(pz / pw)
            if not _inside(ix, iy, iz, nz, ny, nx):
                continue
            a = np.int64(acc[iz, iy, ix])
            o = out[iz, iy, ix]
            if mode == MEAN or mode == IMPORTANCE:
                if a <= _THRESHOLD:
                    wgt = 256 if mode == MEAN else np.int64(imp[row, col])
                    if wgt == 0:
                        continue
                    _store(out, iz, iy, ix, nn_mean(v, o, a, wgt, wgt, is_float), is_float)
                    acc[iz, iy, ix] = min(a + wgt, _MAX)
                else:
                    _store(out, iz, iy, ix, nn_overflow(v, o), is_float)
            else:
                if mode == LATEST or o < v:
                    out[iz, iy, ix] = v
                acc[iz, iy, ix] = min(a + 256, _MAX)


def unoptimized_mask(height: int, width: int, clip, fan) -> np.ndarray:
    """Pixels the NONE path keeps: inside the clip extent and, with a fan, inside it.

    ``clip`` is (x0, x1, y0, y1) inclusive; ``fan`` is None or (tan_left, tan_right,
    origin_x, origin_y, radius_start, radius_stop) in pixels. A pixel at ``x, y`` from the
    fan origin is kept unless ``y < 0``, ``x / y`` lies outside the two tangents or its
    squared distance lies outside the squared radii (IGSIO ``vtkUnoptimizedInsertSlice``).

    Examples
    --------
    >>> unoptimized_mask(3, 4, (1, 2, 0, 2), None).astype(int)
    array([[0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 1, 1, 0]])
    """
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    x0, x1, y0, y1 = clip
    keep = (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)
    if fan is not None:
        t0, t1, fox, foy, r0, r1 = fan
        x, y = cols - fox, rows - foy
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = x / y
        d2 = x * x + y * y
        out = (y < 0) | (ratio < t0) | (ratio > t1) | (d2 < r0 * r0) | (d2 > r1 * r1)
        keep &= ~out
    return keep
