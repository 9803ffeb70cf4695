"""Which slices of a sparse label volume are annotated.

A sparse annotation is a (z, y, x) label volume in which only some slices along an
``axis`` (0 = along the leg) were drawn; an annotated slice may be empty (it says that no
muscle is there), so a list of annotated indices can travel beside the volume.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import LabelError, OptionError
from .labels import BACKGROUND


def check_axis(axis: int, ndim: int = 3) -> int:
    """``axis`` as a non-negative int, or raise :class:`OptionError`."""
    if not -ndim <= int(axis) < ndim:
        raise OptionError(f"axis must be one of 0, 1, 2 (z, y, x), found {axis}")
    return int(axis) % ndim


def annotated_slices(labels: np.ndarray, axis: int = 0) -> np.ndarray:
    """Indices of the slices along ``axis`` that hold any non-background voxel.

    Examples
    --------
    >>> a = np.zeros((5, 2, 2), np.uint8); a[1, 0, 0] = a[4, 1, 1] = 100
    >>> annotated_slices(a).tolist()
    [1, 4]
    """
    axis = check_axis(axis, labels.ndim)
    others = tuple(i for i in range(labels.ndim) if i != axis)
    return np.flatnonzero(np.any(labels != BACKGROUND, axis=others))


def annotated_indices(labels: np.ndarray, annotated: Iterable[int] | None = None,
                      axis: int = 0) -> np.ndarray:
    """The sorted annotated slice indices along ``axis``: ``annotated`` when given (a
    listed slice may be empty: it says that no muscle is there), else the slices that
    hold labels. Raises :class:`OptionError` for indices out of range and
    :class:`LabelError` for labels on slices not listed."""
    axis = check_axis(axis, labels.ndim)
    n = labels.shape[axis]
    with_labels = annotated_slices(labels, axis)
    if annotated is None:
        return with_labels
    idx = np.unique(np.asarray(list(annotated), dtype=np.int64))
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise OptionError(f"annotated slice indices out of range 0..{n - 1} along axis "
                          f"{axis}: {', '.join(map(str, bad[:10].tolist()))}")
    extra = np.setdiff1d(with_labels, idx)
    if extra.size:
        raise LabelError(f"labels found on {extra.size} slice(s) not listed as annotated "
                         f"along axis {axis}, first ones: "
                         f"{', '.join(map(str, extra[:10].tolist()))}")
    return idx
