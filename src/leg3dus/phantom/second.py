"""A second acquisition of a phantom subject: another frequency, field of view and pose.

For 15 of the 44 LEG-3D-US subjects a second volume was recorded at another probe
frequency and rigidly registered to the first to carry the annotations across. This
module renders such a volume for a synthetic subject: the same continuous anatomy seen
through a lower-frequency probe (wider point-spread function, less attenuation, deeper
reach), over another field of view (its sweeps start and end elsewhere along the leg
and cover another width), with the leg displaced by a known rigid transform (each
angle within +-5 degrees, each shift within +-10 mm).

The true transform is saved in ITK's convention with ``x1`` as the fixed image: it maps
a physical point of ``x1`` (x, y, z mm) to the physical point of ``x2`` that shows the
same tissue, so ``sitk.Resample(x2, x1, transform)`` brings ``x2`` onto ``x1``'s grid
and a registration of ``x2`` (moving) to ``x1`` (fixed) should return it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..core.errors import OptionError
from ..core.volume import Geometry, Volume
from ..core.volume_io import write_volume

IMAGE_NAME = "x2.mha"  #: the second acquisition, beside ``x1.mha``
LABEL_NAME = "masksX2.mha"  #: its labels (the phantom knows them; the dataset did not)
TRANSFORM_NAME = "x2_true.tfm"  #: x1 points -> x2 points (ITK, x1 fixed)
FREQUENCY_MHZ = 5.0  #: probe frequency of the second acquisition (the first: 7.5 MHz)
MAX_DEPTH_MM = 110.0  #: its imaging depth (a lower frequency reaches deeper; the first: 90)
MAX_ANGLE_DEG = 5.0
MAX_SHIFT_MM = 10.0
_CHUNK = 16  # z slices of the second grid classified at a time


@dataclass
class SecondAcquisition:
    """The second volume, its labels, and the transform x1 points -> x2 points (ITK)."""

    image: Volume
    labels: Volume
    transform: sitk.Euler3DTransform
    frequency_mhz: float


def random_pose(rng: np.random.Generator, center_zyx, max_angle_deg: float = MAX_ANGLE_DEG,
                max_shift_mm: float = MAX_SHIFT_MM) -> sitk.Euler3DTransform:
    """A rigid transform with each angle in +-``max_angle_deg`` and each shift component in
    +-``max_shift_mm``, rotating about ``center_zyx`` (mm, (z, y, x))."""
    from ..core.transforms import euler_transform

    angles = rng.uniform(-max_angle_deg, max_angle_deg, 3)
    shift = rng.uniform(-max_shift_mm, max_shift_mm, 3)
    return euler_transform(angles, shift, center_zyx)


def field_of_view(rng: np.random.Generator, extent_mm, spacing) -> tuple[tuple, tuple]:
    """Origin (mm) and shape of the second grid in its own physical frame, both (z, y, x),
    for a subject of ``extent_mm`` at ``spacing`` mm (z, y, x).

    The sweeps start 5-30 mm lower or end 5-30 mm higher along the leg and cover 0-10 mm
    less on each side; the depth is the same (the anatomy model ends there).
    """
    ez, ey, ex = extent_mm
    top, bottom = rng.uniform(5.0, 30.0, 2)
    left, right = rng.uniform(0.0, 10.0, 2)
    origin = (top, 0.0, left)
    size = (ez - top - bottom, ey, ex - left - right)
    shape = tuple(max(8, int(round(s / sp))) for s, sp in zip(size, spacing, strict=True))
    return origin, shape


def make_second_acquisition(params, x1: Volume | Geometry, seed: int = 0,
                            frequency_mhz: float = FREQUENCY_MHZ,
                            max_depth_mm: float = MAX_DEPTH_MM,
                            transform: sitk.Transform | None = None,
                            anatomy=None) -> SecondAcquisition:
    """Render the second acquisition of the subject ``params`` whose first volume is ``x1``.

    Parameters
    ----------
    params
        The subject's :class:`~leg3dus.phantom.params.SubjectParams`.
    x1
        The first acquisition as the phantom wrote it, or its grid (only the grid is
        used: voxel ``i`` of ``x1`` shows the anatomy at ``(i + 0.5) * spacing`` mm).
    seed
        Seed of the pose, the field of view and the speckle (with the subject index).
    frequency_mhz, max_depth_mm
        Probe frequency and imaging depth of the second acquisition (the point-spread
        function, attenuation and gain follow the frequency, see
        :class:`~leg3dus.phantom.bmode.Probe`).
    transform
        The true transform (x1 points -> x2 points, ITK); drawn at random when None.
    anatomy
        The subject's :class:`~leg3dus.phantom.anatomy.Anatomy` if already built.

    Examples
    --------
    >>> from leg3dus.phantom import cohort_params, make_subject
    >>> x1, _ = make_subject(cohort_params(1)[0], spacing=4.0)
    >>> second = make_second_acquisition(cohort_params(1)[0], x1)
    >>> second.image.shape, second.image.spacing == x1.spacing   # another field of view
    ((82, 40, 33), True)
    """
    from .anatomy import Anatomy
    from .bmode import Probe, render_bmode
    from .tissue import GEL, label_lut

    if frequency_mhz <= 0:
        raise OptionError(f"frequency must be positive MHz, found {frequency_mhz}")
    x1 = x1.geometry if isinstance(x1, Volume) else x1
    if not np.allclose(x1.direction, np.eye(3)):
        raise OptionError("the first acquisition of a phantom subject has an identity direction")
    rng = np.random.default_rng([int(seed), int(params.index), 2])
    anatomy = anatomy or Anatomy(params)
    spacing = x1.spacing
    center = x1.index_to_physical((np.asarray(x1.shape) - 1) / 2.0)
    truth = (random_pose(rng, center) if transform is None
             else _as_euler(transform))
    origin, shape = field_of_view(rng, anatomy.extent_mm, spacing)
    tissue = _tissue_on_grid(anatomy, truth, origin, shape, spacing, x1)
    outside = tissue == _OUTSIDE
    tissue[outside] = GEL
    probe = Probe(frequency_mhz=frequency_mhz, max_depth_mm=max_depth_mm)
    image = render_bmode(tissue, spacing, seed=int(rng.integers(2**31)), probe=probe)
    # Where the model has no anatomy (outside its box), nothing was scanned.
    image[outside] = 0
    labels = label_lut()[tissue]
    del tissue, outside
    return SecondAcquisition(Volume(image, spacing, origin), Volume(labels, spacing, origin),
                             truth, frequency_mhz)


_OUTSIDE = 255  # tissue code of points outside the anatomy's box


def _as_euler(transform):
    from ..core.transforms import as_euler

    return as_euler(transform)


def _tissue_on_grid(anatomy, truth, origin, shape, spacing, x1: Geometry) -> np.ndarray:
    """Tissue codes of the second grid: x2 voxel -> x1 physical (inverse of ``truth``) ->
    subject frame, classified in slabs so no full-size point array is made."""
    from ..core.transforms import rigid_matrix

    r, t = rigid_matrix(truth.GetInverse())
    # Subject-frame coordinate of x1's physical point p: p - x1.origin + spacing / 2.
    shift = t - np.asarray(x1.origin) + np.asarray(spacing) / 2.0
    extent = np.asarray(anatomy.extent_mm)
    nz, ny, nx = shape
    out = np.empty(shape, np.uint8)
    yx = np.stack(np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij"), -1).reshape(-1, 2)
    yx_mm = yx * np.asarray(spacing[1:]) + np.asarray(origin[1:])
    for z0 in range(0, nz, _CHUNK):
        z1 = min(z0 + _CHUNK, nz)
        zs = np.arange(z0, z1) * spacing[0] + origin[0]
        pts = np.empty((z1 - z0, len(yx), 3), np.float32)
        pts[..., 0] = zs[:, None]
        pts[..., 1:] = yx_mm[None]
        pts = pts.reshape(-1, 3) @ r.T.astype(np.float32) + shift.astype(np.float32)
        codes = anatomy.tissue_at(pts)
        outside = np.any((pts < 0) | (pts > extent.astype(np.float32)), axis=1)
        codes[outside] = _OUTSIDE
        out[z0:z1] = codes.reshape(z1 - z0, ny, nx)
    return out


def write_second_acquisition(subject_dir: str | os.PathLike, params, x1: Volume | Geometry,
                             seed: int = 0, frequency_mhz: float = FREQUENCY_MHZ,
                             compression_level: int = 1, anatomy=None) -> dict:
    """Render and write ``x2.mha``, ``masksX2.mha`` and ``x2_true.tfm`` in ``subject_dir``.

    Returns the paths written and the true pose (angles in degrees and shift in mm,
    both (z, y, x)).
    """
    from ..core.transforms import write_transform

    subject_dir = Path(subject_dir)
    second = make_second_acquisition(params, x1, seed, frequency_mhz, anatomy=anatomy)
    paths = {"image": subject_dir / IMAGE_NAME, "labels": subject_dir / LABEL_NAME,
             "transform": subject_dir / TRANSFORM_NAME}
    write_volume(second.image, paths["image"], compression_level=compression_level)
    write_volume(second.labels, paths["labels"], compression_level=compression_level)
    write_transform(second.transform, paths["transform"])
    t = second.transform
    return {**paths, "frequency_mhz": frequency_mhz,
            "rotation_deg_zyx": np.rad2deg([t.GetAngleZ(), t.GetAngleY(), t.GetAngleX()]),
            "translation_mm_zyx": np.asarray(t.GetTranslation())[::-1]}


def second_acquisition_subjects(n: int, count: int | None = None) -> list[int]:
    """Indices of the subjects (of ``n``) that get a second acquisition: ``count`` of them
    spread evenly over the cohort (default: 15 of every 44, as in LEG-3D-US, at least 1).

    >>> second_acquisition_subjects(44)[:4], len(second_acquisition_subjects(44))
    ([0, 3, 6, 9], 15)
    """
    count = max(1, int(round(n * 15 / 44))) if count is None else int(count)
    if not 0 <= count <= n:
        raise OptionError(f"second acquisitions: expected 0..{n} subjects, found {count}")
    if count == 0:
        return []
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, count)})


def write_subject_second(job) -> dict:
    """Write the second acquisition of one cohort subject (a
    :class:`~leg3dus.phantom.cohort.SubjectJob`) beside its ``x1.mha``; returns a row."""
    from ..core.layout import subject_folder
    from .anatomy import Anatomy

    sp = (job.spacing,) * 3
    anatomy = Anatomy(job.params)
    grid = Geometry(anatomy.shape_at(sp), sp, tuple(0.5 * s for s in sp))
    folder = subject_folder(job.out, job.split, job.params.id)
    info = write_second_acquisition(folder, job.params, grid, seed=int(job.params.shape_seed),
                                    compression_level=job.compression_level, anatomy=anatomy)
    return {"id": job.params.id, "split": job.split, "x2": str(info["image"]),
            "rotation_deg_zyx": info["rotation_deg_zyx"].round(3).tolist(),
            "translation_mm_zyx": info["translation_mm_zyx"].round(3).tolist()}
