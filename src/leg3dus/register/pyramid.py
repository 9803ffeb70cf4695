"""Downsampled copies of a large uint8 volume and of where it was scanned, for registration.

A full-size volume (1443 x 632 x 564 voxels) is 0.5 GB as uint8 and 2 GB as float32, the
type ITK's registration needs; so each pyramid level is made by block averaging
(``BinShrink``) of the cropped uint8 image and only the small result is cast to float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..core.arrays import bounding_box
from ..core.errors import GeometryError
from ..core.volume import Volume

MASK_MM = 1.0  #: finest voxel size (mm) of the masks of usable voxels
#: Fewest voxels a pyramid level keeps along each axis of an image's scanned region.
MIN_LEVEL_VOXELS = 16


@dataclass
class Level:
    """One pyramid level: float32 image, mask of usable voxels (uint8 0/1, on its own
    grid, possibly coarser than the image) and the number of usable image voxels."""

    image: sitk.Image
    mask: sitk.Image
    factor: tuple[int, int, int]
    usable: int

    @property
    def spacing_mm(self) -> float:
        return float(max(self.image.GetSpacing()))


def level_factors(spacing_zyx, target_mm: float) -> tuple[int, int, int]:
    """Integer shrink factors (z, y, x) that bring ``spacing_zyx`` close to ``target_mm``.

    >>> level_factors((0.5, 0.5, 1.0), 2.0)
    (4, 4, 2)
    """
    return tuple(max(1, int(round(target_mm / s))) for s in spacing_zyx)


def level_schedule(levels_mm, spacings_zyx, extents_mm_zyx,
                   min_voxels: int = MIN_LEVEL_VOXELS) -> list[float]:
    """The pyramid's voxel sizes (mm), coarse to fine, adapted to the images' grids.

    A level is never finer than the coarser image's finest spacing, and never so coarse
    that a scanned region (extent in mm, (z, y, x), one per image) spans fewer than
    ``min_voxels`` voxels along an axis: such a level is brought down to the largest
    whole multiple of the data's spacing that keeps them (a level a few voxels wide has
    almost no usable voxel once the rim of the field of view is left out, and its
    optimum is noise). Levels that come to the same shrink factors are merged.

    Examples
    --------
    A 2 mm volume whose scanned region is 130 mm wide: a 16 mm level would be 8 voxels
    wide, so it becomes 8 mm (16 voxels of 8.125 mm, rounded down to a multiple of 2 mm).

    >>> level_schedule((16, 4, 2, 1), [(2.0,) * 3] * 2, [(380.0, 170.0, 130.0)] * 2)
    [8.0, 4.0, 2.0]
    >>> level_schedule((4, 2, 1, 0.6), [(0.5,) * 3] * 2, [(200.0, 90.0, 90.0)] * 2)
    [4.0, 2.0, 1.0, 0.6]
    """
    finest = max(min(s) for s in spacings_zyx)
    widest = min(min(e) for e in extents_mm_zyx) / min_voxels
    coarsest = finest * max(1, int(widest // finest))  # a whole shrink factor
    out: list[float] = []
    for target in sorted(levels_mm, reverse=True):
        size = min(max(float(target), finest), coarsest)
        if not out or round(size / finest) < round(out[-1] / finest):
            out.append(size)
    return out


class Pyramid:
    """Block-averaged levels of one acquisition, with masks of its scanned region.

    ``mask_empty`` leaves out voxels that were never scanned (value 0), together with a
    one-voxel rim at each level so that the border of the field of view, which differs
    between acquisitions, does not pull the registration. ``mask`` (same grid, non-zero
    = use) restricts the region further.
    """

    def __init__(self, volume: Volume, mask: Volume | None = None, mask_empty: bool = True,
                 name: str = "image"):
        if mask is not None and mask.geometry.matches(volume.geometry):
            raise GeometryError(f"the {name} mask is not on the {name}'s grid: "
                                + "; ".join(mask.geometry.matches(volume.geometry)))
        box = bounding_box(volume.array, margin_vox=2) if mask_empty else None
        if mask_empty and box is None:
            raise GeometryError(f"the {name} is empty (every voxel is 0)")
        if box is not None:
            volume = volume.crop(box)
            mask = mask.crop(box) if mask is not None else None
        self.name = name
        self.mask_empty = mask_empty
        array = volume.array
        if array.dtype != np.uint8:
            array = _to_uint8(array)
        # The (cropped) voxels stay a numpy array, not a second full-size copy in ITK:
        # levels are shrunk from it slab by slab (see _shrunk).
        self._volume = Volume(array, volume.spacing, volume.origin, volume.direction)
        self._mask = None
        if mask is not None:
            self._mask = Volume((mask.array != 0).astype(np.uint8) * 255, volume.spacing,
                                volume.origin, volume.direction).to_sitk()
        self.spacing = volume.spacing
        #: Extent (mm, (z, y, x)) of the scanned region's bounding box.
        self.extent_mm = tuple(n * s for n, s in zip(volume.shape, volume.spacing, strict=True))
        self._masks: dict[tuple, sitk.Image] = {}

    def level(self, target_mm: float) -> Level:
        """The level whose spacing is closest to ``target_mm`` (never finer than the data).

        Its mask has the voxel size of the level or :data:`MASK_MM`, whichever is coarser:
        ITK looks a mask up at physical points, so a coarse mask serves a fine image and
        spares the erosion of a large one.
        """
        factors = level_factors(self.spacing, target_mm)
        small = self._shrunk(factors)
        image = sitk.Cast(small, sitk.sitkFloat32)
        mask_factors = tuple(max(f, m) for f, m in
                             zip(factors, level_factors(self.spacing, MASK_MM), strict=True))
        mask = self._mask_at(mask_factors)
        count = int(sitk.GetArrayViewFromImage(mask).sum())
        usable = int(count * np.prod(mask_factors) / np.prod(factors))
        return Level(image, mask, factors, usable)

    def _shrunk(self, factors) -> sitk.Image:
        return shrink_slabs(self._volume, factors)

    def _mask_at(self, factors) -> sitk.Image:
        if factors in self._masks:
            return self._masks[factors]
        small = self._shrunk(factors)
        if self.mask_empty:
            # A block with any scanned voxel, less a one-block rim: the rim mixes in
            # never-scanned zeros and traces the field of view, not the anatomy.
            usable = sitk.BinaryThreshold(small, 1, 255, 1, 0)
            usable = sitk.BinaryErode(usable, [1, 1, 1], sitk.sitkBall, 0, 1)
        else:
            usable = sitk.Image(small.GetSize(), sitk.sitkUInt8) + 1
            usable.CopyInformation(small)
        if self._mask is not None:
            shrink = [int(f) for f in factors[::-1]]
            m = sitk.BinShrink(self._mask, shrink) if max(shrink) > 1 else self._mask
            usable = usable * sitk.BinaryThreshold(m, 128, 255, 1, 0)
        usable = sitk.Cast(usable, sitk.sitkUInt8)
        self._masks[factors] = usable
        return usable


def shrink_slabs(volume: Volume, factors, slab_voxels: int = 1 << 24) -> sitk.Image:
    """``sitk.BinShrink`` of ``volume`` by ``factors`` (z, y, x), a slab of planes at a time.

    The same image as shrinking the whole volume (blocks never straddle two slabs), but
    only one slab at a time is copied into ITK; factors of 1 give the whole volume.
    """
    factors = tuple(int(f) for f in factors)
    if max(factors) == 1:
        return volume.to_sitk()
    fz = factors[0]
    nz, ny, nx = volume.shape
    whole = (nz // fz) * fz  # planes of whole blocks; BinShrink leaves the rest out
    if whole == 0:
        return sitk.BinShrink(volume.to_sitk(), list(factors[::-1]))
    depth = fz * max(1, slab_voxels // max(1, ny * nx * fz))
    parts, first = [], None
    for z0 in range(0, whole, depth):
        box = (slice(z0, min(z0 + depth, whole)), slice(None), slice(None))
        small = sitk.BinShrink(volume.crop(box).to_sitk(), list(factors[::-1]))
        if first is None:
            first = small
        parts.append(sitk.GetArrayFromImage(small))
    out = sitk.GetImageFromArray(np.concatenate(parts) if len(parts) > 1 else parts[0])
    out.SetSpacing(first.GetSpacing())
    out.SetOrigin(first.GetOrigin())
    out.SetDirection(first.GetDirection())
    return out


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale another voxel type to 0..255 in chunks, keeping exact zeros (never scanned) at 0."""
    lo = float(array.min())
    hi = float(array.max())
    out = np.empty(array.shape, np.uint8)
    scale = 254.0 / (hi - lo) if hi > lo else 0.0
    for z in range(0, array.shape[0], 64):
        chunk = array[z:z + 64].astype(np.float32)
        scaled = 1.0 + (chunk - lo) * scale
        scaled[chunk == 0] = 0
        out[z:z + 64] = np.clip(np.rint(scaled), 0, 255)
    return out


