"""Pixel-based reconstruction (``pnn``), numerically as PLUS does it; this module holds the
clip/fan row segments, PLUS's FULL (fixed-point) trilinear kernel and the dispatch to the
PARTIAL / NONE kernels (:mod:`.pnn_linear`, :mod:`.pnn_nn`).

Every pixel of the clipped frame is mapped to continuous voxel indices through the
ImagePixel-to-VolumeIndex matrix held in fixed point (14 fractional bits), then either
written to its nearest voxel (``nearest``) or spread over its eight neighbours with
trilinear weights (``linear``). Compounding: ``mean`` (running weighted mean, the weight
kept in a uint16 accumulation buffer, 256 per whole pixel), ``maximum``, ``latest``.
Rounding follows PLUS: ties round up, the nearest-neighbour mean is truncated.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..sweep.config import ReconParams

MODES = {"mean": 0, "maximum": 1, "latest": 2, "importance_mask": 3}
_ONE = 1 << 14
_HALF = 1 << 13
_ACC_THRESHOLD = 65279
_ACC_MAX = 65535
_FLOOR_SHIFT = 103079215104.0  # 1.5 * 2**36, PLUS's fast floor trick (2**-16 resolution)
_FIX_SHIFT = 412316860416.0    # 1.5 * 2**38, fixed-point conversion (2**-14 resolution)


def _plus_floor(v: float) -> int:
    # PLUS floors by adding a large constant, which first rounds to 2**-16.
    return int(math.floor(v + _FLOOR_SHIFT) - _FLOOR_SHIFT)


def _plus_ceil_of(v: float) -> int:
    return -_plus_floor(-v)


def to_fixed(m: np.ndarray) -> np.ndarray:
    """Float matrix -> int64 fixed point with 14 fractional bits (round half to even)."""
    return np.rint(np.asarray(m, np.float64) * _ONE).astype(np.int64)


def row_segments(height: int, width: int, p: ReconParams) -> np.ndarray:
    """Per image row, the pixel columns kept by the clip rectangle and the fan mask.

    Returns (height, 4) int64: first, last kept column, and first, last column of a
    middle run to skip (inside the fan's start radius); first > last when none.
    """
    seg = np.zeros((height, 4), np.int64)
    seg[:, 0], seg[:, 1], seg[:, 2], seg[:, 3] = 0, -1, 1, 0
    if p.clip_rectangle_size[0] > 0 and p.clip_rectangle_size[1] > 0:
        ox, oy = p.clip_rectangle_origin
        sx, sy = p.clip_rectangle_size
    else:
        ox, oy, sx, sy = 0, 0, width - 1, height - 1
    cx0, cx1 = max(0, math.ceil(ox)), min(width - 1, math.floor(ox + sx))
    cy0, cy1 = max(0, math.ceil(oy)), min(height - 1, math.floor(oy + sy))
    rad = 0.017453292519943295
    t0, t1 = (math.tan(a * rad) for a in p.fan_angles_deg)
    t0, t1 = min(t0, t1), max(t0, t1)
    fan = t0 != 0 or t1 != 0
    fox, foy = p.fan_origin_pixel
    r0, r1 = p.fan_radius_start_pixel, p.fan_radius_stop_pixel
    for row in range(cy0, cy1 + 1):
        start, end = cx0, cx1
        skip0, skip1 = 1, 0
        if fan:
            y = row - foy
            start = max(start, _plus_ceil_of(t0 * y + fox + 1))
            end = min(end, _plus_floor(t1 * y + fox - 1))
            d2 = y * y
            if r1 * r1 - d2 < 0:
                start, end = 0, -1
            else:
                dx = math.sqrt(r1 * r1 - d2)
                start = max(start, _plus_ceil_of(fox - dx + 1))
                end = min(end, _plus_floor(fox + dx - 1))
                if r0 * r0 - d2 > 0:
                    dx0 = math.sqrt(r0 * r0 - d2)
                    skip0, skip1 = _plus_ceil_of(fox - dx0 + 1), _plus_floor(fox + dx0 - 1)
        if start <= end:
            seg[row] = (start, end, skip0, skip1)
    return seg


@numba.njit(cache=True)
def _fmul(a, b):
    return (a * b + _HALF) >> 14


@numba.njit(cache=True)
def _fdiv(num, den):
    # fixed / fixed in PLUS: quotient as double, then rounded to 2**-14 (half to even)
    v = np.float64(num) / np.float64(den)
    t = v + _FIX_SHIFT
    return np.int64((t - _FIX_SHIFT) * _ONE)


@numba.njit(cache=True)
def _i32(x):
    # PLUS's fixed type keeps its value in a C int: products and sums wrap at 32 bits.
    # Never reached with uint8 frames; int16 and uint16 means can get there.
    return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648


@numba.njit(cache=True)
def _insert_linear(frame, imp, fm, seg, out, acc, mode, reject, thr):
    nz, ny, nx = out.shape
    h, w = frame.shape
    fdx = np.zeros(8, np.int64)
    for row in range(h):
        s0, s1, k0, k1 = seg[row, 0], seg[row, 1], seg[row, 2], seg[row, 3]
        if s0 > s1:
            continue
        bx = fm[0, 3] + row * fm[0, 1]
        by = fm[1, 3] + row * fm[1, 1]
        bz = fm[2, 3] + row * fm[2, 1]
        for col in range(s0, s1 + 1):
            if k0 <= col <= k1:
                continue
            v = frame[row, col]  # the frame's own type: LATEST and MAXIMUM copy it
            if reject and np.float64(v) < thr:
                continue
            px = bx + col * fm[0, 0]
            py = by + col * fm[1, 0]
            pz = bz + col * fm[2, 0]
            # PLUS first keeps pixels whose nearest voxel is inside the grid ...
            rx_, ry_, rz_ = (px + _HALF) >> 14, (py + _HALF) >> 14, (pz + _HALF) >> 14
            if rx_ < 0 or ry_ < 0 or rz_ < 0 or rx_ >= nx or ry_ >= ny or rz_ >= nz:
                continue
            x0, y0, z0 = px >> 14, py >> 14, pz >> 14
            fx, fy, fz = px - (x0 << 14), py - (y0 << 14), pz - (z0 << 14)
            x1, y1, z1 = x0 + (fx != 0), y0 + (fy != 0), z0 + (fz != 0)
            # ... then those whose eight neighbours all are.
            if x0 < 0 or y0 < 0 or z0 < 0 or x1 >= nx or y1 >= ny or z1 >= nz:
                continue
            rx, ry, rz = _ONE - fx, _ONE - fy, _ONE - fz
            ryrz, ryfz, fyrz, fyfz = _fmul(ry, rz), _fmul(ry, fz), _fmul(fy, rz), _fmul(fy, fz)
            fdx[0], fdx[1], fdx[2], fdx[3] = (_fmul(rx, ryrz), _fmul(rx, ryfz),
                                              _fmul(rx, fyrz), _fmul(rx, fyfz))
            fdx[4], fdx[5], fdx[6], fdx[7] = (_fmul(fx, ryrz), _fmul(fx, ryfz),
                                              _fmul(fx, fyrz), _fmul(fx, fyfz))
            wgt = np.int64(imp[row, col])
            for j in range(7, -1, -1):
                f = fdx[j]
                if f == 0:
                    continue
                xx = x1 if j >= 4 else x0
                yy = y1 if (j & 2) else y0
                zz = z1 if (j & 1) else z0
                old = np.int64(acc[zz, yy, xx])
                a = old << 14
                if mode == 0:
                    r = old * 64  # acc / 256 in fixed point, exact
                    a = f + r
                    # fixed * integer pixel is an int product (fixed.h operator*(fixed, int))
                    q = _fdiv(_i32(_i32(f * np.int64(v)) + _i32(r * np.int64(out[zz, yy, xx]))),
                              a)
                    out[zz, yy, xx] = (q + _HALF) >> 14
                    a = a * 256
                elif mode == 3:
                    # IMPORTANCE_MASK with F = fixed (vtkTrilinearInterpolation): a = mask * f
                    # + acc; r = in * mask * f / a + (acc / a) * out, each "/" a fixed divide
                    if wgt != 0:
                        a = wgt * f + (old << 14)
                        q = _i32(_fdiv(_i32(_i32(np.int64(v) * wgt) * f), a)
                                 + _i32(_fdiv(old << 14, a) * np.int64(out[zz, yy, xx])))
                        out[zz, yy, xx] = (q + _HALF) >> 14
                elif f >= 2048 and (mode == 2 or v > out[zz, yy, xx]):
                    out[zz, yy, xx] = v
                    a = f * 256
                if a < (_ACC_MAX << 14):
                    acc[zz, yy, xx] = (a + _HALF) >> 14
                else:
                    acc[zz, yy, xx] = _ACC_MAX


def paste_frames(frames: np.ndarray, pix_to_index: np.ndarray, seg: np.ndarray,
                 out: np.ndarray, acc: np.ndarray, interpolation: str = "nearest",
                 compounding: str = "mean", optimization: str = "FULL",
                 importance: np.ndarray | None = None,
                 pixel_rejection_threshold: float | None = None,
                 mask: np.ndarray | None = None) -> None:
    """Insert ``frames`` (n, h, w) into ``out``/``acc`` (z, y, x) in place, in frame order.

    ``pix_to_index`` (n, 4, 4) maps homogeneous pixel (col, row, 0, 1) to continuous
    voxel indices (x, y, z); ``seg`` comes from :func:`row_segments` (FULL, PARTIAL) and
    ``mask`` from :func:`leg3dus.compound.pnn_nn.unoptimized_mask` (NONE);
    ``optimization`` FULL / PARTIAL / NONE selects PLUS's arithmetic; ``importance``
    (h, w) uint8 weights for ``compounding="importance_mask"``; pixels darker than
    ``pixel_rejection_threshold`` are not inserted. ``out`` has the frames' type.

    Examples
    --------
    >>> frames = np.full((1, 2, 2), 7, np.uint8)
    >>> out, acc = np.zeros((1, 2, 2), np.uint8), np.zeros((1, 2, 2), np.uint16)
    >>> seg = row_segments(2, 2, ReconParams())
    >>> paste_frames(frames, np.eye(4)[None], seg, out, acc)
    >>> out[0].tolist(), acc[0].tolist()
    ([[7, 7], [7, 7]], [[256, 256], [256, 256]])
    """
    from .pnn_linear import linear_double
    from .pnn_nn import nn_optimized, nn_unoptimized

    mode = MODES[compounding]
    h, w = frames.shape[1:]
    imp = importance if importance is not None else np.zeros((h, w), np.uint8)
    reject = pixel_rejection_threshold is not None
    thr = float(pixel_rejection_threshold) if reject else 0.0
    is_float = bool(np.issubdtype(frames.dtype, np.floating))
    linear = interpolation == "linear"
    dmats = np.ascontiguousarray(pix_to_index, np.float64)
    if mask is None:
        mask = np.ones((h, w), bool)
    if optimization == "FULL":
        fixed = to_fixed(pix_to_index)
        for i in range(frames.shape[0]):
            if linear:
                _insert_linear(frames[i], imp, fixed[i], seg, out, acc, mode, reject, thr)
            else:
                nn_optimized(frames[i], imp, fixed[i], dmats[i], True, seg, out, acc, mode,
                             reject, thr, is_float)
        return
    unopt = optimization == "NONE"
    for i in range(frames.shape[0]):
        if linear:
            linear_double(frames[i], imp, dmats[i], seg, mask, unopt, out, acc, mode, reject,
                          thr, is_float)
        elif unopt:
            nn_unoptimized(frames[i], imp, dmats[i], mask, out, acc, mode, reject, thr,
                           is_float)
        else:
            nn_optimized(frames[i], imp, np.zeros((4, 4), np.int64), dmats[i], False, seg, out,
                         acc, mode, reject, thr, is_float)
