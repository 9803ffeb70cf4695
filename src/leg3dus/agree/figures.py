"""Figures of an agreement result: per muscle and measure, a Bland-Altman plot
(difference against mean, with the bias and the limits of agreement) and an identity
scatter (second against first, with the line y = x).

With more than two raters every rater after the first is drawn against the first.
Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state, no display).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ..core.atomic import atomic_path
from ..core.errors import OptionError
from ..core.labels import MUSCLES
from ..core.tables import SCREEN_DECIMALS, SCREEN_DIGITS, format_number
from .bland_altman import LOA_Z

#: Figure formats that ``--plot`` writes, chosen by the file name's suffix.
FIGURE_FORMATS = ("png", "pdf", "svg")
_GREY = (0.35, 0.35, 0.35)
_OTHERS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _colour(group: str, i: int):
    if i == 0:
        for m in MUSCLES:
            if m.name == group:
                return tuple(c / 255.0 for c in m.color)
    return _OTHERS[i % len(_OTHERS)]


def agreement_figure(result: dict, measures: list[str] | None = None) -> Figure:
    """One row per group and measure of :func:`leg3dus.agree.agreement`'s ``result``:
    the Bland-Altman plot (left) and the identity scatter (right).

    Examples
    --------
    >>> from leg3dus.agree import agreement, table_from_rows
    >>> rows = [[{"id": f"P{i}", "muscle": "SOL", "volume_cm3": v} for i, v in
    ...          enumerate(vals)] for vals in ([300, 350, 410, 380], [305, 342, 415, 390])]
    >>> tables = [table_from_rows(r, ["volume_cm3"], f"r{j}") for j, r in enumerate(rows)]
    >>> fig = agreement_figure(agreement(tables, ["volume_cm3"]))
    >>> len(fig.axes)
    2
    """
    panels = [(g, m, entry) for g, per in result["results"].items()
              for m, entry in per.items() if measures is None or m in measures]
    z = result.get("loa_z", LOA_Z)
    names = result["raters"]
    fig = Figure(figsize=(9.0, 3.4 * max(len(panels), 1)))
    axes = fig.subplots(max(len(panels), 1), 2, squeeze=False)
    for row, (g, measure, entry) in enumerate(panels):
        values = np.asarray(entry["values"], dtype=float)
        title = measure + (f" - {g}" if g != "all" else "")
        _bland_altman_axes(axes[row, 0], values, names, g, measure, z)
        axes[row, 0].set_title(f"{title}: Bland-Altman", fontsize=10)
        _identity_axes(axes[row, 1], values, names, g, measure)
        axes[row, 1].set_title(f"{title}: {names[0]} vs others" if values.shape[1] > 2
                               else f"{title}: identity", fontsize=10)
    fig.tight_layout()
    return fig


def _bland_altman_axes(ax, values, names, group, measure, z) -> None:
    ref = values[:, 0]
    for i in range(1, values.shape[1]):
        other = values[:, i]
        diff, mean = other - ref, (other + ref) / 2.0
        if values.shape[1] == 2:  # first minus second, as the numbers are reported
            diff = -diff
        colour = _colour(group, i - 1)
        bias, sd = diff.mean(), diff.std(ddof=1)
        label = names[i] if values.shape[1] > 2 else None
        ax.scatter(mean, diff, s=18, color=colour, label=label, zorder=3)
        ax.axhline(bias, color=colour, lw=1.2)
        for limit in (bias - z * sd, bias + z * sd):
            ax.axhline(limit, color=colour, lw=1.0, ls="--")
        if values.shape[1] == 2:
            x = float(mean.max())
            ax.annotate(f"bias {_num(bias)}", (x, bias), fontsize=8, va="bottom", ha="right")
            ax.annotate(f"+{z:g} SD {_num(bias + z * sd)}", (x, bias + z * sd), fontsize=8,
                        va="bottom", ha="right")
            ax.annotate(f"-{z:g} SD {_num(bias - z * sd)}", (x, bias - z * sd), fontsize=8,
                        va="top", ha="right")
    ax.axhline(0.0, color=_GREY, lw=0.6)
    ax.set_xlabel(f"mean of the two ({measure})")
    ax.set_ylabel(f"{names[0]} - {names[1]}" if values.shape[1] == 2
                  else f"rater - {names[0]}")
    if values.shape[1] > 2:
        ax.legend(fontsize=8)


def _num(value: float) -> str:
    return format_number(value, SCREEN_DIGITS, max_decimals=SCREEN_DECIMALS)


def _identity_axes(ax, values, names, group, measure) -> None:
    ref = values[:, 0]
    for i in range(1, values.shape[1]):
        ax.scatter(ref, values[:, i], s=18, color=_colour(group, i - 1), zorder=3,
                   label=names[i] if values.shape[1] > 2 else None)
    lo, hi = float(values.min()), float(values.max())
    pad = 0.05 * (hi - lo)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=_GREY, lw=1.0, label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{names[0]} ({measure})")
    ax.set_ylabel(f"{names[1]} ({measure})" if values.shape[1] == 2 else measure)
    ax.legend(fontsize=8)


def write_agreement_figure(result: dict, path: str | os.PathLike,
                           measures: list[str] | None = None, dpi: int = 100) -> Path:
    """Write :func:`agreement_figure` atomically; the format follows the suffix (.png,
    .pdf, .svg)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise OptionError(f"{path}: expected a figure name ending in "
                          f"{', '.join('.' + f for f in FIGURE_FORMATS)}, found {path.suffix!r}")
    fig = agreement_figure(result, measures)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    return path