def overlap_fraction(fixed: Level, moving: Level, transform: sitk.Transform,
                     max_points: int = 200_000, seed: int = 0) -> float:
    """Fraction of the fixed level's usable voxels that ``transform`` maps into the moving
    level's usable region (nearest voxel)."""
    fmask = sitk.GetArrayViewFromImage(fixed.mask)
    idx = np.argwhere(fmask)
    if len(idx) == 0:
        return 0.0
    if len(idx) > max_points:
        idx = idx[np.random.default_rng(seed).choice(len(idx), max_points, replace=False)]
    from ..core.transforms import _affine_of

    # Fixed mask index (z, y, x) -> physical (x, y, z) -> moving physical -> moving index.
    fm, mm = fixed.mask, moving.mask
    f_dir = np.asarray(fm.GetDirection()).reshape(3, 3)
    pts = np.asarray(fm.GetOrigin()) + (idx[:, ::-1] * np.asarray(fm.GetSpacing())) @ f_dir.T
    matrix, offset = _affine_of(transform)
    pts = pts @ matrix.T + offset
    m_dir = np.asarray(mm.GetDirection()).reshape(3, 3)
    cont = ((pts - np.asarray(mm.GetOrigin())) @ m_dir) / np.asarray(mm.GetSpacing())
    mi = np.rint(cont[:, ::-1]).astype(np.int64)
    mmask = sitk.GetArrayViewFromImage(moving.mask)
    inside = np.all((mi >= 0) & (mi < np.asarray(mmask.shape)), axis=1)
    hit = np.zeros(len(mi), bool)
    hit[inside] = mmask[tuple(mi[inside].T)] != 0
    return float(hit.mean())
