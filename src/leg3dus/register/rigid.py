"""Rigid (6 degrees of freedom) monomodal registration of two acquisitions with SimpleITK.

The moving acquisition is aligned to the fixed one, coarse to fine, on block-averaged
copies of both (see :mod:`leg3dus.register.pyramid`). Each level runs ITK's
``ImageRegistrationMethod`` with an ``Euler3DTransform``, a normalised-correlation or
Mattes mutual-information metric sampled at random points of the scanned regions only,
and a regular-step gradient descent whose parameter scales come from physical shifts.
The result maps fixed points to moving points (ITK's convention, see
:mod:`leg3dus.register.transform`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk

from ..errors import Leg3dusError, OptionError
from ..volume import Volume
from .pyramid import Level, Pyramid, overlap_fraction
from .transform import as_euler

METRICS = ("correlation", "mattes")
INITS = ("geometry", "moments", "identity")


class RegistrationError(Leg3dusError):
    """Registration failed: the scanned regions do not overlap, or it did not converge."""


@dataclass
class LevelReport:
    """What happened at one pyramid level."""

    spacing_mm: float
    samples: int
    iterations: int
    metric: float
    stop: str


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
            "iterations": self.iterations, "seconds": self.seconds,
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
        than the data.
    samples
        Random metric samples per level (from the usable fixed voxels).
    iterations
        Maximum gradient-descent iterations per level.
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
        No overlap, no convergence at the finest level, or a final metric above
        ``max_metric``; the message gives the final metric value.

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
    start = time.perf_counter()
    fp = Pyramid(fixed, fixed_mask, mask_empty, "fixed image")
    mp = Pyramid(moving, moving_mask, mask_empty, "moving image")
    transform = start_transform = None
    reports: list[LevelReport] = []
    initial_metric = float("nan")
    targets = _distinct_levels(levels_mm, min(fixed.spacing), min(moving.spacing))
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
                transform = _search_translation(fl, ml, transform, metric, samples,
                                                histogram_bins, search_mm, seed)
        if i == len(targets) - 1:
            initial_metric = _evaluate(fl, ml, start_transform, metric, samples,
                                       histogram_bins, seed + i)
        level, transform = _run_level(fl, ml, transform, metric, samples, iterations,
                                      histogram_bins, seed + i)
        reports.append(level)
    final = reports[-1]
    overlap = overlap_fraction(*coarse, transform, seed=seed)
    if overlap < min_overlap:
        raise RegistrationError(
            f"no overlap after registration: {overlap:.0%} of the fixed scanned region "
            f"falls in the moving one (need {min_overlap:.0%}); final metric {final.metric:.4g}")
    if "maximum number of iterations" in final.stop.lower():
        raise RegistrationError(
            f"no convergence within {iterations} iterations at the {final.spacing_mm:.2f} mm "
            f"level; final metric {final.metric:.4g} (stop: {final.stop})")
    if max_metric is not None and final.metric > max_metric:
        raise RegistrationError(
            f"poor alignment: final metric {final.metric:.4g} is above the accepted "
            f"{max_metric:.4g} ({metric}); the images may not show the same anatomy")
    return RegistrationResult(transform, metric, final.metric, initial_metric, overlap,
                              reports, time.perf_counter() - start)


def _distinct_levels(levels_mm, fixed_mm: float, moving_mm: float) -> list[float]:
    """Levels coarse to fine, without those that the data's spacing makes identical."""
    finest = max(fixed_mm, moving_mm)
    out: list[float] = []
    for target in sorted(levels_mm, reverse=True):
        size = max(target, finest)
        if not out or round(size / finest) < round(out[-1] / finest):
            out.append(size)
    return out


def _init_name(init) -> str:
    return init if isinstance(init, str) else "given"


def _metric_method(fl: Level, ml: Level, metric, samples, bins, seed):
    usable = fl.usable
    if usable == 0:
        raise RegistrationError(f"no overlap: the fixed image has no scanned voxel at the "
                                f"{fl.spacing_mm:.2f} mm level")
    n = min(samples, usable)
    reg = sitk.ImageRegistrationMethod()
    if metric == "correlation":
        reg.SetMetricAsCorrelation()
    else:
        # Few samples fill few bins: scale the histogram with the sample count.
        reg.SetMetricAsMattesMutualInformation(
            numberOfHistogramBins=int(np.clip(round(n ** (1 / 3)), 8, bins)))
    reg.SetMetricFixedMask(fl.mask)
    reg.SetMetricMovingMask(ml.mask)
    # The percentage applies to the whole grid; masked-out samples are dropped afterwards.
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(min(1.0, n / usable), int(seed) + 1)
    reg.SetInterpolator(sitk.sitkLinear)
    # Gradients at the samples only, rather than a float gradient image of the whole level.
    reg.MetricUseFixedImageGradientFilterOff()
    reg.MetricUseMovingImageGradientFilterOff()
    return reg, n


