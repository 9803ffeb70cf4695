"""Rigid (6 degrees of freedom) monomodal registration of two acquisitions with SimpleITK.

The moving acquisition is aligned to the fixed one, coarse to fine, on block-averaged
copies of both (see :mod:`leg3dus.register.pyramid`). Each level runs ITK's
``ImageRegistrationMethod`` with an ``Euler3DTransform``, a normalised-correlation or
Mattes mutual-information metric sampled at random points of the scanned regions only,
and a regular-step gradient descent whose parameter scales come from physical shifts.
The result maps fixed points to moving points (ITK's convention, see
:mod:`leg3dus.core.transforms`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..core.errors import OptionError
from ..core.transforms import as_euler
from ..core.volume import Volume
from .descent import (
    TOLERANCE,
    LevelReport,
    RegistrationError,
    descend,
    evaluate,
    search_translation,
)
from .pyramid import Level, Pyramid, level_schedule, overlap_fraction

METRICS = ("correlation", "mattes")
INITS = ("geometry", "moments", "identity")


@dataclass
class RegistrationResult:
    """A rigid transform (fixed -> moving points, ITK convention) and how it was found.

    ``metric`` is ITK's value at the finest level (lower is better: minus the squared
    normalised correlation, or minus the mutual information), ``initial_metric`` that of
    the initial transform at the same level; ``overlap`` is the fraction
    of the fixed scanned region that lands in the moving scanned region.
    """

    transform: sitk.Euler3DTransform
    metric_name: str
    metric: float
    initial_metric: float
    overlap: float
    levels: list[LevelReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def iterations(self) -> int:
        return sum(lv.iterations for lv in self.levels)

    @property
    def restarts(self) -> int:
        """Descents restarted from a previous result, over all levels."""
        return sum(lv.restarts for lv in self.levels)

    @property
    def converged(self) -> bool:
        """Whether the finest level's last descent no longer improved the metric."""
        return bool(self.levels) and self.levels[-1].converged

    def summary(self) -> dict:
        """A JSON-friendly description (angles in degrees about z, y, x; shift in mm, z, y, x)."""
        t = self.transform
        ax, ay, az = np.rad2deg([t.GetAngleX(), t.GetAngleY(), t.GetAngleZ()])
        return {
            "metric": self.metric_name, "final_metric": self.metric,
            "initial_metric": self.initial_metric, "overlap": self.overlap,
            "rotation_deg_zyx": [float(az), float(ay), float(ax)],
            "translation_mm_zyx": list(t.GetTranslation())[::-1],
            "center_mm_zyx": list(t.GetCenter())[::-1],
            "iterations": self.iterations, "restarts": self.restarts,
            "converged": self.converged, "seconds": self.seconds,
            "levels": [lv.__dict__ for lv in self.levels],
        }


def _initial(init, fixed: Level, moving: Level) -> sitk.Euler3DTransform:
    if isinstance(init, sitk.Transform):
        t = as_euler(init)
        # Rotate about the centre of the fixed scanned region so angles and shifts decouple.
        center = _mask_center(fixed)
        new = sitk.Euler3DTransform()
        new.SetCenter(center)
        new.SetMatrix(t.GetMatrix())
        new.SetTranslation((np.asarray(t.TransformPoint(center)) - center).tolist())
        return new
    if init not in INITS:
        raise OptionError(f"unknown initialisation {init!r}; expected one of {', '.join(INITS)} "
                          "or a transform")
    if init == "identity":
        t = sitk.Euler3DTransform()
        t.SetCenter(_mask_center(fixed))
        return t
    if init == "geometry":
        # Centres of the scanned regions (not of the grids, whose extents differ freely).
        t = sitk.Euler3DTransform()
        c_f, c_m = np.asarray(_mask_center(fixed)), np.asarray(_mask_center(moving))
        t.SetCenter(c_f.tolist())
        t.SetTranslation((c_m - c_f).tolist())
        return t
    f = sitk.Mask(fixed.image, _on_grid(fixed.mask, fixed.image))
    m = sitk.Mask(moving.image, _on_grid(moving.mask, moving.image))
    return sitk.Euler3DTransform(sitk.CenteredTransformInitializer(
        f, m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS))


