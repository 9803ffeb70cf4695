"""Array helpers every stage may use: bounding boxes, Gaussian taps and signed distances.

Arrays are (z, y, x); 2D helpers take (h, w) planes or stacks of them (k, h, w).
"""

from __future__ import annotations

import math

import edt
import numpy as np


def bounding_box(array: np.ndarray, margin_vox: int = 0,
                 slab: int = 64) -> tuple[slice, ...] | None:
    """Bounding box of the non-zero voxels of ``array`` (any dimension), grown by
    ``margin_vox`` voxels on every side and clipped to the array; None when all are zero.

    Reads axis 0 ``slab`` planes at a time, so a full-size volume costs one boolean slab,
    not a boolean copy of the whole volume.

    >>> a = np.zeros((4, 5, 6), np.uint8); a[1, 2:4, 5] = 7
    >>> bounding_box(a)
    (slice(1, 2, None), slice(2, 4, None), slice(5, 6, None))
    >>> bounding_box(a, margin_vox=1)
    (slice(0, 3, None), slice(1, 5, None), slice(4, 6, None))
    >>> bounding_box(np.zeros((2, 2))) is None
    True
    """
    shape = array.shape
    hits = [np.zeros(n, bool) for n in shape]
    for a in range(0, shape[0], slab):
        m = np.asarray(array[a:a + slab]) != 0
        for axis in range(array.ndim):
            other = tuple(i for i in range(array.ndim) if i != axis)
            if axis == 0:
                hits[0][a:a + slab] = m.any(axis=other) if other else m
            else:
                hits[axis] |= m.any(axis=other)
    if not hits[0].any():
        return None
    box = []
    for axis, hit in enumerate(hits):
        idx = np.flatnonzero(hit)
        box.append(slice(max(int(idx[0]) - margin_vox, 0),
                         min(int(idx[-1]) + 1 + margin_vox, shape[axis])))
    return tuple(box)


def gaussian_taps(sigma_vox: float, size: int | None = None,
                  norm: str = "sum") -> np.ndarray:
    """Gaussian FIR taps (float32) of standard deviation ``sigma_vox`` voxels.

    ``size`` (odd) fixes the number of taps; by default they reach 2.5 sigma on each side.
    ``norm="sum"`` makes a smoothing filter (taps sum to 1), ``norm="energy"`` a point
    spread function that keeps the power of what it blurs (squares sum to 1).

    >>> [round(float(t), 3) for t in gaussian_taps(1.0, size=5)]
    [0.054, 0.244, 0.403, 0.244, 0.054]
    >>> len(gaussian_taps(2.0)), round(float(np.square(gaussian_taps(2.0, norm="energy")).sum()), 6)
    (11, 1.0)
    """
    if norm not in ("sum", "energy"):
        raise ValueError(f"norm must be 'sum' or 'energy', found {norm!r}")
    r = int(math.ceil(2.5 * sigma_vox)) if size is None else size // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / float(sigma_vox)) ** 2)
    w /= math.sqrt(np.sum(w * w)) if norm == "energy" else np.sum(w)
    return w.astype(np.float32)


def bbox_2d(masks: np.ndarray, margin_vox: int = 0) -> tuple[slice, slice] | None:
    """In-plane bounding box of ``masks`` (k, h, w) or (h, w), grown by ``margin_vox``
    pixels on every side and clipped to the array; None when nothing is set.

    >>> m = np.zeros((2, 4, 5), bool); m[1, 1, 2] = True
    >>> bbox_2d(m, margin_vox=1)
    (slice(0, 3, None), slice(1, 4, None))
    """
    return bounding_box(masks.reshape(-1, *masks.shape[-2:]).any(axis=0),
                        margin_vox=margin_vox)


def union_box(a: tuple[slice, slice] | None, b: tuple[slice, slice] | None):
    """The smallest box holding both 2D boxes (either may be None)."""
    if a is None or b is None:
        return a if b is None else b
    return tuple(slice(min(p.start, q.start), max(p.stop, q.stop)) for p, q in zip(a, b,
                                                                                  strict=True))


def signed_distance_2d(mask: np.ndarray, spacing=(1.0, 1.0)) -> np.ndarray:
    """Signed distance (mm, float32) of a 2D mask: negative inside, positive outside.

    The zero level lies half a voxel outside the mask's voxel centres, so thresholding
    at ``< 0`` gives ``mask`` back. The array is padded internally, so a mask touching the
    edge still has an outside; an empty mask gives +inf, a full one -inf nowhere (it
    is measured to the edge of the array).

    Examples
    --------
    >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
    >>> d = signed_distance_2d(m)
    >>> bool(((d < 0) == m).all()), float(d[2, 2])
    (True, -1.5)
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    pad = np.pad(mask, 1).astype(np.uint8)
    anis = tuple(float(s) for s in spacing)
    inside = edt.edt(pad, anisotropy=anis, black_border=False)
    outside = edt.edt(1 - pad, anisotropy=anis, black_border=False)
    # edt gives the distance to the nearest voxel of the other kind; subtracting half a
    # voxel puts the zero on the boundary between them.
    half = 0.5 * min(anis)
    d = np.where(pad > 0, -(inside - half), outside - half).astype(np.float32)
    return d[1:-1, 1:-1]
