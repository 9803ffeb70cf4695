"""Registering two acquisition files and carrying labels across: what ``leg3dus register``
does, as one function that checks everything cheap first and writes nothing on failure.

Memory: the labels are cropped to their bounding box as soon as they are read, the
pyramid shrinks the images slab by slab, the moving image is freed before the labels
are carried, and every resampling fills the fixed grid a slab at a time; at full size
(1443 x 632 x 564 uint8) a registration with labels peaks near 2 GB.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.arrays import bounding_box
from ..core.errors import GeometryError, OptionError
from ..core.volume import Volume
from .rigid import INITS, METRICS, RegistrationResult, register_rigid

PathLike = str | os.PathLike
#: File endings of a transform output.
TRANSFORM_SUFFIXES = (".tfm", ".txt")


def parse_levels(text: str) -> tuple[float, ...]:
    """Pyramid voxel sizes (mm) from ``"4,2,1,0.6"``.

    >>> parse_levels("4,2,1")
    (4.0, 2.0, 1.0)
    """
    try:
        values = tuple(float(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise OptionError(f"--levels: expected voxel sizes in mm separated by commas, "
                          f"such as 4,2,1,0.6; found {text!r}") from None
    if not values or min(values) <= 0:
        raise OptionError(f"--levels: expected positive voxel sizes in mm, found {text!r}")
    return values


@dataclass
class RegisteredFiles:
    """What :func:`register_files` did: the registration, the files written and how the
    labels were read (a :class:`~leg3dus.core.label_values.LabelConvention`, or None)."""

    fixed: Path
    moving: Path
    transform: Path
    resampled: Path | None
    labels_out: Path | None
    result: RegistrationResult
    convention: object | None = None

    @property
    def outputs(self) -> list[Path]:
        return [p for p in (self.transform, self.resampled, self.labels_out) if p is not None]

    def summary(self) -> dict:
        """A JSON-friendly summary (angles in degrees about z, y, x; shifts in mm, z, y, x)."""
        out = {"fixed": self.fixed, "moving": self.moving, "transform": self.transform,
               "resampled": self.resampled, "labels_out": self.labels_out,
               **self.result.summary()}
        if self.convention is not None:
            out["label_values"] = self.convention.as_json()
        return out


def _check(fixed, moving, output, resampled, labels, labels_out, label_values, metric, init,
           inputs) -> None:
    from ..core.atomic import check_not_input

    if metric not in METRICS:
        raise OptionError(f"--metric: expected one of {', '.join(METRICS)}, found {metric!r}")
    if init not in INITS:
        raise OptionError(f"--init: expected one of {', '.join(INITS)}, found {init!r}")
    if (labels is None) != (labels_out is None):
        raise OptionError("--labels and --labels-out go together: give both or neither")
    if labels is None and label_values is not None:
        raise OptionError("--label-values applies to the --labels volume")
    if not Path(output).name.lower().endswith(TRANSFORM_SUFFIXES):
        raise OptionError(f"{output}: the transform file must end in .tfm or .txt")
    outputs = [Path(p) for p in (output, resampled, labels_out) if p is not None]
    for out in outputs:
        check_not_input(out, inputs)
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise OptionError("the output paths must differ from each other")


def _read_mask(path, ref: Volume, ref_path, name: str) -> Volume:
    from ..core.volume_io import read_volume

    mask = read_volume(path)
    problems = mask.geometry.matches(ref.geometry)
    if problems:
        raise GeometryError(f"{path}: the {name} mask is not on the grid of {ref_path}: "
                            + "; ".join(problems))
    return mask


def _read_labels(labels, label_values, moving, moving_header):
    """The labels of ``moving``, checked and mapped, cropped to their bounding box."""
    from ..core.label_values import read_labels
    from ..core.volume_io import read_header

    problems = read_header(labels).geometry.matches(moving_header.geometry)
    if problems:
        raise GeometryError(f"{labels}: the labels are not on the grid of {moving}: "
                            + "; ".join(problems))
    vol, convention = read_labels(labels, label_values)
    box = bounding_box(vol.array) or tuple(slice(0, 1) for _ in vol.shape)
    small = vol.crop(box)
    # a copy of the box only: the full array is freed when ``vol`` goes
    return Volume(np.ascontiguousarray(small.array), small.spacing, small.origin,
                  small.direction), convention


def register_files(
    fixed: PathLike,
    moving: PathLike,
    output: PathLike,
    *,
    resampled: PathLike | None = None,
    labels: PathLike | None = None,
    labels_out: PathLike | None = None,
    label_values=None,
    metric: str = "correlation",
    init: str = "geometry",
    init_transform: PathLike | None = None,
    fixed_mask: PathLike | None = None,
    moving_mask: PathLike | None = None,
    mask_empty: bool = True,
    levels_mm: tuple[float, ...] = (4.0, 2.0, 1.0, 0.6),
    samples: int = 50_000,
    iterations: int = 200,
    search_mm: float = 12.0,
    min_overlap: float = 0.2,
    max_metric: float | None = None,
    seed: int = 0,
) -> RegisteredFiles:
    """Register ``moving`` to ``fixed`` (files) and write the transform to ``output``.

    Optionally writes ``moving`` resampled onto the fixed grid (``resampled``, linear)
    and ``labels`` (on the moving grid, read with ``label_values``: see
    :func:`leg3dus.core.label_values.read_labels`) carried onto the fixed grid
    (``labels_out``, nearest neighbour). Options, output paths, headers, label values and
    the initial transform are checked before the images are read; the outputs are
    written only once everything has been computed, each atomically, so a failure
    (:class:`~leg3dus.register.RegistrationError` and the other ``Leg3dusError``
    subclasses) leaves none of them. The other parameters are those of
    :func:`~leg3dus.register.register_rigid` (``mask_empty=False`` lets never-scanned
    voxels count).

    Examples
    --------
    >>> done = register_files("x1.mha", "x2.mha", "x2.tfm", labels="masksX2.mha",
    ...                       labels_out="masksX2_on_x1.mha")  # doctest: +SKIP
    >>> done.summary()["translation_mm_zyx"]                    # doctest: +SKIP
    [1.9, -0.4, 3.1]
    """
    from ..core.transforms import read_transform, write_transform
    from ..core.volume_io import read_header, read_volume, write_volume
    from .resample import resample_volume, transfer_labels

    inputs = [fixed, moving, labels, fixed_mask, moving_mask, init_transform]
    _check(fixed, moving, output, resampled, labels, labels_out, label_values, metric, init,
           inputs)
    levels_mm = tuple(float(v) for v in levels_mm)
    moving_header = read_header(moving)
    label_vol = convention = None
    if labels is not None:
        label_vol, convention = _read_labels(labels, label_values, moving, moving_header)
    start = read_transform(init_transform) if init_transform is not None else init
    fixed_vol = read_volume(fixed)
    moving_vol = read_volume(moving)
    masks = {}
    if fixed_mask is not None:
        masks["fixed"] = _read_mask(fixed_mask, fixed_vol, fixed, "fixed")
    if moving_mask is not None:
        masks["moving"] = _read_mask(moving_mask, moving_vol, moving, "moving")
    result = register_rigid(
        fixed_vol, moving_vol, metric=metric, init=start, fixed_mask=masks.get("fixed"),
        moving_mask=masks.get("moving"), mask_empty=mask_empty, levels_mm=levels_mm,
        samples=samples, iterations=iterations, search_mm=search_mm,
        min_overlap=min_overlap, max_metric=max_metric, seed=seed)
    grid = fixed_vol.geometry
    del fixed_vol, masks
    moved = None
    if resampled is not None:
        moved = resample_volume(moving_vol, grid, result.transform)
    del moving_vol
    moved_labels = None
    if label_vol is not None:
        moved_labels = transfer_labels(label_vol, grid, result.transform)
        del label_vol
    write_transform(result.transform, output)
    for vol, path in ((moved, resampled), (moved_labels, labels_out)):
        if vol is not None:
            write_volume(vol, path)
    return RegisteredFiles(Path(fixed), Path(moving), Path(output),
                           None if resampled is None else Path(resampled),
                           None if labels_out is None else Path(labels_out), result,
                           convention)
