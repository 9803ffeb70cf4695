"""Numba kernels that turn points into tissue codes from the tables of an Anatomy.

The anatomy is stored as smooth surfaces in polar coordinates around the leg's axis:
``tab[k, iz, j]`` is the radius (mm) of surface ``k`` at table row ``iz`` (along the
leg) and angle node ``j``; between nodes the model is bilinear, so it is defined at
every point and any grid samples the same continuous anatomy. One function,
:func:`classify`, serves arbitrary points and whole grids so they agree exactly.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import tissue as T

# Surfaces (radii in mm, from the outside in) and other fields of ``tab``.
R_SKIN, R_FAT, R_FASCIA, R_GAS, R_APO, R_TENDON, R_SOL, R_DFASCIA, R_CORE = range(9)
SEPTA = (9, 10, 11)
JITTER, FRAGMENT = 12, 13
N_FIELDS = 14
# Per-row scalars of ``zt``: leg axis, GM/GL boundary angle, bone circles (mm, offsets
# from the axis with x positive towards medial).
YC, XC, SEP, TIB_Y, TIB_X, TIB_R, FIB_Y, FIB_X, FIB_R = range(9)
N_ZT = 9
# Constants of ``c``.
(C_MIRROR, C_DZ, C_NT, C_GAP, C_SEPTUM, C_PERIOD, C_DUTY, C_GM_COS, C_GM_SIN, C_GL_COS,
 C_GL_SIN, C_SOL_COS, C_SOL_SIN, C_DEEP_COS, C_DEEP_SIN) = range(15)
N_C = 15

_TWO_PI = 2.0 * math.pi


@numba.njit(inline="always", cache=True)
def _f(tab, k, iz, j, t, f):
    # t == 0 reads one row: what grids use, with rows interpolated once per slice
    # (the same numbers as the formula, which gives tab * 1 + next * 0 there).
    if t == 0.0:
        a = np.float64(tab[k, iz, j])
        b = np.float64(tab[k, iz, j + 1])
    else:
        a = tab[k, iz, j] * (1.0 - t) + tab[k, iz + 1, j] * t
        b = tab[k, iz, j + 1] * (1.0 - t) + tab[k, iz + 1, j + 1] * t
    return a * (1.0 - f) + b * f


@numba.njit(inline="always", cache=True)
def _zv(zt, k, iz, t):
    if t == 0.0:
        return np.float64(zt[k, iz])
    return zt[k, iz] * (1.0 - t) + zt[k, iz + 1] * t


@numba.njit(inline="always", cache=True)
def _zpos(z, nz, c):
    """Table row and weight of the next row at ``z`` mm."""
    s = z / c[C_DZ]
    iz = min(max(int(math.floor(s)), 0), nz - 2)
    t = min(max(s - iz, 0.0), 1.0)
    return iz, t


@numba.njit(inline="always", cache=True)
def _striated(code, d, z, cos_a, sin_a, c, jitter, present):
    """``code`` with the striation flag where a fascicle boundary passes: planes at the
    pennation angle, ``c[C_PERIOD]`` apart, shifted by ``jitter`` (periods) and broken
    into pieces where ``present`` is false."""
    if not present:
        return code
    phase = (d * cos_a + z * sin_a) / c[C_PERIOD] + jitter
    if phase - math.floor(phase) < c[C_DUTY]:
        return code | T.STRIATION
    return code


@numba.njit(inline="always", cache=True)
def classify(z, y, x, tab, zt, c):
    """Tissue code (uint8) at the point (z, y, x) in mm of the subject frame."""
    iz, t = _zpos(z, tab.shape[1], c)
    return classify_at(z, y, x, iz, t, tab, zt, c)


@numba.njit(inline="always", cache=True)
def classify_at(z, y, x, iz, t, tab, zt, c):
    """:func:`classify` with the table row ``iz`` and weight ``t`` of the next row given."""
    yc = _zv(zt, YC, iz, t)
    xc = _zv(zt, XC, iz, t)
    dy = y - yc
    dx = (x - xc) * c[C_MIRROR]
    rho = math.sqrt(dy * dy + dx * dx)
    theta = math.atan2(dx, -dy)  # 0 towards the skin nearest the probe, + towards medial
    nt = int(c[C_NT])
    u = (theta + math.pi) * (nt / _TWO_PI)
    j = min(max(int(math.floor(u)), 0), nt - 1)
    f = min(max(u - j, 0.0), 1.0)
    # The surfaces are nested (R_SKIN >= R_FAT >= ... >= R_CORE everywhere), so one
    # comparison with the soleus surface decides whether the outer or inner layers apply.
    jit = _f(tab, JITTER, iz, j, t, f)
    frag = _f(tab, FRAGMENT, iz, j, t, f)
    r_sol = _f(tab, R_SOL, iz, j, t, f)
    if rho < r_sol:
        if rho >= _f(tab, R_DFASCIA, iz, j, t, f):
            return np.uint8(_striated(T.SOL, r_sol - rho, z, c[C_SOL_COS], c[C_SOL_SIN], c,
                                      jit, frag > 0.0))
        r_core = _f(tab, R_CORE, iz, j, t, f)
        if rho >= r_core:
            return np.uint8(T.FASCIA)
        for b in (TIB_Y, FIB_Y):
            by = _zv(zt, b, iz, t)
            bx = _zv(zt, b + 1, iz, t)
            br = _zv(zt, b + 2, iz, t)
            ey = dy - by
            ex = dx - bx
            if ey * ey + ex * ex < br * br:
                return np.uint8(T.BONE)
        return np.uint8(_striated(T.DEEP, r_core - rho, z, c[C_DEEP_COS], c[C_DEEP_SIN], c,
                                  jit, frag > 0.8))
    if rho >= _f(tab, R_SKIN, iz, j, t, f):
        return np.uint8(T.GEL)
    if rho >= _f(tab, R_FAT, iz, j, t, f):
        return np.uint8(T.SKIN)
    if rho >= _f(tab, R_FASCIA, iz, j, t, f):
        if frag > -0.3:  # septa are broken into pieces, like the fascicle boundaries
            for k in SEPTA:
                if abs(rho - _f(tab, k, iz, j, t, f)) < c[C_SEPTUM]:
                    return np.uint8(T.SEPTUM)
        return np.uint8(T.FAT)
    r_gas = _f(tab, R_GAS, iz, j, t, f)
    if rho >= r_gas:
        return np.uint8(T.FASCIA)
    if rho >= _f(tab, R_APO, iz, j, t, f):
        sep = _zv(zt, SEP, iz, t)
        if abs(rho * (theta - sep)) < c[C_GAP]:
            return np.uint8(T.APONEUROSIS)
        if theta > sep:
            return np.uint8(_striated(T.GM, r_gas - rho, -z, c[C_GM_COS], c[C_GM_SIN], c,
                                      jit, frag > 0.0))
        return np.uint8(_striated(T.GL, r_gas - rho, -z, c[C_GL_COS], c[C_GL_SIN], c,
                                  jit, frag > 0.0))
    if rho >= _f(tab, R_TENDON, iz, j, t, f):
        return np.uint8(T.APONEUROSIS)
    return np.uint8(T.TENDON)


@numba.njit(parallel=True, cache=True)
def classify_points(points, tab, zt, c):
    """Tissue codes of an (n, 3) float32 array of (z, y, x) points in mm."""
    n = points.shape[0]
    out = np.empty(n, np.uint8)
    for i in numba.prange(n):
        out[i] = classify(points[i, 0], points[i, 1], points[i, 2], tab, zt, c)
    return out


@numba.njit(parallel=True, cache=True)
def _slice_rows(z0, nz, sz, tab, zt, c):
    """The tables interpolated to the z of each slice (float64, one row each), computed
    exactly as :func:`_f` and :func:`_zv` interpolate between rows."""
    nf, ntab, nt1 = tab.shape
    rows = np.empty((nz, nf, 1, nt1), np.float64)
    zrows = np.empty((nz, zt.shape[0], 1), np.float64)
    for iz in numba.prange(nz):
        z = np.float32((z0 + iz + 0.5) * sz)
        it, t = _zpos(z, ntab, c)
        for k in range(nf):
            for j in range(nt1):
                rows[iz, k, 0, j] = tab[k, it, j] * (1.0 - t) + tab[k, it + 1, j] * t
        for k in range(zt.shape[0]):
            zrows[iz, k, 0] = zt[k, it] * (1.0 - t) + zt[k, it + 1] * t
    return rows, zrows


@numba.njit(parallel=True, cache=True)
def classify_grid(z0, nz, ny, nx, spacing, tab, zt, c, rmax):
    """Tissue codes of the voxel centres ((i + 0.5) * spacing) of rows z0..z0+nz.

    ``rmax[iz]`` bounds the skin radius of table row ``iz``: voxels of a (z, y) row
    farther than that from the leg's axis are gel without further work.
    """
    out = np.zeros((nz, ny, nx), np.uint8)
    sz, sy, sx = spacing[0], spacing[1], spacing[2]
    rows, zrows = _slice_rows(z0, nz, sz, tab, zt, c)
    for k in numba.prange(nz * ny):
        iz = k // ny
        iy = k - iz * ny
        z = np.float32((z0 + iz + 0.5) * sz)
        y = np.float32((iy + 0.5) * sy)
        it, _ = _zpos(z, tab.shape[1], c)
        row, zrow = rows[iz], zrows[iz]
        yc, xc = zrow[YC, 0], zrow[XC, 0]
        rm = max(rmax[it], rmax[it + 1]) + 0.01
        dy = y - yc
        if abs(dy) >= rm:
            continue
        hw = math.sqrt(rm * rm - dy * dy)
        lo = max(int(math.floor((xc - hw) / sx - 0.5)), 0)
        hi = min(int(math.ceil((xc + hw) / sx - 0.5)) + 1, nx)
        for ix in range(lo, hi):
            out[iz, iy, ix] = classify_at(z, y, np.float32((ix + 0.5) * sx), 0, 0.0, row, zrow,
                                          c)
    return out
