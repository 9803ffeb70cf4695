"""What every propagation method shares: finding and checking the annotated slices,
the label values to fill, bounding boxes, and the multi-label rule.

Arrays are (z, y, x); the methods work along ``axis`` (0 = along the leg by default) by
moving it to the front of a view, so "slice" below means ``labels.take(k, axis)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..core.annotated import annotated_indices, check_axis
from ..core.errors import LabelError, OptionError
from ..core.labels import BACKGROUND, VALUES, describe_counts, value_counts

#: What a label present on only one of two consecutive annotated slices does in the gap
#: between them: "stop" ends it at its last annotated slice (the smaller of a mask and an
#: empty mask is the empty one: the literal ZOI rule), "half" carries it to the middle of
#: the gap, "copy" carries it across the whole gap, "taper" (sdf only) shrinks it to
#: nothing across the gap.
ONE_SIDE_CHOICES = ("stop", "half", "copy", "taper")


def moved_spacing(spacing, axis: int) -> np.ndarray:
    """``spacing`` (z, y, x) reordered like ``np.moveaxis(labels, axis, 0)``."""
    sp = np.asarray(spacing, dtype=np.float64)
    if sp.shape != (3,) or not np.all(sp > 0):
        raise OptionError(f"spacing must be three positive mm values, found {spacing}")
    return sp[[axis] + [i for i in range(3) if i != axis]]


def check_sparse(
    labels: np.ndarray,
    annotated: Iterable[int] | None = None,
    axis: int = 0,
    values: Sequence[int] = VALUES,
) -> tuple[np.ndarray, list[int]]:
    """Check a sparse label volume; return the sorted annotated indices and the labels.

    Raises :class:`LabelError` for values outside ``values`` or labels on slices not listed
    as annotated, :class:`OptionError` for indices out of range, and
    :class:`LabelError` when fewer than two slices are annotated (nothing to interpolate
    between). The labels returned are the non-background values present, increasing.
    """
    if labels.ndim != 3:
        raise LabelError(f"expected a 3D label volume, found shape {labels.shape}")
    axis = check_axis(axis, labels.ndim)
    counts = value_counts(labels)
    stray = {v: c for v, c in counts.items() if v not in values}
    if stray:
        raise LabelError(f"label values outside the scheme {tuple(values)}: "
                         f"{describe_counts(stray)}")
    idx = annotated_indices(labels, annotated, axis)
    if idx.size == 0:
        raise LabelError("no annotated slice: the label volume holds only background")
    if idx.size == 1:
        raise LabelError(f"only one annotated slice ({int(idx[0])} along axis {axis}); "
                         "at least two are needed to interpolate between")
    present = [int(v) for v in counts if v != BACKGROUND]
    return idx, present


def check_one_side(one_side: str, allowed: Sequence[str]) -> str:
    if one_side not in allowed:
        raise OptionError(f"one_side must be one of {', '.join(allowed)}, found {one_side!r}")
    return one_side


def one_side_range(a: int, b: int, present_at_a: bool, one_side: str) -> range:
    """Slices strictly between annotated slices ``a`` < ``b`` that a label present on only
    one side fills, for ``one_side`` in "stop", "half", "copy"."""
    if one_side == "stop":
        return range(0)
    if one_side == "copy":
        return range(a + 1, b)
    mid = (a + b) / 2.0
    # "half": the slices nearer the side that holds the label; the middle slice of an even
    # gap goes to the empty side (a muscle claimed by one annotation only ends early).
    return range(a + 1, int(np.ceil(mid))) if present_at_a else range(int(np.floor(mid)) + 1, b)
