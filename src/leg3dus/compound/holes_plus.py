"""PLUS's hole-filling kernels, applied to voxels that no pixel reached (accumulation 0).

Kinds: ``STICK`` (linear interpolation along the shortest of 13 line directions that
finds filled voxels on both sides within a length limit), ``GAUSSIAN`` and
``GAUSSIAN_ACCUMULATION`` (normalised Gaussian weighting over a size^3 cube, the latter
also weighted by the accumulation), ``NEAREST_NEIGHBOR`` (mean of the filled voxels on
the smallest cube shell that has any) and ``DISTANCE_WEIGHT_INVERSE`` (1/distance
weights). Each needs more than ``min_ratio`` of its cube known. Elements are tried in
order; a hole none of them fills stays 0. Results are truncated to the voxel type, as
PLUS does.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..sweep.config import HoleFillingElement

_KINDS = {"GAUSSIAN": 0, "GAUSSIAN_ACCUMULATION": 1, "STICK": 2, "NEAREST_NEIGHBOR": 3,
          "DISTANCE_WEIGHT_INVERSE": 4}
# (x, y, z) steps of PLUS's 13 sticks, rewritten as (z, y, x) array steps.
_STICKS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1],
                    [1, -1, 0], [1, 0, -1], [0, 1, -1], [1, 1, 1], [-1, 1, 1], [1, -1, 1],
                    [-1, -1, 1]], np.int64)[:, ::-1].copy()


def _kernel(el: HoleFillingElement) -> np.ndarray:
    n = el.size
    rng = (n - 1) / 2.0
    k = np.zeros((n, n, n), np.float32)
    if el.kind in ("GAUSSIAN", "GAUSSIAN_ACCUMULATION"):
        stdev = np.float32(el.stdev)
        div = np.float32(stdev * stdev * np.float32(2.0))
        term = np.float32((2 * math.pi) ** 1.5 * float(stdev) ** 3)
        for z in range(n):
            for y in range(n):
                for x in range(n):
                    e = -((x - rng) ** 2 / div + (y - rng) ** 2 / div + (z - rng) ** 2 / div)
                    k[z, y, x] = np.float32(1.0 / term * math.exp(e))
    elif el.kind == "DISTANCE_WEIGHT_INVERSE":
        for z in range(n):
            for y in range(n):
                for x in range(n):
                    d = math.sqrt((x - rng) ** 2 + (y - rng) ** 2 + (z - rng) ** 2)
                    k[z, y, x] = np.float32(1.0 / d) if d else 0.0
    return k


@numba.njit(cache=True)
def _as_voxel(v, is_float):
    # C's (T)(double): float32 rounds, integer types truncate toward zero
    return np.float64(np.float32(v)) if is_float else np.float64(int(v))


@numba.njit(cache=True)
def _cube(vol, acc, z, y, x, kern, kind, min_ratio, is_float):
    n = kern.shape[0]
    r = (n - 1) // 2
    nz, ny, nx = vol.shape
    s = 0.0
    sw = 0.0
    known = 0
    for xx in range(x - r, x + r + 1):
        for yy in range(y - r, y + r + 1):
            for zz in range(z - r, z + r + 1):
                if 0 <= xx < nx and 0 <= yy < ny and 0 <= zz < nz:
                    a = acc[zz, yy, xx]
                    if a != 0:
                        w = np.float64(kern[zz - z + r, yy - y + r, xx - x + r])
                        if kind == 1:
                            w = a * w
                        s += vol[zz, yy, xx] * w
                        sw += w
                        known += 1
    if sw == 0 or not known / (n * n * n) > min_ratio:
        return False, 0.0
    return True, _as_voxel(s / sw, is_float)


@numba.njit(cache=True)
def _nearest(vol, acc, z, y, x, size, min_ratio, is_float):
    nz, ny, nx = vol.shape
    s = 0.0
    cnt = 0
    for r in range(1, (size - 1) // 2 + 1):
        for xx in range(x - r, x + r + 1):
            for yy in range(y - r, y + r + 1):
                for zz in range(z - r, z + r + 1):
                    if 0 <= xx < nx and 0 <= yy < ny and 0 <= zz < nz and acc[zz, yy, xx]:
                        s += vol[zz, yy, xx]
                        cnt += 1
        if cnt:
            break
    if cnt == 0 or not cnt / (size * size * size) > min_ratio:
        return False, 0.0
    return True, _as_voxel(s / cnt, is_float)


@numba.njit(cache=True)
def _stick(vol, acc, z, y, x, sticks, limit, to_use, weights, values, is_float):
    nz, ny, nx = vol.shape
    ns = sticks.shape[0]
    weights[:] = 0.0
    for i in range(ns):
        dz, dy, dx = sticks[i, 0], sticks[i, 1], sticks[i, 2]
        fwd = -1
        fv = 0
        for j in range(1, limit):
            zz, yy, xx = z + j * dz, y + j * dy, x + j * dx
            if not (0 <= xx < nx and 0 <= yy < ny and 0 <= zz < nz):
                break
            if acc[zz, yy, xx]:
                fwd, fv = j, vol[zz, yy, xx]
                break
        if fwd < 0:
            continue
        rvs = -1
        rv = 0
        j = 1
        while j + fwd + 1 <= limit:
            zz, yy, xx = z - j * dz, y - j * dy, x - j * dx
            if not (0 <= xx < nx and 0 <= yy < ny and 0 <= zz < nz):
                break
            if acc[zz, yy, xx]:
                rvs, rv = j, vol[zz, yy, xx]
                break
            j += 1
        if rvs < 0:
            continue
        total = np.float64(fwd + rvs + 1)
        wf = (rvs + 1) / total
        wr = 1.0 - wf
        weights[i] = 1.0 / (total * math.sqrt(dx * dx + dy * dy + dz * dz))
        values[i] = _as_voxel(wr * rv + wf * fv, is_float)  # PLUS keeps T values[]
    used = 0
    sv = 0.0
    sw = 0.0
    while used < to_use:
        mw = 0.0
        for i in range(ns):
            if weights[i] > mw:
                mw = weights[i]
        if mw == 0:
            break
        for i in range(ns):
            if weights[i] == mw:
                sv += values[i] * weights[i]
                sw += weights[i]
                used += 1
                weights[i] = 0.0
    if sw == 0:
        return False, 0.0
    return True, _as_voxel(sv / sw, is_float)


@numba.njit(parallel=True, cache=True)
def _fill(vol, acc, out, kinds, kernels, sizes, ratios, limits, to_use, sticks, is_float):
    nz, ny, nx = vol.shape
    for z in numba.prange(nz):
        weights = np.zeros(sticks.shape[0])
        values = np.zeros(sticks.shape[0])
        for y in range(ny):
            for x in range(nx):
                if acc[z, y, x]:
                    out[z, y, x] = vol[z, y, x]
                    continue
                ok, res = False, 0.0
                for e in range(kinds.shape[0]):
                    k = kinds[e]
                    if k == 2:
                        ok, res = _stick(vol, acc, z, y, x, sticks, limits[e], to_use[e],
                                         weights, values, is_float)
                    elif k == 3:
                        ok, res = _nearest(vol, acc, z, y, x, sizes[e], ratios[e], is_float)
                    else:
                        n = sizes[e]
                        ok, res = _cube(vol, acc, z, y, x, kernels[e, :n, :n, :n], k,
                                        ratios[e], is_float)
                    if ok:
                        break
                out[z, y, x] = res if ok else 0


def fill_holes_plus(volume: np.ndarray, acc: np.ndarray,
                    elements: list[HoleFillingElement]) -> np.ndarray:
    """Fill voxels with ``acc == 0`` using PLUS's hole-filling ``elements`` in order.

    ``volume`` (z, y, x) of any pixel type PLUS compounds (uint8, int8, uint16, int16,
    float32), ``acc`` the accumulation buffer of the same shape. Returns a new array of
    the volume's type.

    Examples
    --------
    >>> stick = HoleFillingElement("STICK", stick_length_limit=9)
    >>> vol = np.zeros((1, 1, 7), np.uint8); acc = np.zeros((1, 1, 7), np.float32)
    >>> vol[0, 0, [0, 6]] = (10, 70); acc[0, 0, [0, 6]] = 1
    >>> out = fill_holes_plus(vol, acc, [stick])[0, 0].astype(int)
    >>> int(out[0]), int(out[-1]), bool(np.all(np.diff(out) > 0))  # filled in between
    (10, 70, True)
    """
    if not elements:
        return volume.copy()
    big = max([el.size for el in elements] + [1])
    kernels = np.zeros((len(elements), big, big, big), np.float32)
    for i, el in enumerate(elements):
        if el.kind not in ("STICK", "NEAREST_NEIGHBOR"):
            kernels[i, :el.size, :el.size, :el.size] = _kernel(el)
    kinds = np.array([_KINDS[el.kind] for el in elements], np.int64)
    sizes = np.array([el.size for el in elements], np.int64)
    ratios = np.array([el.min_ratio for el in elements], np.float64)
    limits = np.array([el.stick_length_limit for el in elements], np.int64)
    to_use = np.array([el.sticks_to_use for el in elements], np.int64)
    out = np.empty_like(volume)
    _fill(volume, acc, out, kinds, kernels, sizes, ratios, limits, to_use, _STICKS,
          bool(np.issubdtype(volume.dtype, np.floating)))
    return out
