"""Bringing a moving volume or its labels onto the fixed grid with a registration transform."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..core.errors import OptionError
from ..core.volume import Geometry, Volume, reverse_matrix

_INTERPOLATORS = {
    "nearest": sitk.sitkNearestNeighbor,
    "linear": sitk.sitkLinear,
    "bspline": sitk.sitkBSpline,
}


def _resampler(reference: Geometry, transform: sitk.Transform, interpolator: int,
               default: float) -> sitk.ResampleImageFilter:
    # The output grid is described, not allocated: a full-size reference image would
    # cost another 0.5 GB.
    f = sitk.ResampleImageFilter()
    f.SetSize([int(n) for n in reference.shape[::-1]])
    f.SetOutputSpacing([float(s) for s in reference.spacing[::-1]])
    f.SetOutputOrigin([float(o) for o in reference.origin[::-1]])
    f.SetOutputDirection(reverse_matrix(reference.direction).ravel().tolist())
    f.SetTransform(transform)
    f.SetInterpolator(interpolator)
    f.SetDefaultPixelValue(float(default))
    return f


def resample_volume(moving: Volume, reference: Geometry | Volume, transform: sitk.Transform,
                    interpolator: str = "linear", default: float = 0.0) -> Volume:
    """The moving volume seen on the ``reference`` grid through ``transform``.

    ``transform`` maps fixed (reference) points to moving points, as
    :func:`~leg3dus.register.register_rigid` returns it. The output keeps the moving
    voxel type (values are rounded and clipped for integer types) and takes the
    reference geometry; points that fall outside the moving grid get ``default``.

    Examples
    --------
    >>> moved = resample_volume(x2, x1.geometry, result.transform)  # doctest: +SKIP
    """
    if interpolator not in _INTERPOLATORS:
        raise OptionError(f"unknown interpolator {interpolator!r}; expected one of "
                          f"{', '.join(_INTERPOLATORS)}")
    geometry = reference.geometry if isinstance(reference, Volume) else reference
    f = _resampler(geometry, transform, _INTERPOLATORS[interpolator], default)
    dtype = moving.array.dtype
    if interpolator != "nearest" and np.issubdtype(dtype, np.integer):
        f.SetOutputPixelType(sitk.sitkFloat32)
        out = sitk.GetArrayFromImage(f.Execute(moving.to_sitk()))
        info = np.iinfo(dtype)
        np.rint(out, out=out)
        np.clip(out, info.min, info.max, out=out)
        array = out.astype(dtype)
        del out
    else:
        array = sitk.GetArrayFromImage(f.Execute(moving.to_sitk()))
    return Volume.from_geometry(array, geometry)


def transfer_labels(labels: Volume, reference: Geometry | Volume,
                    transform: sitk.Transform) -> Volume:
    """Labels of the moving acquisition carried onto the fixed grid (nearest neighbour).

    Nearest-neighbour resampling keeps the label values exactly (no new values appear);
    fixed voxels that map outside the moving grid become background (0). Stray values
    in ``labels`` are carried as they are and are not checked here.

    Examples
    --------
    >>> masks1 = transfer_labels(masks2, x1.geometry, result.transform)  # doctest: +SKIP
    """
    if not np.issubdtype(labels.array.dtype, np.integer):
        raise OptionError(f"labels must have an integer voxel type, found {labels.array.dtype}")
    return resample_volume(labels, reference, transform, interpolator="nearest", default=0)

