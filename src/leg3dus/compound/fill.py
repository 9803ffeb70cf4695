"""Gaussian hole filling by normalised convolution, in z chunks (float32, no full-size
float copies): an empty voxel becomes sum(G * value * known) / sum(G * known) over a
``size_vox`` cube (separable Gaussian of ``sigma_vox`` voxels, truncated to the cube);
voxels that were hit keep their value, holes with no known voxel in their cube stay 0.
The sums run only where they can be nonzero (:func:`row_spans`), term for term as the
full convolution (:func:`smooth3`) would add them, so the result is the same.
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
def _hit_spans(hit, r, lo, hi):
    # per x row: the first and last hit, widened by r (lo > hi: no hit in the row)
    nz, ny, nx = hit.shape
    for z in numba.prange(nz):
        for y in range(ny):
            row = hit[z, y]
            first = -1
            for x in range(nx):
                if row[x]:
                    first = x
                    break
            if first < 0:
                lo[z, y], hi[z, y] = nx, -1
                continue
            last = first
            for x in range(nx - 1, first - 1, -1):
                if row[x]:
                    last = x
                    break
            lo[z, y], hi[z, y] = max(0, first - r), min(nx - 1, last + r)


def row_spans(hit: np.ndarray, radius_vox: int) -> tuple[np.ndarray, np.ndarray]:
    """Per x row (z, y), the span [lo, hi] of x outside which a separable filter of
    ``radius_vox`` over the hit voxels is zero in every pass: the row's hits widened by
    the radius along x, then joined over the rows within the radius along y and z.

    Examples
    --------
    >>> hit = np.zeros((1, 3, 9), np.uint8); hit[0, 1, 4] = 1
    >>> lo, hi = row_spans(hit, 1)
    >>> lo[0].tolist(), hi[0].tolist()                 # rows 0 and 2 join row 1's span
    ([3, 3, 3], [5, 5, 5])
    """
    from scipy.ndimage import maximum_filter1d, minimum_filter1d

    nz, ny, nx = hit.shape
    lo = np.empty((nz, ny), np.int64)
    hi = np.empty((nz, ny), np.int64)
    _hit_spans(hit, radius_vox, lo, hi)
    size = 2 * radius_vox + 1
    for axis in (1, 0):
        lo = minimum_filter1d(lo, size, axis=axis, mode="constant", cval=nx)
        hi = maximum_filter1d(hi, size, axis=axis, mode="constant", cval=-1)
    return lo, hi


@numba.njit(parallel=True, cache=True)
def _weighted_pass_x(vol, hit, num, den, taps, lo, hi):
    # the x pass of num = vol * known and den = known, within each row's span; the same
    # float32 expressions as the full convolution, zero terms (outside the span) left out
    nz, ny, nx = vol.shape
    r = taps.shape[0] // 2
    for z in numba.prange(nz):
        for y in range(ny):
            a, b = lo[z, y], hi[z, y]
            if a > b:
                continue
            nrow, drow = num[z, y, a:b + 1], den[z, y, a:b + 1]
            nrow[:] = np.float32(0.0)
            drow[:] = np.float32(0.0)
            for k in range(taps.shape[0]):
                o = k - r
                wk = taps[k]
                i0, i1 = max(a, -o), min(b, nx - 1 - o)
                if i0 > i1:
                    continue
                # views and a plain range: no wraparound checks, the loop vectorises
                nd, dd = num[z, y, i0:i1 + 1], den[z, y, i0:i1 + 1]
                vs, hs = vol[z, y, i0 + o:i1 + o + 1], hit[z, y, i0 + o:i1 + o + 1]
                for i in range(i1 - i0 + 1):
                    known = np.float32(hs[i] != 0)
                    nd[i] = nd[i] + wk * (np.float32(vs[i]) * known)
                    dd[i] = dd[i] + wk * known


@numba.njit(parallel=True, cache=True)
def _spanned_pass_yz(src, dst, taps, axis, lo, hi):
    # along y or z within each row's span; a neighbour row is read only within its own
    # span (it is zero outside), which leaves out zero terms and nothing else
    nz, ny, nx = src.shape
    r = taps.shape[0] // 2
    for z in numba.prange(nz):
        for y in range(ny):
            a, b = lo[z, y], hi[z, y]
            if a > b:
                continue
            dst[z, y, a:b + 1] = np.float32(0.0)
            for k in range(taps.shape[0]):
                zz = np.int64(z)  # a prange index may be unsigned: keep integer arithmetic
                yy = np.int64(y)
                if axis == 1:
                    yy = yy + k - r
                else:
                    zz = zz + k - r
                if yy < 0 or yy >= ny or zz < 0 or zz >= nz:
                    continue
                i0, i1 = max(a, lo[zz, yy]), min(b, hi[zz, yy])
                if i0 > i1:
                    continue
                out, row = dst[z, y, i0:i1 + 1], src[zz, yy, i0:i1 + 1]
                wk = taps[k]
                for i in range(i1 - i0 + 1):
                    out[i] = out[i] + wk * row[i]


@numba.njit(parallel=True, cache=True)
def _finish(vol, hit, num, den, out, z_off, lo, hi):
    # out may be vol itself: each voxel is read before it is written, and no hit lies
    # outside the span
    nz, ny, nx = out.shape
    for z in numba.prange(nz):
        zz = np.int64(z) + z_off
        for y in range(ny):
            a, b = lo[zz, y], hi[zz, y]
            if a > b:
                out[z, y, :] = 0
                continue
            out[z, y, :a] = 0
            out[z, y, b + 1:] = 0
            o, v, h = out[z, y, a:b + 1], vol[z, y, a:b + 1], hit[z, y, a:b + 1]
            n, d = num[zz, y, a:b + 1], den[zz, y, a:b + 1]
            for i in range(b - a + 1):
                if h[i]:
                    o[i] = v[i]
                elif d[i] > 0:
                    f = np.floor(n[i] / d[i] + np.float32(0.5))
                    o[i] = min(max(f, 0.0), 255.0)
                else:
                    o[i] = 0


def _chunks(nz: int, chunk: int, halo: int):
    for z0 in range(0, nz, chunk):
        z1 = min(nz, z0 + chunk)
        yield z0, z1, max(0, z0 - halo), min(nz, z1 + halo)


def fill_gaussian(volume: np.ndarray, hit: np.ndarray, size_vox: int = 5,
                  sigma_vox: float = 1.0, chunk: int = 64,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Fill voxels where ``hit`` is 0 by normalised Gaussian convolution (uint8 out).

    ``out`` receives the result (a new array by default); it may be ``volume`` itself,
    which fills in place: an empty voxel's old value never enters a sum.

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
    out = np.empty_like(volume) if out is None else out
    # only within each row's span can the sums be nonzero: rows and stretches of the
    # grid that no frame reached (often half of it) cost nothing
    lo, hi = row_spans(hit, halo)
    # one set of buffers for every chunk: each pass reads only what it wrote in this chunk
    rows = min(volume.shape[0], chunk + 2 * halo)
    buffers = [np.empty((rows,) + volume.shape[1:], np.float32) for _ in range(3)]
    for z0, z1, h0, h1 in _chunks(volume.shape[0], chunk, halo):
        num, den, tmp = (b[:h1 - h0] for b in buffers)
        span = lo[h0:h1], hi[h0:h1]
        _weighted_pass_x(volume[h0:h1], hit[h0:h1], num, den, taps, *span)
        for a in (num, den):
            _spanned_pass_yz(a, tmp, taps, 1, *span)
            _spanned_pass_yz(tmp, a, taps, 0, *span)
        _finish(volume[z0:z1], hit[z0:z1], num, den, out[z0:z1], z0 - h0, *span)
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
