"""Bland-Altman agreement of two methods: bias, limits of agreement and their confidence
intervals, proportional bias, and the ratio (log) variant.

Differences are first minus second (``a - b``). The limits of agreement are
``bias +- z * SD`` (z = 1.96 by default; Bland & Altman 1986 used 2); their confidence
intervals use the approximate standard error ``sqrt(3 SD^2 / n)`` and the bias's
``SD / sqrt(n)``, with t quantiles on n - 1 degrees of freedom (Bland & Altman 1986,
1999). Proportional bias is the least-squares slope of the differences on the means,
with its two-sided p-value (scipy.stats.linregress).

The ratio variant, for measures whose error grows with size (volumes), works on
``ln a - ln b`` and gives back ratios ``a / b``: the geometric mean ratio and its
limits.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

#: z of the 95 % limits of agreement.
LOA_Z = 1.96


def bland_altman(a, b, z: float = LOA_Z, confidence: float = 0.95) -> dict[str, float]:
    """Bias, SD of the differences, limits of agreement with confidence intervals and
    proportional bias of two paired measures.

    Parameters
    ----------
    a, b
        Paired values of the first and second method (1-D, same length, n >= 3).
    z
        Multiple of the SD that spans the limits (1.96 for 95 %).
    confidence
        Level of the confidence intervals of the bias and the limits.

    Returns
    -------
    dict
        ``bias``, ``bias_ci_lower``, ``bias_ci_upper``, ``sd_diff``, ``loa_lower``,
        ``loa_upper``, ``loa_lower_ci_lower``, ``loa_lower_ci_upper``,
        ``loa_upper_ci_lower``, ``loa_upper_ci_upper``, ``prop_bias_slope``,
        ``prop_bias_intercept``, ``prop_bias_p``.

    Examples
    --------
    >>> r = bland_altman([10.0, 20.0, 30.0, 40.0], [9.0, 19.5, 29.0, 38.5])
    >>> round(r["bias"], 3), round(r["sd_diff"], 3), round(r["loa_upper"], 3)
    (1.0, 0.408, 1.8)
    """
    a, b = _pair(a, b)
    n = a.size
    diff = a - b
    mean = (a + b) / 2.0
    bias = float(diff.mean())
    sd = float(diff.std(ddof=1))
    t = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1))
    se_bias = sd / math.sqrt(n)
    se_loa = math.sqrt(3.0 * sd**2 / n)
    lower, upper = bias - z * sd, bias + z * sd
    out = {"bias": bias, "bias_ci_lower": bias - t * se_bias,
           "bias_ci_upper": bias + t * se_bias, "sd_diff": sd,
           "loa_lower": lower, "loa_upper": upper,
           "loa_lower_ci_lower": lower - t * se_loa, "loa_lower_ci_upper": lower + t * se_loa,
           "loa_upper_ci_lower": upper - t * se_loa, "loa_upper_ci_upper": upper + t * se_loa}
    if np.ptp(mean) > 0:
        fit = stats.linregress(mean, diff)
        slope, intercept, p = float(fit.slope), float(fit.intercept), float(fit.pvalue)
    else:
        slope = intercept = p = float("nan")
    out.update(prop_bias_slope=slope, prop_bias_intercept=intercept, prop_bias_p=p)
    return out


def bland_altman_ratio(a, b, z: float = LOA_Z,
                       confidence: float = 0.95) -> dict[str, float]:
    """The ratio variant: Bland-Altman on ``ln a - ln b``, given back as ratios ``a / b``.

    Returns ``ratio_bias`` (geometric mean of a / b), ``ratio_loa_lower``,
    ``ratio_loa_upper`` and the confidence intervals of the three
    (``ratio_bias_ci_lower`` ...). Values must be positive (``ValueError`` otherwise).

    Examples
    --------
    >>> r = bland_altman_ratio([100.0, 200.0, 400.0], [50.0, 100.0, 200.0])
    >>> round(r["ratio_bias"], 6), round(r["ratio_loa_upper"], 6)
    (2.0, 2.0)
    """
    a, b = _pair(a, b)
    if np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("the ratio variant needs positive values")
    log = bland_altman(np.log(a), np.log(b), z=z, confidence=confidence)
    keys = ("bias", "bias_ci_lower", "bias_ci_upper", "loa_lower", "loa_upper",
            "loa_lower_ci_lower", "loa_lower_ci_upper", "loa_upper_ci_lower",
            "loa_upper_ci_upper")
    return {f"ratio_{k}": math.exp(log[k]) for k in keys}


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.size != b.size or a.size < 3:
        raise ValueError(f"expected two paired series of at least 3 values, found "
                         f"{a.size} and {b.size}")
    return a, b
