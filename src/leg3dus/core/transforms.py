"""Rigid transforms between two acquisitions: ITK's convention, (z, y, x) helpers, .tfm I/O.

A transform here is a SimpleITK transform in ITK's own convention: it maps a physical
point of the **fixed** image, with components (x, y, z) in mm, to the corresponding
physical point of the **moving** image. That is the direction ITK's resampling needs
(for every output voxel, where to read in the moving image) and the direction that
``ImageRegistrationMethod`` estimates; a ``.tfm`` file written here is read unchanged
by ``sitk.ReadTransform``, 3D Slicer and ITK-SNAP's ITK loader.

Only :func:`transform_points` and :func:`rigid_matrix` speak leg3dus's (z, y, x) order;
they reverse the components on the way in and out.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .atomic import atomic_path
from .errors import InputFileError, OptionError


def euler_transform(rotation_deg=(0.0, 0.0, 0.0), translation_mm=(0.0, 0.0, 0.0),
                    center_mm=(0.0, 0.0, 0.0)) -> sitk.Euler3DTransform:
    """An ITK ``Euler3DTransform`` from angles and a shift given in (z, y, x) order.

    ``rotation_deg[i]`` is the angle (degrees) about axis ``i`` of (z, y, x);
    ``translation_mm`` and ``center_mm`` (the centre of rotation) are (z, y, x) in mm.
    The transform maps fixed points to moving points (ITK's convention).

    Examples
    --------
    >>> t = euler_transform((0, 0, 0), (1.0, 2.0, 3.0))
    >>> transform_points(t, np.zeros((1, 3))).round(6).tolist()
    [[1.0, 2.0, 3.0]]
    """
    az, ay, ax = np.deg2rad(np.asarray(rotation_deg, dtype=np.float64))
    t = sitk.Euler3DTransform()
    t.SetCenter([float(c) for c in np.asarray(center_mm, dtype=np.float64)[::-1]])
    t.SetRotation(float(ax), float(ay), float(az))
    t.SetTranslation([float(v) for v in np.asarray(translation_mm, dtype=np.float64)[::-1]])
    return t


def as_euler(transform: sitk.Transform) -> sitk.Euler3DTransform:
    """The rigid part of ``transform`` as an ``Euler3DTransform`` (composites flattened).

    Raises :class:`OptionError` when the transform is not rigid.
    """
    if isinstance(transform, sitk.Euler3DTransform):
        return sitk.Euler3DTransform(transform)
    if transform.GetDimension() != 3:
        raise OptionError(f"expected a 3D transform, found a {transform.GetDimension()}D one")
    matrix, offset = _affine_of(transform)
    if not np.allclose(matrix @ matrix.T, np.eye(3), atol=1e-6) or np.linalg.det(matrix) < 0:
        raise OptionError(f"expected a rigid transform, found {transform.GetName()} "
                          "with scaling, shearing or a reflection")
    out = sitk.Euler3DTransform()
    out.SetMatrix(matrix.ravel().tolist(), 1e-5)
    out.SetTranslation(offset.tolist())
    return out


def _affine_of(transform: sitk.Transform) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) in (x, y, z) order with T(p) = matrix @ p + offset, probed at 4 points."""
    basis = np.vstack([np.zeros(3), np.eye(3)])
    mapped = np.array([transform.TransformPoint(p.tolist()) for p in basis])
    offset = mapped[0]
    matrix = (mapped[1:] - offset).T
    return matrix, offset


def rigid_matrix(transform: sitk.Transform) -> tuple[np.ndarray, np.ndarray]:
    """``(R, t)`` in (z, y, x) order such that the transform maps ``p`` to ``R @ p + t``."""
    matrix, offset = _affine_of(transform)
    return matrix[::-1, ::-1].copy(), offset[::-1].copy()


def transform_points(transform: sitk.Transform, points_zyx: np.ndarray) -> np.ndarray:
    """Map physical points (..., 3) in (z, y, x) mm from the fixed to the moving frame."""
    points_zyx = np.asarray(points_zyx, dtype=np.float64)
    r, t = rigid_matrix(transform)
    return points_zyx @ r.T + t


def rotation_angle_deg(transform: sitk.Transform) -> float:
    """The total rotation angle (degrees) of a rigid transform."""
    r, _ = rigid_matrix(transform)
    c = (np.trace(r) - 1.0) / 2.0
    return float(np.rad2deg(np.arccos(np.clip(c, -1.0, 1.0))))


def target_registration_error(estimated: sitk.Transform, truth: sitk.Transform,
                              points_zyx: np.ndarray) -> np.ndarray:
    """Distance (mm) between where ``estimated`` and ``truth`` send each point (N, 3) (z, y, x).

    Examples
    --------
    >>> a = euler_transform(translation_mm=(0.0, 0.0, 0.3))
    >>> target_registration_error(a, euler_transform(), np.zeros((2, 3))).round(6).tolist()
    [0.3, 0.3]
    """
    return np.linalg.norm(transform_points(estimated, points_zyx)
                          - transform_points(truth, points_zyx), axis=-1)


def write_transform(transform: sitk.Transform, path: str | os.PathLike) -> Path:
    """Write ``transform`` as an ITK text transform (.tfm or .txt), atomically."""
    path = Path(path)
    if not path.name.lower().endswith((".tfm", ".txt")):
        raise OptionError(f"{path}: a transform file must end in .tfm or .txt")
    with atomic_path(path) as tmp:
        sitk.WriteTransform(transform, str(tmp))
    return path


def read_transform(path: str | os.PathLike) -> sitk.Euler3DTransform:
    """Read an ITK transform file and return its rigid part as an ``Euler3DTransform``."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such transform file")
    try:
        transform = sitk.ReadTransform(str(path))
    except RuntimeError as exc:
        last = [ln for ln in str(exc).splitlines() if ln.strip()][-1:] or ["unreadable"]
        raise InputFileError(f"{path}: not an ITK transform file ({last[0].strip()})") from None
    try:
        return as_euler(transform)
    except OptionError as exc:
        raise InputFileError(f"{path}: {exc}") from None