def _evaluate(fl, ml, transform, metric, samples, bins, seed) -> float:
    """The metric of ``transform`` at a level on the random samples (NaN when too few
    points overlap). An exhaustive search of one position: ``MetricEvaluate`` would use
    every voxel."""
    reg, _ = _metric_method(fl, ml, metric, samples, bins, seed)
    reg.SetOptimizerAsExhaustive([0] * 6, stepLength=1.0)
    reg.SetInitialTransform(transform, inPlace=False)
    try:
        reg.Execute(fl.image, ml.image)
        return float(reg.GetMetricValue())
    except RuntimeError:
        return float("nan")


def _search_translation(fl, ml, transform, metric, samples, bins, search_mm, seed):
    reg, _ = _metric_method(fl, ml, metric, min(samples, 20_000), bins, seed)
    # At most 7 positions per axis (343 in all), at least one level voxel apart.
    step = max(fl.spacing_mm, search_mm / 3.0)
    n = max(1, int(round(search_mm / step)))
    reg.SetOptimizerAsExhaustive([0, 0, 0, n, n, n], stepLength=step)
    reg.SetOptimizerScales([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    best = {"value": np.inf, "position": list(transform.GetParameters())}

    def keep():
        value = reg.GetMetricValue()
        if np.isfinite(value) and value < best["value"]:
            best["value"], best["position"] = value, list(reg.GetOptimizerPosition())

    reg.AddCommand(sitk.sitkIterationEvent, keep)
    reg.SetInitialTransform(transform, inPlace=False)
    try:
        reg.Execute(fl.image, ml.image)
    except RuntimeError:
        return transform  # the descent below reports what is wrong
    out = sitk.Euler3DTransform(transform)
    out.SetParameters(best["position"])
    return out


def _rsgd(reg, step, iterations, relax=0.5, minstep=0.01):
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=step, minStep=minstep * step, numberOfIterations=int(iterations),
        relaxationFactor=relax, gradientMagnitudeTolerance=1e-8)
    reg.SetOptimizerScalesFromPhysicalShift()


OPT = _rsgd


def _run_level(fl: Level, ml: Level, transform, metric, samples, iterations, bins, seed):
    reg, n = _metric_method(fl, ml, metric, samples, bins, seed)
    step = fl.spacing_mm
    OPT(reg, step, iterations)
    reg.SetInitialTransform(transform, inPlace=False)
    try:
        out = reg.Execute(fl.image, ml.image)
    except RuntimeError as exc:
        text = " ".join(str(exc).split())
        if "outside" in text.lower() or "valid points" in text.lower():
            raise RegistrationError(
                f"no overlap at the {fl.spacing_mm:.2f} mm level: the sampled fixed points "
                f"map outside the moving scanned region (last metric "
                f"{_safe_metric(reg):.4g})") from None
        raise RegistrationError(f"registration failed at the {fl.spacing_mm:.2f} mm level: "
                                f"{text[-200:]}") from None
    report = LevelReport(fl.spacing_mm, n, int(reg.GetOptimizerIteration()),
                         float(reg.GetMetricValue()), reg.GetOptimizerStopConditionDescription())
    return report, as_euler_keep_center(out, transform)


def _safe_metric(reg) -> float:
    try:
        return float(reg.GetMetricValue())
    except RuntimeError:
        return float("nan")


def as_euler_keep_center(out: sitk.Transform, previous: sitk.Euler3DTransform):
    """The optimised transform as an Euler3DTransform with the previous centre of rotation."""
    t = sitk.Euler3DTransform(previous)
    try:
        t = sitk.Euler3DTransform(out)
    except (TypeError, RuntimeError):
        e = as_euler(out)
        center = previous.GetCenter()
        t.SetMatrix(e.GetMatrix())
        t.SetTranslation((np.asarray(e.TransformPoint(center)) - center).tolist())
    return t
