"""Sparse 2D annotations -> dense 3D labels.

Three methods fill the slices between annotated ones, per label:

- :func:`zoi_interpolate`: the datasheet's "ZOI": the smaller of the two masks copied
  into the gap (zero-order), then Gaussian smoothing and the largest smoothed indicator.
- :func:`sdf_interpolate`: shape-based interpolation of signed distance maps, optionally
  along the path of the shapes' centroids.
- :func:`morph_interpolate`: ITK's morphological contour interpolation (``interp`` extra).

Every method returns one label per voxel, with the input's label values, and leaves the
slices before the first and after the last annotated slice as background. Use
:func:`propagate` to pick a method by name, on arrays or on a :class:`~leg3dus.Volume`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

import numpy as np

from ..core.annotated import annotated_slices, parse_annotated
from ..core.arrays import signed_distance_2d
from ..core.errors import OptionError
from ..core.volume import Volume
from .common import ONE_SIDE_CHOICES, check_sparse
from .morph import MorphError, morph_interpolate
from .sdf import sdf_interpolate
from .zoi import zoi_interpolate

METHODS = {"zoi": zoi_interpolate, "sdf": sdf_interpolate, "morph": morph_interpolate}

from .files import check_options, file_pairs, propagate_file, propagate_paths  # noqa: E402

__all__ = [
    "METHODS", "ONE_SIDE_CHOICES", "MorphError", "annotated_slices", "check_options",
    "check_sparse", "file_pairs", "morph_interpolate", "parse_annotated", "propagate",
    "propagate_file", "propagate_paths", "sdf_interpolate", "signed_distance_2d", "zoi_interpolate",
]


def propagate(
    labels: np.ndarray | Volume,
    method: str = "sdf",
    *,
    spacing=None,
    axis: int = 0,
    annotated: Iterable[int] | None = None,
    **options,
) -> np.ndarray | Volume:
    """Fill the slices between annotated ones with ``method`` ("zoi", "sdf", "morph").

    ``labels`` is a (z, y, x) array (then ``spacing`` in mm, default 1) or a
    :class:`~leg3dus.Volume` (its spacing is used and a Volume with its geometry comes
    back). ``options`` go to the method's function.

    Examples
    --------
    >>> a = np.zeros((3, 9, 9), np.uint8)
    >>> a[0, 1:8, 1:8] = 100; a[2, 3:6, 3:6] = 100
    >>> int((propagate(a, "sdf")[1] == 100).sum())
    25
    """
    if method not in METHODS:
        raise OptionError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    fn = METHODS[method]
    accepted = inspect.signature(fn).parameters
    unknown = sorted(k for k in options if k not in accepted or k in ("labels", "spacing"))
    if unknown:
        raise OptionError(f"option(s) {', '.join(unknown)} do not apply to method {method!r}")
    if isinstance(labels, Volume):
        out = fn(labels.array, labels.spacing, axis=axis, annotated=annotated, **options)
        return labels.with_array(out)
    sp = (1.0, 1.0, 1.0) if spacing is None else spacing
    return fn(np.asarray(labels), sp, axis=axis, annotated=annotated, **options)
