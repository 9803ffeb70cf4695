"""Two methods compared value by value: Lin's concordance correlation coefficient, the
Pearson correlation, a paired t-test and a Wilcoxon signed-rank test (scipy.stats).

Lin's CCC (Lin 1989) is ``2 s_ab / (s_a^2 + s_b^2 + (mean_a - mean_b)^2)`` with
population (1/n) variances and covariance: 1 for perfect agreement, lowered by both
scatter and a shift between the methods.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def lin_ccc(a, b) -> float:
    """Lin's concordance correlation coefficient of two paired series.

    Examples
    --------
    >>> lin_ccc([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    >>> round(lin_ccc([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]), 4)
    0.5714
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    sab = float(((a - a.mean()) * (b - b.mean())).mean())
    denom = float(a.var() + b.var() + (a.mean() - b.mean()) ** 2)
    return 2.0 * sab / denom if denom > 0 else float("nan")


def paired_tests(a, b) -> dict[str, float]:
    """Pearson r, paired t-test and Wilcoxon signed-rank test of ``a`` against ``b``.

    Returns ``pearson_r``, ``t``, ``t_p``, ``wilcoxon_w``, ``wilcoxon_p`` (two-sided;
    scipy's defaults: exact Wilcoxon distribution for small samples without ties, zero
    differences dropped). The Wilcoxon values are NaN when every difference is zero.

    Examples
    --------
    >>> r = paired_tests([1.0, 2.0, 3.0, 4.0], [1.5, 2.2, 3.9, 4.1])
    >>> round(r["t"], 3), r["wilcoxon_w"]
    (-2.365, 0.0)
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = stats.ttest_rel(a, b)
        r = stats.pearsonr(a, b)[0] if np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan
    if np.any(a != b):
        w = stats.wilcoxon(a, b)
        w_stat, w_p = float(w.statistic), float(w.pvalue)
    else:
        w_stat = w_p = float("nan")
    return {"pearson_r": float(r), "t": float(t.statistic), "t_p": float(t.pvalue),
            "wilcoxon_w": w_stat, "wilcoxon_p": w_p}
