"""ZOI: zero-order copy of the smaller mask between annotated slices, then Gaussian
smoothing, as the LEG-3D-US datasheet describes the making of its labels.

Per label, between two consecutive annotated slices the smaller (fewer voxels) of the two
masks is copied into every slice in between. Each label's indicator and the background's
(no label copied) are then smoothed with a Gaussian of ``sigma_mm`` and every voxel takes
the value whose smoothed indicator is largest. The description is silent about a label
present on one side only (``one_side``), masks of equal size (``equal_area``) and exact
ties (``ties``); the choices are options, documented below.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy import ndimage

from ..core.annotated import check_axis
from ..core.arrays import bbox_2d, union_box
from ..core.errors import OptionError
from .common import check_one_side, check_sparse, moved_spacing, one_side_range

_SLAB = 96  # slices smoothed at once (plus a halo): bounds memory on full-size volumes
_TRUNCATE = 3.0


def zoi_interpolate(
    labels: np.ndarray,
    spacing=(1.0, 1.0, 1.0),
    *,
    axis: int = 0,
    annotated: Iterable[int] | None = None,
    sigma_mm: float = 1.0,
    one_side: str = "stop",
    equal_area: str = "lower",
    ties: str = "background",
    keep_annotated: bool = False,
) -> np.ndarray:
    """Dense labels from sparse annotated slices by ZOI (zero-order copy + Gaussian).

    Parameters
    ----------
    labels
        (z, y, x) label volume; only the annotated slices hold labels.
    spacing
        Voxel size in mm, (z, y, x); ``sigma_mm`` is converted with it.
    axis
        Axis the annotated slices are taken along (0: along the leg).
    annotated
        Indices of the annotated slices; None takes every slice holding a label. A listed
        slice without a label says that no muscle is there.
    sigma_mm
        Standard deviation of the Gaussian in mm, the same on every axis; 0 gives the pure
        zero-order result.
    one_side
        A label on one of two consecutive annotated slices only: "stop" (the smaller mask
        is the empty one, so the label ends at its last annotated slice; the literal rule),
        "half" (copied to the half of the gap nearer its slice) or "copy" (whole gap).
    equal_area
        Which mask is copied when both have the same number of voxels: "lower" (the slice
        of lower index) or "upper".
    ties
        An exact tie between the background and a label goes to "background" or to the
        "label". Ties between labels go to the lower label value.
    keep_annotated
        Put the annotated slices back as drawn after smoothing (the datasheet smooths them
        too, so False is the literal method).

    Returns
    -------
    numpy.ndarray
        Labels of the input's dtype and shape, with the input's label values; every voxel
        holds one value.

    Examples
    --------
    >>> a = np.zeros((5, 8, 8), np.uint8)
    >>> a[0, 2:6, 2:6] = 100; a[4, 3:5, 3:5] = 100
    >>> out = zoi_interpolate(a, sigma_mm=0)
    >>> int((out[2] == 100).sum())
    4
    """
    axis = check_axis(axis)
    check_one_side(one_side, ("stop", "half", "copy"))
    if equal_area not in ("lower", "upper"):
        raise OptionError(f"equal_area must be 'lower' or 'upper', found {equal_area!r}")
    if ties not in ("background", "label"):
        raise OptionError(f"ties must be 'background' or 'label', found {ties!r}")
    if not np.isfinite(sigma_mm) or sigma_mm < 0:
        raise OptionError(f"sigma_mm must be a number of mm >= 0, found {sigma_mm}")
    idx, values = check_sparse(labels, annotated, axis)
    lab = np.moveaxis(labels, axis, 0)
    spacing = moved_spacing(spacing, axis)
    packed, boxes = _zero_order(lab, idx, values, one_side, equal_area)
    out = np.zeros_like(labels)
    view = np.moveaxis(out, axis, 0)
    if boxes:
        sig = sigma_mm / spacing
        halo = np.ceil(_TRUNCATE * sig).astype(int) if sigma_mm > 0 else np.zeros(3, int)
        _smooth_and_pick(packed, boxes, values, view, sig, halo, ties)
    if keep_annotated:
        view[idx] = lab[idx]
    return out


def _zero_order(lab, idx, values, one_side, equal_area):
    """Per-label zero-order indicators packed as bits (bit i: ``values[i]``), in a box.

    Returns ((z, y, x) start of the box, its bit array) and per label index its 3D box
    relative to the box; (None, {}) when no annotated slice holds a label.
    """
    # In-plane box of each label over its annotated slices.
    per_label = {}
    drawn = lab[idx]
    for i, v in enumerate(values):
        masks = drawn == v
        box = bbox_2d(masks)
        if box is None:
            continue
        per_label[i] = (masks, box)
    if not per_label:
        return None, {}
    plane = None
    for _, box in per_label.values():
        plane = union_box(plane, box)
    z0, z1 = int(idx[0]), int(idx[-1]) + 1
    bits = np.zeros((z1 - z0, plane[0].stop - plane[0].start, plane[1].stop - plane[1].start),
                    np.uint8)
    boxes = {}
    for i, (masks, box) in per_label.items():
        bit = np.uint8(1 << i)
        local = tuple(slice(b.start - p.start, b.stop - p.start) for b, p in zip(box, plane,
                                                                                 strict=True))
        sub = masks[(slice(None),) + box]
        areas = sub.reshape(len(idx), -1).sum(axis=1)
        for j, k in enumerate(idx):
            bits[(k - z0,) + local][sub[j]] |= bit
        for j in range(len(idx) - 1):
            a, b = int(idx[j]), int(idx[j + 1])
            if b - a < 2 or (areas[j] == 0 and areas[j + 1] == 0):
                continue
            if areas[j] and areas[j + 1]:
                pick = j if (areas[j] < areas[j + 1] or
                             (areas[j] == areas[j + 1] and equal_area == "lower")) else j + 1
                fill = range(a + 1, b)
            else:
                pick = j if areas[j] else j + 1
                fill = one_side_range(a, b, bool(areas[j]), one_side)
            if len(fill):
                blk = bits[fill.start - z0:fill.stop - z0][(slice(None),) + local]
                blk[:, sub[pick]] |= bit
        # Copies may reach past the label's own annotated slices ("copy", "half").
        zany = np.flatnonzero((bits[(slice(None),) + local] & bit).reshape(
            bits.shape[0], -1).any(axis=1))
        boxes[i] = (slice(int(zany[0]), int(zany[-1]) + 1),) + local
    return (np.array([z0, plane[0].start, plane[1].start]), bits), boxes


def _smooth_and_pick(packed, boxes, values, view, sig, halo, ties):
    """Smooth each indicator slab by slab and write the winning value into ``view``."""
    start, bits = packed
    shape = np.array(view.shape)
    lo_all = np.maximum(start - halo, 0)
    hi_all = np.minimum(start + np.array(bits.shape) + halo, shape)
    vals = np.asarray(values, dtype=view.dtype)
    smooth = bool(np.any(sig > 0))
    for s0 in range(lo_all[0], hi_all[0], _SLAB):
        s1 = min(s0 + _SLAB, hi_all[0])
        # The slab plus a halo along z, in-plane the whole padded box.
        g0, g1 = max(s0 - halo[0], 0), min(s1 + halo[0], shape[0])
        win = (slice(g0, g1), slice(lo_all[1], hi_all[1]), slice(lo_all[2], hi_all[2]))
        wb = _window_bits(bits, start, win)
        keep = (slice(s0 - g0, s1 - g0), slice(None), slice(None))
        bg = (wb == 0).astype(np.float32)
        if smooth:
            bg = ndimage.gaussian_filter(bg, sig, mode="nearest", truncate=_TRUNCATE)
        best = np.ascontiguousarray(bg[keep])
        pick = np.zeros(best.shape, np.uint8)  # 0 background, i+1 label i
        for i, box in sorted(boxes.items()):
            # The label's own box grown by the halo, within this window.
            lo = np.maximum(start + [r.start for r in box] - halo, [w.start for w in win])
            hi = np.minimum(start + [r.stop for r in box] + halo, [w.stop for w in win])
            if np.any(hi <= lo):
                continue
            rel = tuple(slice(p - w.start, q - w.start) for p, q, w in zip(lo, hi, win,
                                                                           strict=True))
            ind = ((wb[rel] & np.uint8(1 << i)) != 0).astype(np.float32)
            if smooth:
                ind = ndimage.gaussian_filter(ind, sig, mode="nearest", truncate=_TRUNCATE)
            # Rows of this label's window that fall in the kept slab.
            k0, k1 = max(rel[0].start, keep[0].start), min(rel[0].stop, keep[0].stop)
            if k1 <= k0:
                continue
            score = ind[k0 - rel[0].start:k1 - rel[0].start]
            tgt = (slice(k0 - keep[0].start, k1 - keep[0].start), rel[1], rel[2])
            cur, cpick = best[tgt], pick[tgt]
            # Labels are visited in increasing value and win only when strictly larger, so
            # ties between labels go to the lower value; a tie with the background goes to
            # the background unless ties == "label".
            better = score > cur
            if ties == "label":
                better |= (score == cur) & (cpick == 0) & (score > 0)
            cur[better] = score[better]
            cpick[better] = i + 1
        sub = view[s0:s1, win[1], win[2]]
        hit = pick > 0
        sub[hit] = vals[pick[hit] - 1]


def _window_bits(bits, start, win):
    """``bits`` (placed at ``start``) read through the window ``win``, zero outside."""
    out = np.zeros(tuple(s.stop - s.start for s in win), np.uint8)
    src, dst = [], []
    for s, st, n in zip(win, start, bits.shape, strict=True):
        a, b = max(s.start, st), min(s.stop, st + n)
        if a >= b:
            return out
        src.append(slice(a - st, b - st))
        dst.append(slice(a - s.start, b - s.start))
    out[tuple(dst)] = bits[tuple(src)]
    return out
