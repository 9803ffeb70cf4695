"""Bringing a moving volume or its labels onto the fixed grid with a registration transform.

The fixed grid is filled a slab of planes at a time, each from the part of the moving
volume that the slab maps into: neither volume is copied whole into SimpleITK and no
float copy of a full-size volume is made (a full-size volume is 0.5 GB as uint8).
"""

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
#: Output voxels resampled at once (a slab of whole planes of the fixed grid).
SLAB_VOXELS = 1 << 23
#: Voxels kept around the moving region a slab maps into (interpolation support).
_MARGIN_VOX = 2


def _resampler(reference: Geometry, transform: sitk.Transform, interpolator: int,
               default: float, z0: int = 0, depth: int | None = None
               ) -> sitk.ResampleImageFilter:
    # The output grid (planes z0 .. z0 + depth of the reference) is described, not
    # allocated: a full-size reference image would cost another 0.5 GB.
    nz, ny, nx = (int(n) for n in reference.shape)
    depth = nz - z0 if depth is None else depth
    origin = reference.index_to_physical(np.array([z0, 0.0, 0.0]))
    f = sitk.ResampleImageFilter()
    f.SetSize([nx, ny, int(depth)])
    f.SetOutputSpacing([float(s) for s in reference.spacing[::-1]])
    f.SetOutputOrigin([float(o) for o in origin[::-1]])
    f.SetOutputDirection(reverse_matrix(reference.direction).ravel().tolist())
    f.SetTransform(transform)
    f.SetInterpolator(interpolator)
    f.SetDefaultPixelValue(float(default))
    return f


def _source_box(moving: Geometry, reference: Geometry, transform: sitk.Transform, z0: int,
                depth: int) -> tuple[slice, slice, slice] | None:
    """The box of moving voxels (z, y, x) that planes z0 .. z0 + depth of the reference
    grid map into, with a margin; None when they map outside the moving grid."""
    _, ny, nx = reference.shape
    corners = np.array([[z, y, x] for z in (z0 - 0.5, z0 + depth - 0.5)
                        for y in (-0.5, ny - 0.5) for x in (-0.5, nx - 0.5)])
    points = reference.index_to_physical(corners)
    mapped = np.array([transform.TransformPoint([float(v) for v in p[::-1]])[::-1]
                       for p in points])
    index = moving.physical_to_index(mapped)
    lo = np.floor(index.min(axis=0)).astype(np.int64) - _MARGIN_VOX
    hi = np.ceil(index.max(axis=0)).astype(np.int64) + _MARGIN_VOX + 1
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, np.asarray(moving.shape))
    if np.any(hi <= lo):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def resample_volume(moving: Volume, reference: Geometry | Volume, transform: sitk.Transform,
                    interpolator: str = "linear", default: float = 0.0) -> Volume:
    """The moving volume seen on the ``reference`` grid through ``transform``.

    ``transform`` maps fixed (reference) points to moving points, as
    :func:`~leg3dus.register.register_rigid` returns it. The output keeps the moving
    voxel type (values are rounded and clipped for integer types) and takes the
    reference geometry; points that fall outside the moving grid get ``default``.
    Nearest and linear interpolation run slab by slab (beside the output, memory for a
    few planes); B-spline interpolation prefilters the whole moving volume at once.

    Examples
    --------
    >>> moved = resample_volume(x2, x1.geometry, result.transform)  # doctest: +SKIP
    """
    if interpolator not in _INTERPOLATORS:
        raise OptionError(f"unknown interpolator {interpolator!r}; expected one of "
                          f"{', '.join(_INTERPOLATORS)}")
    geometry = reference.geometry if isinstance(reference, Volume) else reference
    dtype = moving.array.dtype
    to_float = interpolator != "nearest" and np.issubdtype(dtype, np.integer)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    out = np.empty(tuple(int(n) for n in geometry.shape), dtype)
    nz, ny, nx = out.shape
    whole = interpolator == "bspline"
    step = nz if whole else max(1, SLAB_VOXELS // max(1, ny * nx))
    for z0 in range(0, nz, step):
        depth = min(step, nz - z0)
        if whole:
            source = moving
        else:
            box = _source_box(moving.geometry, geometry, transform, z0, depth)
            if box is None:
                out[z0:z0 + depth] = _cast(np.float64(default), dtype, info)
                continue
            source = moving.crop(box)
        f = _resampler(geometry, transform, _INTERPOLATORS[interpolator], default, z0, depth)
        if to_float:
            f.SetOutputPixelType(sitk.sitkFloat32)
        image = f.Execute(source.to_sitk())  # kept alive while its view is read
        slab = sitk.GetArrayViewFromImage(image)
        out[z0:z0 + depth] = _cast(slab, dtype, info) if to_float else slab
        del slab, image
    return Volume.from_geometry(out, geometry)


def _cast(values, dtype, info):
    """Float values rounded and clipped into an integer ``dtype`` (as they are otherwise)."""
    if info is None:
        return values
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def transfer_labels(labels: Volume, reference: Geometry | Volume,
                    transform: sitk.Transform) -> Volume:
    """Labels of the moving acquisition carried onto the fixed grid (nearest neighbour).

    Nearest-neighbour resampling keeps the label values exactly (no new values appear);
    fixed voxels that map outside the moving grid become background (0). Stray values
    in ``labels`` are carried as they are and are not checked here. The labels' voxel
    type is kept (uint8 stays uint8: no float copy), slab by slab.

    Examples
    --------
    >>> masks1 = transfer_labels(masks2, x1.geometry, result.transform)  # doctest: +SKIP
    """
    if not np.issubdtype(labels.array.dtype, np.integer):
        raise OptionError(f"labels must have an integer voxel type, found {labels.array.dtype}")
    return resample_volume(labels, reference, transform, interpolator="nearest", default=0)
