"""Rigid monomodal registration of two acquisitions and transfer of labels between them.

>>> from leg3dus.register import register_rigid, transfer_labels, write_transform
>>> result = register_rigid(x1, x2)                                # doctest: +SKIP
>>> write_transform(result.transform, "x2_to_x1.tfm")              # doctest: +SKIP
>>> masks_on_x1 = transfer_labels(masks2, x1.geometry, result.transform)  # doctest: +SKIP

The transform maps points of the fixed image to points of the moving image (ITK's
convention); see :mod:`leg3dus.core.transforms`.
"""

from ..core.transforms import (
    as_euler,
    euler_transform,
    read_transform,
    rigid_matrix,
    rotation_angle_deg,
    target_registration_error,
    transform_points,
    write_transform,
)
from .files import RegisteredFiles, parse_levels, register_files
from .resample import resample_volume, transfer_labels
from .rigid import (
    INITS,
    METRICS,
    LevelReport,
    RegistrationError,
    RegistrationResult,
    register_rigid,
)

__all__ = [
    "INITS", "METRICS", "LevelReport", "RegisteredFiles", "RegistrationError",
    "RegistrationResult", "as_euler", "euler_transform", "parse_levels", "read_transform",
    "register_files", "register_rigid", "resample_volume",
    "rigid_matrix", "rotation_angle_deg", "target_registration_error", "transfer_labels",
    "transform_points", "write_transform",
]
