"""Numba kernels of B-mode image formation (see :mod:`leg3dus.phantom.bmode`).

Random numbers come from a counter-based hash of (seed, global voxel index), so a
voxel's scatterer is the same whichever chunk or thread computes it: outputs are
byte-identical across chunk sizes and thread counts.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_DB_PER_NEPER = np.float32(10.0 / math.log(10.0))


@numba.njit(inline="always", cache=True)
def _mix(x):
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def gauss_table(bits: int = 16) -> np.ndarray:
    """Inverse normal CDF at the centres of 2**bits equal-probability bins, times
    sqrt(1/2): a table lookup turns 16 random bits into an N(0, 1/2) sample."""
    from scipy.special import ndtri

    q = (np.arange(2**bits, dtype=np.float64) + 0.5) / 2**bits
    return (ndtri(q) * math.sqrt(0.5)).astype(np.float32)


@numba.njit(parallel=True, cache=True)
def scatter_inplane(tissue, offset, full, key, echo, step, half, gain_step, noise, table,
                    wy, wx, limit, skin_out):
    """Complex scatterer field (re, im) of a (nz, ny, nx) chunk of tissue codes,
    filtered in each (y, x) slice by the axial (``wy``) and lateral (``wx``) PSF.

    Each voxel below the skin gets a unit-power complex Gaussian sample times its
    tissue's echo amplitude, attenuated by the tissues above it in its column
    (``step[t]`` is the round-trip amplitude factor of one voxel of tissue ``t``,
    ``half[t]`` its square root) and amplified by the time-gain compensation
    (``gain_step`` per voxel below the skin), with receiver noise of amplitude ``noise``
    amplified alike. Gel above the skin and voxels more than ``limit`` below the
    shallowest skin of the slice (the probe plane) hold no scatterers.
    ``skin_out[z, x]`` receives the index of the first non-gel voxel of each column
    (``ny`` if none). The chunk starts at voxel ``offset`` (z, y, x) of a grid of shape
    ``full``; the random draw of a voxel depends only on its index in that grid.
    """
    nz, ny, nx = tissue.shape
    ry, rx = wy.shape[0] // 2, wx.shape[0] // 2
    re = np.empty((nz, ny, nx), np.float32)
    im = np.empty((nz, ny, nx), np.float32)
    for iz in numba.prange(nz):
        sr = np.zeros((ny, nx), np.float32)
        si = np.zeros((ny, nx), np.float32)
        att = np.ones(nx, np.float32)
        gain = np.ones(nx, np.float32)
        skin = np.full(nx, ny, np.int32)
        top = ny
        base = np.uint64(offset[0] + iz) * np.uint64(full[1])
        for iy in range(ny):
            if iy - top > limit:
                break
            row = (base + np.uint64(offset[1] + iy)) * np.uint64(full[2]) + np.uint64(offset[2])
            for ix in range(nx):
                t = tissue[iz, iy, ix]
                if skin[ix] == ny:
                    if t == 0:
                        continue
                    skin[ix] = iy
                    top = min(top, iy)
                a_sig = echo[t] * att[ix] * half[t]
                amp = gain[ix] * math.sqrt(a_sig * a_sig + noise * noise)
                att[ix] = max(att[ix] * step[t], np.float32(1e-30))
                gain[ix] *= gain_step
                h = _mix(key + (row + np.uint64(ix)) * _GOLDEN)
                sr[iy, ix] = amp * table[h & np.uint64(0xFFFF)]
                si[iy, ix] = amp * table[(h >> np.uint64(16)) & np.uint64(0xFFFF)]
        for ix in range(nx):
            skin_out[iz, ix] = skin[ix]
        _filter_slice(sr, wy, wx, ry, rx, re[iz])
        _filter_slice(si, wy, wx, ry, rx, im[iz])
    return re, im


@numba.njit(inline="always", cache=True)
def _filter_slice(src, wy, wx, ry, rx, dst):
    ny, nx = src.shape
    tmp = np.zeros((ny, nx), np.float32)
    for iy in range(ny):
        for k in range(wy.shape[0]):
            yy = iy + k - ry
            if 0 <= yy < ny:
                w = wy[k]
                for ix in range(nx):
                    tmp[iy, ix] += w * src[yy, ix]
    _filter_rows_x(tmp, wx, rx, dst)


@numba.njit(inline="always", cache=True)
def _filter_rows_x(src, wx, rx, dst):
    """dst[iy] = src[iy] filtered along x by ``wx`` (zero padding), written so that the
    inner loop runs along contiguous memory."""
    ny, nx = src.shape
    for iy in range(ny):
        for ix in range(nx):
            dst[iy, ix] = 0.0
        for k in range(wx.shape[0]):
            off = k - rx
            w = wx[k]
            for ix in range(max(0, -off), min(nx, nx - off)):
                dst[iy, ix] += w * src[iy, ix + off]


@numba.njit(parallel=True, cache=True)
def conv_inplane(a, wy, wx):
    """Separable FIR filtering of every (y, x) slice of ``a`` (zero padding)."""
    nz, ny, nx = a.shape
    ry, rx = wy.shape[0] // 2, wx.shape[0] // 2
    out = np.empty_like(a)
    for iz in numba.prange(nz):
        tmp = np.zeros((ny, nx), np.float32)
        for iy in range(ny):
            for k in range(wy.shape[0]):
                yy = iy + k - ry
                if 0 <= yy < ny:
                    w = wy[k]
                    for ix in range(nx):
                        tmp[iy, ix] += w * a[iz, yy, ix]
        _filter_rows_x(tmp, wx, rx, out[iz])
    return out


@numba.njit(parallel=True, cache=True)
def envelope_z(re, im, wz, r0, r1, offset, scale):
    """Filter (re, im) along axis 0 by ``wz`` (zero padding) for output rows r0..r1 and
    detect the envelope. With ``scale`` 0 the envelope itself (float32) is returned,
    otherwise grey values ``offset + scale * 20 log10(envelope)`` clipped to [0, 255]."""
    nz, ny, nx = re.shape
    rz = wz.shape[0] // 2
    out = np.empty((r1 - r0, ny, nx), np.float32)
    for r in numba.prange(r1 - r0):
        iz = r0 + r
        acc_r = np.zeros((ny, nx), np.float32)
        acc_i = np.zeros((ny, nx), np.float32)
        for k in range(wz.shape[0]):
            zz = iz + k - rz
            if 0 <= zz < nz:
                w = wz[k]
                for iy in range(ny):
                    for ix in range(nx):
                        acc_r[iy, ix] += w * re[zz, iy, ix]
                        acc_i[iy, ix] += w * im[zz, iy, ix]
        for iy in range(ny):
            for ix in range(nx):
                p = acc_r[iy, ix] * acc_r[iy, ix] + acc_i[iy, ix] * acc_i[iy, ix]
                if scale == 0.0:
                    out[r, iy, ix] = math.sqrt(p)
                elif p > np.float32(1e-30):
                    v = offset + scale * _DB_PER_NEPER * math.log(p)  # 10 log10(p)
                    out[r, iy, ix] = min(max(v, np.float32(0.0)), np.float32(255.0))
                else:
                    out[r, iy, ix] = 0.0
    return out


@numba.njit(parallel=True, cache=True)
def smooth_z_to_uint8(a, wz, r0, r1, skin, limit):
    """Filter ``a`` along axis 0 for rows r0..r1 (edge-replicate), round to uint8 and
    zero what lies ``limit`` voxels or more below the shallowest skin of its slice."""
    nz, ny, nx = a.shape
    rz = wz.shape[0] // 2
    out = np.empty((r1 - r0, ny, nx), np.uint8)
    for r in numba.prange(r1 - r0):
        iz = r0 + r
        acc = np.zeros((ny, nx), np.float32)
        for k in range(wz.shape[0]):
            zz = min(max(iz + k - rz, 0), nz - 1)
            w = wz[k]
            for iy in range(ny):
                for ix in range(nx):
                    acc[iy, ix] += w * a[zz, iy, ix]
        top = ny
        for ix in range(nx):
            top = min(top, skin[iz, ix])
        for iy in range(ny):
            for ix in range(nx):
                if iy - top >= limit:
                    out[r, iy, ix] = 0
                else:
                    out[r, iy, ix] = np.uint8(min(max(acc[iy, ix] + 0.5, 0.0), 255.0))
    return out
