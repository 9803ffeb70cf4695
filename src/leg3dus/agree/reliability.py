"""Measurement error of repeated measures: the standard error of measurement (SEM), the
minimal detectable change (MDC95) and the within-subject coefficient of variation (CV%).

Definitions (Weir 2005; Hopkins 2000):

- ``SEM = SD * sqrt(1 - ICC2)``: ``SD`` is the sample SD (ddof 1) of all n x k values
  pooled, ``ICC2`` the two-way random, absolute-agreement, single-measure ICC
  (McGraw & Wong's ICC(A,1)). In the measure's unit, and in % of the grand mean.
- ``MDC95 = 1.96 * sqrt(2) * SEM``: the smallest change between two measurements of
  one subject that exceeds measurement error with 95 % confidence.
- ``CV% = 100 * sqrt(mean_i (SD_i / mean_i)^2)``: each subject's SD (ddof 1) over its
  mean, combined by root mean square over subjects.
"""

from __future__ import annotations

import math

import numpy as np

#: z of a two-sided 95 % interval, as the MDC95 formula writes it.
Z95 = 1.96


def sem(data, icc2: float) -> float:
    """Standard error of measurement: SD of all values (ddof 1) times sqrt(1 - ICC2).

    Examples
    --------
    >>> round(sem([[10.0, 11.0], [20.0, 19.0], [30.0, 31.0]], icc2=0.99), 4)
    0.8976
    """
    x = np.asarray(data, dtype=float)
    sd = float(x.std(ddof=1))
    return sd * math.sqrt(max(1.0 - icc2, 0.0))


def mdc95(sem_value: float) -> float:
    """Minimal detectable change at 95 %: 1.96 * sqrt(2) * SEM.

    >>> round(mdc95(1.0), 4)
    2.7719
    """
    return Z95 * math.sqrt(2.0) * sem_value


def cv_percent(data) -> float:
    """Within-subject coefficient of variation in %, root-mean-square method.

    NaN when a subject's mean is zero.

    Examples
    --------
    >>> round(cv_percent([[9.0, 11.0], [18.0, 22.0]]), 4)
    14.1421
    """
    x = np.asarray(data, dtype=float)
    means = x.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = x.std(axis=1, ddof=1) / means
    if not np.all(np.isfinite(cv)):
        return float("nan")
    return 100.0 * float(np.sqrt(np.mean(cv**2)))


def measurement_error(data, icc2: float) -> dict[str, float]:
    """SEM, SEM in % of the grand mean, MDC95 and its %, and CV% of a (subjects, raters)
    table; ``icc2`` is its ICC2 (:func:`leg3dus.agree.icc.icc`).

    >>> r = measurement_error([[10.0, 11.0], [20.0, 19.0], [30.0, 31.0]], icc2=0.99)
    >>> sorted(r)
    ['CV_pct', 'MDC95', 'MDC95_pct', 'SEM', 'SEM_pct']
    """
    x = np.asarray(data, dtype=float)
    s = sem(x, icc2)
    grand = float(x.mean())
    pct = 100.0 / grand if grand else float("nan")
    return {"SEM": s, "SEM_pct": s * pct, "MDC95": mdc95(s), "MDC95_pct": mdc95(s) * pct,
            "CV_pct": cv_percent(x)}
