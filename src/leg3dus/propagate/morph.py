"""Morphological contour interpolation with ITK (Zukić et al., Insight Journal 2016).

A thin wrapper over ``itk.MorphologicalContourInterpolator`` from the
itk-morphologicalcontourinterpolation package (the ``interp`` extra), imported only when
called. The labels are cropped to the bounding box of the annotations first; ITK is told
which slices are annotated, so a listed slice without a muscle ends that muscle. ITK
writes one label per voxel; annotated slices are returned as drawn.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import OptionError
from .common import bbox_2d, check_axis, check_sparse, moved_spacing


def _itk():
    try:
        import itk

        return itk, itk.MorphologicalContourInterpolator
    except (ImportError, AttributeError):
        raise OptionError("method 'morph' needs ITK's morphological contour interpolation: "
                          "pip install 'leg3dus[interp]'") from None


def morph_interpolate(
    labels: np.ndarray,
    spacing=(1.0, 1.0, 1.0),
    *,
    axis: int = 0,
    annotated: Iterable[int] | None = None,
    use_distance_transform: bool = True,
    ball: bool = False,
    heuristic_alignment: bool = True,
) -> np.ndarray:
    """Dense labels from sparse annotated slices by ITK's morphological interpolation.

    Parameters
    ----------
    labels
        (z, y, x) label volume; only the annotated slices hold labels.
    spacing
        Voxel size in mm, (z, y, x) (given to ITK with the crop).
    axis
        Axis the annotated slices are taken along (0: along the leg).
    annotated
        Indices of the annotated slices; None takes every slice holding a label.
    use_distance_transform, ball, heuristic_alignment
        ITK's ``UseDistanceTransform``, ``UseBallStructuringElement`` and
        ``HeuristicAlignment`` (defaults are ITK's).

    Returns
    -------
    numpy.ndarray
        Labels of the input's dtype and shape with its label values.

    Examples
    --------
    >>> a = np.zeros((3, 9, 9), np.uint8)
    >>> a[0, 1:8, 1:8] = 100; a[2, 3:6, 3:6] = 100
    >>> int((morph_interpolate(a)[1] == 100).sum()) > 9  # doctest: +SKIP
    True
    """
    axis = check_axis(axis)
    idx, values = check_sparse(labels, annotated, axis)
    itk, interpolator = _itk()
    lab = np.moveaxis(labels, axis, 0)
    sp = moved_spacing(spacing, axis)
    out = np.zeros_like(labels)
    view = np.moveaxis(out, axis, 0)
    view[idx] = lab[idx]
    plane = bbox_2d(lab[idx] != 0, margin=1)
    if plane is None:
        return out
    z0, z1 = int(idx[0]), int(idx[-1]) + 1
    crop = np.ascontiguousarray(lab[z0:z1][(slice(None),) + plane], dtype=np.uint8)
    image = itk.image_from_array(crop)
    # ITK indexes (x, y, z): the moved axis 0 of ``crop`` is ITK's axis 2.
    image.SetSpacing([float(s) for s in sp[::-1]])
    filt = interpolator.New(image)
    filt.SetAxis(2)
    filt.SetUseDistanceTransform(bool(use_distance_transform))
    filt.SetUseBallStructuringElement(bool(ball))
    filt.SetHeuristicAlignment(bool(heuristic_alignment))
    filt.SetUseCustomSlicePositions(True)
    rel = [int(k) - z0 for k in idx]
    for v in values:
        filt.SetLabeledSliceIndices(2, int(v), rel)
    filt.Update()
    result = itk.array_from_image(filt.GetOutput())
    view[z0:z1][(slice(None),) + plane] = result.astype(labels.dtype, copy=False)
    view[idx] = lab[idx]
    return out
