"""Intraclass correlation in the six Shrout & Fleiss (1979) forms, with F-based 95 %
confidence intervals (McGraw & Wong 1996), from a two-way ANOVA of a subjects x raters
table.

The forms are named as pingouin names them:

========  ==============  ===================================================
key       McGraw & Wong   design
========  ==============  ===================================================
ICC1      ICC(1,1)        each subject rated by its own random raters, single
ICC2      ICC(A,1)        two-way random raters, absolute agreement, single
ICC3      ICC(C,1)        two-way fixed raters, consistency, single
ICC1k     ICC(1,k)        as ICC1, mean of the k ratings
ICC2k     ICC(A,k)        as ICC2, mean of the k ratings
ICC3k     ICC(C,k)        as ICC3, mean of the k ratings
========  ==============  ===================================================

No library in leg3dus's dependencies computes these (pingouin does, and the tests
check every value and interval against it); the F and its quantiles come from scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

#: The ICC forms, in pingouin's order and naming.
ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")


@dataclass(frozen=True)
class MeanSquares:
    """Mean squares of the two-way ANOVA (subjects x raters, one rating per cell).

    ``msb`` between subjects (df n-1), ``msw`` within subjects (df n(k-1)), ``msj``
    between raters (df k-1), ``mse`` residual (df (n-1)(k-1)); ``n`` subjects, ``k``
    raters; ``ss_total`` the total sum of squares about the grand mean.
    """

    msb: float
    msw: float
    msj: float
    mse: float
    n: int
    k: int
    ss_total: float


def mean_squares(data) -> MeanSquares:
    """The two-way ANOVA mean squares of a (subjects, raters) table.

    Examples
    --------
    >>> ms = mean_squares([[1.0, 2.0], [3.0, 5.0], [6.0, 6.0]])
    >>> round(ms.msb, 4), round(ms.mse, 4), ms.n, ms.k
    (10.1667, 0.5, 3, 2)
    """
    x = np.asarray(data, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"expected a (subjects, raters) table of at least 2 x 2, "
                         f"found shape {x.shape}")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((x - grand) ** 2).sum())
    ss_err = max(ss_total - ss_rows - ss_cols, 0.0)
    return MeanSquares(msb=ss_rows / (n - 1), msw=(ss_cols + ss_err) / (n * (k - 1)),
                       msj=ss_cols / (k - 1), mse=ss_err / ((n - 1) * (k - 1)),
                       n=n, k=k, ss_total=ss_total)


def icc(data, confidence: float = 0.95) -> dict[str, dict]:
    """The six ICC forms of a (subjects, raters) table with their confidence intervals.

    Parameters
    ----------
    data
        Array-like (n subjects, k raters), one rating per cell, no missing values.
    confidence
        Level of the two-sided intervals (0.95: 95 %).

    Returns
    -------
    dict
        ``{form: {"icc", "ci_lower", "ci_upper", "F", "df1", "df2", "p"}}`` for each
        form of :data:`ICC_FORMS`; ``p`` tests ICC = 0 (one-sided F test). When the
        residual is zero (raters agree exactly) the F is infinite and some intervals
        are undefined (NaN).

    Examples
    --------
    Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.

    >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9],
    ...       [6, 2, 4, 7]]
    >>> r = icc(sf)
    >>> [round(r[f]["icc"], 2) for f in ICC_FORMS]
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    """
    ms = mean_squares(data)
    n, k = ms.n, ms.k
    msb, msw, msj, mse = (np.float64(v) for v in (ms.msb, ms.msw, ms.msj, ms.mse))
    alpha = 1.0 - confidence
    q = 1.0 - alpha / 2.0
    df1, df1k, df2k = n - 1, n * (k - 1), (n - 1) * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        icc1 = (msb - msw) / (msb + (k - 1) * msw)
        icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
        icc3 = (msb - mse) / (msb + (k - 1) * mse)
        icc1k = (msb - msw) / msb
        icc2k = (msb - mse) / (msb + (msj - mse) / n)
        icc3k = (msb - mse) / msb
        f1 = msb / msw
        f3 = msb / mse
        p1 = float(stats.f.sf(f1, df1, df1k))
        p3 = float(stats.f.sf(f3, df1, df2k))
        # One-way (form 1) and consistency (form 3) intervals: Shrout & Fleiss.
        f1l = f1 / stats.f.ppf(q, df1, df1k)
        f1u = f1 * stats.f.ppf(q, df1k, df1)
        f3l = f3 / stats.f.ppf(q, df1, df2k)
        f3u = f3 * stats.f.ppf(q, df2k, df1)
        ci1 = ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1))
        ci3 = ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1))
        ci1k = (1 - 1 / f1l, 1 - 1 / f1u)
        ci3k = (1 - 1 / f3l, 1 - 1 / f3u)
        # Absolute agreement (form 2): Satterthwaite df of McGraw & Wong (1996).
        fj = msj / mse
        a = k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2
        v = df2k * a**2 / (df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2)
                                                            - k * icc2) ** 2)
        f2u = stats.f.ppf(q, n - 1, v)
        f2l = stats.f.ppf(q, v, n - 1)
        c = k * msj + (k * n - k - n) * mse
        l2 = n * (msb - f2u * mse) / (f2u * c + n * msb)
        u2 = n * (f2l * msb - mse) / (c + n * f2l * msb)
        ci2 = (l2, u2)
        ci2k = (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1)))
    values = {"ICC1": (icc1, ci1, f1, df1k, p1), "ICC2": (icc2, ci2, f3, df2k, p3),
              "ICC3": (icc3, ci3, f3, df2k, p3), "ICC1k": (icc1k, ci1k, f1, df1k, p1),
              "ICC2k": (icc2k, ci2k, f3, df2k, p3), "ICC3k": (icc3k, ci3k, f3, df2k, p3)}
    return {form: {"icc": float(v), "ci_lower": float(ci[0]), "ci_upper": float(ci[1]),
                   "F": float(f), "df1": df1, "df2": df2, "p": p}
            for form, (v, ci, f, df2, p) in values.items()}
