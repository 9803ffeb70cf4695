"""Gaussian hole filling by normalised convolution, in z chunks (float32, no full-size
float copies): an empty voxel becomes sum(G * value * known) / sum(G * known) over a
``size_vox`` cube (separable Gaussian of ``sigma_vox`` voxels, truncated to the cube);
voxels that were hit keep their value, holes with no known voxel in their cube stay 0.
Label volumes are filled by a Gaussian-weighted vote, never by averaging label values.
"""

from __future__ import annotations

import numba
import numpy as np

from ..core.arrays import gaussian_taps


@numba.njit(cache=True)
def _row(src, dst, taps):
    # dst[i] = sum_k taps[k] * src[i + k - r], k ascending, out-of-range terms skipped
    n = src.shape[0]
    r = taps.shape[0] // 2
    for i in range(n):
        dst[i] = np.float32(0.0)
    for k in range(taps.shape[0]):
        o = k - r
        wk = taps[k]
        lo, hi = max(0, -o), min(n, n - o)
        d = dst[lo:hi]
        s = src[lo + o:hi + o]
        for i in range(hi - lo):  # views and a plain range: no wraparound checks
            d[i] = d[i] + wk * s[i]


@numba.njit(parallel=True, cache=True)
def _pass_x(src, dst, taps):
    nz, ny, nx = src.shape
    for z in numba.prange(nz):
        for y in range(ny):
            _row(src[z, y], dst[z, y], taps)


@numba.njit(parallel=True, cache=True)
def _pass_yz(src, dst, taps, axis):
    # along y or z: whole x rows at a time so the inner loop runs over contiguous memory
    nz, ny, nx = src.shape
    r = taps.shape[0] // 2
    for z in numba.prange(nz):
        for y in range(ny):
            out = dst[z, y]
            for i in range(nx):
                out[i] = np.float32(0.0)
            for k in range(taps.shape[0]):
                o = k - r
                if axis == 1:
                    yy = y + o
                    if yy < 0 or yy >= ny:
                        continue
                    row = src[z, yy]
                else:
                    zz = z + o
                    if zz < 0 or zz >= nz:
                        continue
                    row = src[zz, y]
                wk = taps[k]
                for i in range(nx):
                    out[i] = out[i] + wk * row[i]


def smooth3(a: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 3D convolution of a float32 block with zero padding (x, then y, then z)."""
    b = np.empty_like(a)
    _pass_x(a, b, taps)
    _pass_yz(b, a, taps, 1)
    _pass_yz(a, b, taps, 0)
    return b


@numba.njit(parallel=True, cache=True)
def _weights(vol, hit, num, den):
    nz, ny, nx = vol.shape
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                k = np.float32(hit[z, y, x] != 0)
                den[z, y, x] = k
                num[z, y, x] = np.float32(vol[z, y, x]) * k


@numba.njit(parallel=True, cache=True)
def _finish(vol, hit, num, den, out, z_off):
    nz, ny, nx = out.shape
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                zz = z + z_off
                if hit[z, y, x]:
                    out[z, y, x] = vol[z, y, x]
                elif den[zz, y, x] > 0:
                    v = np.floor(num[zz, y, x] / den[zz, y, x] + np.float32(0.5))
                    out[z, y, x] = min(max(v, 0.0), 255.0)
                else:
                    out[z, y, x] = 0


def _chunks(nz: int, chunk: int, halo: int):
    for z0 in range(0, nz, chunk):
        z1 = min(nz, z0 + chunk)
        yield z0, z1, max(0, z0 - halo), min(nz, z1 + halo)


def fill_gaussian(volume: np.ndarray, hit: np.ndarray, size_vox: int = 5,
                  sigma_vox: float = 1.0, chunk: int = 64) -> np.ndarray:
    """Fill voxels where ``hit`` is 0 by normalised Gaussian convolution (uint8 out).

    Examples
    --------
    >>> vol = np.zeros((1, 5, 5), np.uint8); hit = np.zeros((1, 5, 5), np.uint8)
    >>> vol[0, :, ::2] = 100; hit[0, :, ::2] = 1          # every other column scanned
    >>> out = fill_gaussian(vol, hit, size_vox=3, sigma_vox=1.0)
    >>> out[0, 2].tolist()                                # the gaps take their neighbours
    [100, 100, 100, 100, 100]
    """
    taps = gaussian_taps(sigma_vox, size=size_vox)
    halo = size_vox // 2
    out = np.empty_like(volume)
    for z0, z1, h0, h1 in _chunks(volume.shape[0], chunk, halo):
        num = np.empty(volume[h0:h1].shape, np.float32)
        den = np.empty_like(num)
        _weights(volume[h0:h1], hit[h0:h1], num, den)
        num, den = smooth3(num, taps), smooth3(den, taps)
        _finish(volume[z0:z1], hit[z0:z1], num, den, out[z0:z1], z0 - h0)
    return out


@numba.njit(cache=True, nogil=True)
def _hit_counts(labels, hit):
    # voxel count of each uint8 label value among the hit voxels, in one pass
    counts = np.zeros(256, np.int64)
    for i in range(labels.size):
        if hit[i]:
            counts[labels[i]] += 1
    return counts


def _hit_values(labels: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """The label values present among hit voxels, increasing (counted, not sorted)."""
    if labels.dtype == np.uint8 and hit.dtype.itemsize == 1:
        flat = np.ascontiguousarray(labels).reshape(-1)
        mask = np.ascontiguousarray(hit).reshape(-1).view(np.uint8)
        return np.flatnonzero(_hit_counts(flat, mask)).astype(np.uint8)
    values: set = set()
    for z in range(labels.shape[0]):
        values.update(np.unique(labels[z][hit[z].astype(bool)]).tolist())
    return np.array(sorted(values), labels.dtype)


def fill_labels(labels: np.ndarray, hit: np.ndarray, size_vox: int = 5,
                sigma_vox: float = 1.0, chunk: int = 32) -> np.ndarray:
    """Fill label holes with the label of largest Gaussian-weighted vote among hit voxels.

    Examples
    --------
    >>> labels = np.zeros((1, 3, 5), np.uint8); hit = np.zeros((1, 3, 5), np.uint8)
    >>> labels[0, :, :2] = 100; labels[0, :, 3:] = 200; hit[0, :, [0, 1, 3, 4]] = 1
    >>> fill_labels(labels, hit, size_vox=3)[0, 1].tolist()   # the hole takes a neighbour
    [100, 100, 100, 200, 200]
    """
    taps = gaussian_taps(sigma_vox, size=size_vox)
    halo = size_vox // 2
    values = _hit_values(labels, hit)
    out = labels.copy()
    for z0, z1, h0, h1 in _chunks(labels.shape[0], chunk, halo):
        # one set of buffers per chunk, written in place: no temporaries per value
        best = np.zeros((z1 - z0,) + labels.shape[1:], np.float32)
        choice = np.zeros_like(best, dtype=labels.dtype)
        better = np.empty(best.shape, bool)
        known = hit[h0:h1] != 0
        match = np.empty(known.shape, bool)
        indicator = np.empty(known.shape, np.float32)
        for v in values:
            np.equal(labels[h0:h1], v, out=match)
            match &= known
            indicator[...] = match
            vote = smooth3(indicator, taps)[z0 - h0: z0 - h0 + (z1 - z0)]
            np.greater(vote, best, out=better)
            np.copyto(best, vote, where=better)
            np.copyto(choice, v, where=better)
            del vote
        holes = hit[z0:z1] == 0
        out[z0:z1][holes] = choice[holes]
    return out