def _on_grid(mask: sitk.Image, image: sitk.Image) -> sitk.Image:
    if mask.GetSize() == image.GetSize() and mask.GetSpacing() == image.GetSpacing():
        return mask
    return sitk.Resample(mask, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)


def _mask_center(level: Level) -> list[float]:
    idx = np.argwhere(sitk.GetArrayViewFromImage(level.mask))
    if len(idx) == 0:
        idx = np.argwhere(np.ones(sitk.GetArrayViewFromImage(level.mask).shape, bool))
    c = idx.mean(axis=0)[::-1]
    return list(level.mask.TransformContinuousIndexToPhysicalPoint(c.tolist()))


def register_rigid(
    fixed: Volume,
    moving: Volume,
    *,
    metric: str = "correlation",
    init: str | sitk.Transform = "geometry",
    fixed_mask: Volume | None = None,
    moving_mask: Volume | None = None,
    mask_empty: bool = True,
    levels_mm: tuple[float, ...] = (4.0, 2.0, 1.0, 0.6),
    samples: int = 50_000,
    iterations: int = 200,
    histogram_bins: int = 32,
    search_mm: float = 12.0,
    min_overlap: float = 0.2,
    max_metric: float | None = None,
    restarts: int = 4,
    tolerance: float = TOLERANCE,
    seed: int = 0,
) -> RegistrationResult:
    """Rigidly align ``moving`` to ``fixed``; the transform maps fixed to moving points.

    Parameters
    ----------
    fixed, moving
        Two acquisitions (any voxel type; uint8 is used as it is), each with its geometry.
    metric
        ``"correlation"`` (normalised cross-correlation, for the same modality and
        similar contrast) or ``"mattes"`` (Mattes mutual information, ``histogram_bins``
        bins, when the contrast differs more).
    init
        ``"geometry"``: shift so the centres of the scanned regions meet; ``"moments"``:
        align the intensity centres of mass and principal axes; ``"identity"``: the
        physical frames already agree roughly; or a SimpleITK transform to start from.
    fixed_mask, moving_mask
        Optional volumes on the same grids; only non-zero voxels count.
    mask_empty
        Leave out never-scanned voxels (value 0) and the rim of the field of view.
    levels_mm
        Voxel size (mm) of each pyramid level, coarse to fine; a level is never finer
        than the data, nor so coarse that the scanned region of either image spans
        fewer than :data:`~leg3dus.register.pyramid.MIN_LEVEL_VOXELS` voxels along an
        axis (such a level is brought down to that size; see
        :func:`~leg3dus.register.pyramid.level_schedule`).
    samples
        Random metric samples per level (from the usable fixed voxels).
    iterations
        Maximum iterations of one gradient descent.
    restarts, tolerance
        At each level, after the first descent stops, start again from its result (full
        first step, same samples) until a descent lowers the metric by at most
        ``tolerance`` (relative), at most ``restarts`` times. The finest level must end
        so (converged), else :class:`RegistrationError`.
    search_mm
        Before the coarsest level's descent, try every translation on a grid (that
        level's voxel size, or ``search_mm / 3`` if coarser) within +-``search_mm`` of the
        initial one and start from the best (0: no search). This widens the capture
        range beyond local optima.
    min_overlap
        Smallest accepted fraction of the fixed scanned region that maps into the moving
        one, before and after registration.
    max_metric
        Largest accepted final metric value (None: accept any value that converged).
    seed
        Seed of the metric's random sampling (the result is deterministic for a seed).

    Raises
    ------
    RegistrationError
        No overlap; no convergence at the finest level (its last descent still
        improved the metric by more than ``tolerance``); or a final metric above
        ``max_metric``. The message gives the final metric value.

    Examples
    --------
    >>> result = register_rigid(read_volume("x1.mha"), read_volume("x2.mha"))  # doctest: +SKIP
    >>> write_transform(result.transform, "x2_to_x1.tfm")  # doctest: +SKIP
    """
    if metric not in METRICS:
        raise OptionError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if not levels_mm or min(levels_mm) <= 0:
        raise OptionError(f"levels_mm must be positive voxel sizes, found {levels_mm}")
    if samples < 1000 or iterations < 1:
        raise OptionError(f"samples must be >= 1000 and iterations >= 1, found {samples}, "
                          f"{iterations}")
    if restarts < 0 or not tolerance >= 0:
        raise OptionError(f"restarts and tolerance must be >= 0, found {restarts}, "
                          f"{tolerance}")
    start = time.perf_counter()
    fp = Pyramid(fixed, fixed_mask, mask_empty, "fixed image")
    mp = Pyramid(moving, moving_mask, mask_empty, "moving image")
    transform = start_transform = None
    reports: list[LevelReport] = []
    initial_metric = float("nan")
    targets = level_schedule(levels_mm, (fp.spacing, mp.spacing), (fp.extent_mm, mp.extent_mm))
    coarse = None
    for i, target in enumerate(targets):
        fl, ml = fp.level(target), mp.level(target)
        if i == 0:
            coarse = (fl, ml)
            transform = start_transform = _initial(init, fl, ml)
            ov = overlap_fraction(fl, ml, transform, seed=seed)
            if ov < min_overlap:
                raise RegistrationError(
                    f"no overlap: with the {_init_name(init)} initialisation only "
                    f"{ov:.0%} of the fixed scanned region falls inside the moving scanned "
                    f"region (need {min_overlap:.0%}); give a closer initial transform")
            if search_mm > 0:
                transform = search_translation(fl, ml, transform, metric, samples,
                                               histogram_bins, search_mm, seed)
        if i == len(targets) - 1:
            initial_metric = evaluate(fl, ml, start_transform, metric, samples,
                                      histogram_bins, seed + i)
        level, transform = descend(fl, ml, transform, metric, samples, iterations,
                                   histogram_bins, seed + i, restarts, tolerance)
        reports.append(level)
    final = reports[-1]
    overlap = overlap_fraction(*coarse, transform, seed=seed)
    if overlap < min_overlap:
        raise RegistrationError(
            f"no overlap after registration: {overlap:.0%} of the fixed scanned region "
            f"falls in the moving one (need {min_overlap:.0%}); final metric {final.metric:.4g}")
    if not final.converged:
        raise RegistrationError(
            f"no convergence at the {final.spacing_mm:.2f} mm level: after "
            f"{_descents(final.restarts + 1)} of at most {iterations} iterations "
            f"{_why(final, tolerance)}; final metric {final.metric:.4g}; allow more "
            f"iterations or restarts, or start closer")
    if max_metric is not None and final.metric > max_metric:
        raise RegistrationError(
            f"poor alignment: final metric {final.metric:.4g} is above the accepted "
            f"{max_metric:.4g} ({metric}); the images may not show the same anatomy")
    return RegistrationResult(transform, metric, final.metric, initial_metric, overlap,
                              reports, time.perf_counter() - start)


def _descents(n: int) -> str:
    return f"{n} descent" + ("s" if n > 1 else "")


def _why(level: LevelReport, tolerance: float) -> str:
    if not np.isfinite(level.gain):
        return "the metric of the last one is undefined (too few points overlap)"
    if level.gain > tolerance:
        return (f"the last one still lowered the metric by {level.gain:.2%} (more than "
                f"{tolerance:.2%})")
    return "the last one stopped on its iteration limit"


def _init_name(init) -> str:
    return init if isinstance(init, str) else "given"


