"""A 3D array with its geometry: :class:`Volume`, :class:`Geometry` and :class:`Header`.

Axis order is (z, y, x) everywhere, as SimpleITK's ``GetArrayFromImage`` gives it: axis 0
runs along the leg (knee to ankle), axis 1 into depth from the skin, axis 2 across the
leg. ``spacing``, ``origin`` and ``direction`` use the same order: ``origin`` is the
physical position (mm) of voxel (0, 0, 0) with its components listed (z, y, x), and
``direction[i, j]`` is component ``i`` of the unit vector along array axis ``j``, both in
(z, y, x) order. ITK's (x, y, z) order exists only here and in :mod:`.volume_io`.
Reading and writing files is :mod:`leg3dus.core.volume_io`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import GeometryError


def reverse_matrix(m: np.ndarray) -> np.ndarray:
    """Convert a 3x3 direction matrix between (x, y, z) and (z, y, x) component order."""
    return np.asarray(m, dtype=np.float64)[::-1, ::-1].copy()


@dataclass(frozen=True)
class Geometry:
    """Where a grid lies in space: shape, spacing (mm), origin (mm), direction; all (z, y, x)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm3."""
        return float(np.prod(self.spacing))

    def index_to_physical(self, index: np.ndarray) -> np.ndarray:
        """Physical points (..., 3) in (z, y, x) mm of continuous voxel indices (..., 3)."""
        index = np.asarray(index, dtype=np.float64)
        scaled = index * np.asarray(self.spacing)
        return np.asarray(self.origin) + scaled @ np.asarray(self.direction).T

    def physical_to_index(self, point: np.ndarray) -> np.ndarray:
        """Continuous voxel indices (..., 3) of physical points (..., 3), both (z, y, x)."""
        point = np.asarray(point, dtype=np.float64) - np.asarray(self.origin)
        return (point @ np.asarray(self.direction)) / np.asarray(self.spacing)

    def matches(self, other: Geometry, rtol: float = 1e-4, atol_mm: float = 1e-3) -> list[str]:
        """Differences from ``other`` as readable phrases; an empty list when they match.

        Spacing is compared relatively (``rtol``), origin absolutely in mm (``atol_mm``),
        direction element-wise to ``rtol``.
        """
        problems = []
        if tuple(self.shape) != tuple(other.shape):
            problems.append(f"shape {_fmt(self.shape, 'd')} vs {_fmt(other.shape, 'd')}")
        if not np.allclose(self.spacing, other.spacing, rtol=rtol, atol=0):
            problems.append(f"spacing {_fmt(self.spacing)} vs {_fmt(other.spacing)} mm")
        if not np.allclose(self.origin, other.origin, rtol=0, atol=atol_mm):
            problems.append(f"origin {_fmt(self.origin)} vs {_fmt(other.origin)} mm")
        if not np.allclose(self.direction, other.direction, rtol=0, atol=rtol):
            problems.append("direction differs")
        return problems


def _fmt(values, spec: str = ".4g") -> str:
    return "(" + ", ".join(format(v, spec) for v in values) + ")"


@dataclass
class Volume:
    """A 3D array in (z, y, x) order with its spacing, origin and direction.

    Examples
    --------
    >>> import numpy as np
    >>> vol = Volume(np.zeros((4, 5, 6), np.uint8), spacing=(0.5, 0.5, 0.5))
    >>> vol.shape, vol.voxel_volume_mm3
    ((4, 5, 6), 0.125)
    """

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise GeometryError(f"a volume needs a 3D array, found shape {self.array.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)
        self.origin = tuple(float(o) for o in self.origin)
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)
        if len(self.spacing) != 3 or min(self.spacing) <= 0:
            raise GeometryError(f"spacing must be three positive numbers, found {self.spacing}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.array.dtype

    @property
    def geometry(self) -> Geometry:
        """The grid of this volume without its voxels."""
        return Geometry(self.shape, self.spacing, self.origin, self.direction.copy())

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm3."""
        return float(np.prod(self.spacing))

    def with_array(self, array: np.ndarray) -> Volume:
        """A new volume with ``array`` on this volume's grid (shapes must agree)."""
        if array.shape != self.array.shape:
            raise GeometryError(f"array shape {array.shape} does not match volume {self.shape}")
        return Volume(array, self.spacing, self.origin, self.direction.copy())

    def crop(self, box: tuple[slice, slice, slice]) -> Volume:
        """The sub-volume ``array[box]`` with its origin moved so it stays in place."""
        starts = [s.indices(n)[0] for s, n in zip(box, self.shape, strict=True)]
        origin = self.geometry.index_to_physical(np.asarray(starts, dtype=np.float64))
        return Volume(self.array[box], self.spacing, tuple(origin), self.direction.copy())

    @classmethod
    def from_geometry(cls, array: np.ndarray, geometry: Geometry) -> Volume:
        """A volume of ``array`` placed on ``geometry``."""
        if tuple(array.shape) != tuple(geometry.shape):
            raise GeometryError(
                f"array shape {array.shape} does not match the grid {tuple(geometry.shape)}"
            )
        return cls(array, geometry.spacing, geometry.origin, np.asarray(geometry.direction))

    def to_sitk(self) -> sitk.Image:
        """A SimpleITK image with the same voxels and geometry (copies the array)."""
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array))
        _set_sitk_geometry(image, self.spacing, self.origin, self.direction)
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image, copy: bool = True) -> Volume:
        """A volume from a 3D scalar SimpleITK image.

        With ``copy=False`` the array uses the image's own buffer (no second copy in
        memory); the image is kept alive as long as the array is.
        """
        if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
            raise GeometryError(
                f"expected a 3D scalar image, found {image.GetDimension()}D with "
                f"{image.GetNumberOfComponentsPerPixel()} components per voxel"
            )
        spacing, origin, direction = _sitk_geometry(image)
        array = sitk.GetArrayFromImage(image) if copy else np.asarray(_ImageBuffer(image))
        return cls(array, spacing, origin, direction)


class _ImageBuffer:
    """Exposes a SimpleITK image's voxels to numpy and keeps the image alive meanwhile.

    ``sitk.GetArrayViewFromImage`` alone does not hold a reference to the image, and
    ``GetArrayFromImage`` doubles peak memory (1 GB for a full-size uint8 volume).
    """

    def __init__(self, image: sitk.Image) -> None:
        view = sitk.GetArrayViewFromImage(image)
        self._image = image
        self.__array_interface__ = {"shape": view.shape, "typestr": view.dtype.str,
                                    "data": (view.__array_interface__["data"][0], False),
                                    "version": 3}


def _sitk_geometry(image) -> tuple[tuple, tuple, np.ndarray]:
    spacing = tuple(image.GetSpacing())[::-1]
    origin = tuple(image.GetOrigin())[::-1]
    direction = reverse_matrix(np.asarray(image.GetDirection()).reshape(3, 3))
    return spacing, origin, direction


def _set_sitk_geometry(image: sitk.Image, spacing, origin, direction) -> None:
    image.SetSpacing([float(s) for s in spacing[::-1]])
    image.SetOrigin([float(o) for o in origin[::-1]])
    image.SetDirection(reverse_matrix(direction).ravel().tolist())


@dataclass(frozen=True)
class Header:
    """What a volume file says about its grid, read without loading the voxels."""

    path: Path
    geometry: Geometry
    dtype: np.dtype
    components: int = 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.geometry.shape

    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.geometry.spacing

    @property
    def nbytes(self) -> int:
        """Bytes the voxels take in memory once read."""
        return int(np.prod(self.shape)) * self.dtype.itemsize * self.components


