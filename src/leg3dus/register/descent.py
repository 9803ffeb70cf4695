"""The optimisation at one pyramid level: ITK's metric on random samples of the scanned
regions, a translation search, and gradient descents restarted until the metric stops
improving.

A regular-step gradient descent halves its step each time the gradient turns back; on a
noisy metric (speckle, few voxels) it can stop on a small step far from the optimum, or
run out of iterations while still improving. So a level is not done when one descent
stops: :func:`descend` starts a new descent (full first step) from the result, on the
same samples, until one no longer lowers the metric by more than ``tolerance`` (relative),
at most ``restarts`` times. A level whose last descent still improved is reported as not
converged (:attr:`LevelReport.converged`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from ..core.errors import Leg3dusError
from ..core.transforms import as_euler
from .pyramid import Level

#: Relative metric gain under which a restarted descent counts as no improvement.
TOLERANCE = 1e-3


class RegistrationError(Leg3dusError):
    """Registration failed: the scanned regions do not overlap, or it did not converge."""


@dataclass
class LevelReport:
    """What happened at one pyramid level.

    ``iterations`` counts every descent of the level; ``restarts`` the descents after the
    first; ``gain`` is the relative metric gain of the last descent (below the tolerance
    when ``converged``); ``stop`` is ITK's stop condition of the last descent, which
    must not be its iteration limit for the level to be ``converged``.
    """

    spacing_mm: float
    samples: int
    iterations: int
    metric: float
    stop: str
    restarts: int = 0
    gain: float = 0.0
    converged: bool = True


def metric_method(fl: Level, ml: Level, metric, samples, bins, seed):
    """An ``ImageRegistrationMethod`` with the metric on ``min(samples, usable)`` random
    samples of the fixed level's usable voxels (the same samples for the same seed)."""
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


def evaluate(fl, ml, transform, metric, samples, bins, seed) -> float:
    """The metric of ``transform`` at a level on the random samples of ``seed`` (NaN when
    too few points overlap). An exhaustive search of one position: ``MetricEvaluate``
    would use every voxel."""
    reg, _ = metric_method(fl, ml, metric, samples, bins, seed)
    reg.SetOptimizerAsExhaustive([0] * 6, stepLength=1.0)
    reg.SetInitialTransform(transform, inPlace=False)
    try:
        reg.Execute(fl.image, ml.image)
        return float(reg.GetMetricValue())
    except RuntimeError:
        return float("nan")


def search_translation(fl, ml, transform, metric, samples, bins, search_mm, seed):
    """The best translation on a grid within +-``search_mm`` of ``transform``'s."""
    reg, _ = metric_method(fl, ml, metric, min(samples, 20_000), bins, seed)
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


def descend(fl: Level, ml: Level, transform, metric, samples, iterations, bins, seed,
            restarts: int = 4, tolerance: float = TOLERANCE):
    """Descents from ``transform`` at one level until one no longer improves the metric.

    Each descent after the first starts from the best transform so far with a full
    first step, on the same samples. Returns ``(LevelReport, transform)``; the report is
    ``converged`` when the last descent lowered the metric by at most ``tolerance``
    (relative to its value) and stopped on its own (a small step), not on its iteration
    limit: a fresh descent confirmed the result.
    """
    best = transform
    value = evaluate(fl, ml, best, metric, samples, bins, seed)
    total, gain, descents = 0, float("nan"), 0
    for descents in range(1, restarts + 2):  # noqa: B007 (the count is reported)
        (n, its, stop), candidate = _one_descent(fl, ml, best, metric, samples, iterations,
                                                 bins, seed)
        total += its
        new = evaluate(fl, ml, candidate, metric, samples, bins, seed)
        if not np.isfinite(new):
            gain = float("nan")  # cannot be judged: keep the best so far, not converged
            break
        gain = (value - new) / max(abs(value), 1e-12) if np.isfinite(value) else float("inf")
        if not np.isfinite(value) or new < value:
            best, value = candidate, new
        if gain <= tolerance:
            break
    # A descent cut by its iteration limit confirms nothing, even without a gain.
    converged = bool(np.isfinite(gain) and gain <= tolerance and not hit_limit(stop))
    report = LevelReport(fl.spacing_mm, n, total, float(value), stop, descents - 1,
                         float(gain) if np.isfinite(gain) else float("nan"), converged)
    return report, best


def hit_limit(stop: str) -> bool:
    """Whether ITK's stop condition says the descent ran out of iterations.

    >>> hit_limit("RegularStepGradientDescentOptimizerv4: Maximum number of iterations "
    ...           "(200) exceeded.")
    True
    >>> hit_limit("RegularStepGradientDescentOptimizerv4: Step too small after 12 "
    ...           "iterations. Current step (0.01) is less than minimum step (0.02).")
    False
    """
    return "maximum number of iterations" in stop.lower()


def _rsgd(reg, step, iterations, relax=0.5, minstep=0.01):
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=step, minStep=minstep * step, numberOfIterations=int(iterations),
        relaxationFactor=relax, gradientMagnitudeTolerance=1e-8)
    reg.SetOptimizerScalesFromPhysicalShift()


def _one_descent(fl: Level, ml: Level, transform, metric, samples, iterations, bins, seed):
    reg, n = metric_method(fl, ml, metric, samples, bins, seed)
    _rsgd(reg, fl.spacing_mm, iterations)
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
    stats = (n, int(reg.GetOptimizerIteration()), reg.GetOptimizerStopConditionDescription())
    return stats, as_euler_keep_center(out, transform)


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
