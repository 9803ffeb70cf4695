"""The Agreement part of the report: results of :func:`leg3dus.agree.agreement` (read
from the JSON that ``leg3dus agree --out agree.json`` writes) as tables and
Bland-Altman / identity figures."""

from __future__ import annotations

import os

from ...agree.figures import agreement_figure
from ...agree.results_io import read_result
from . import html as H
from .figures import png_bytes

_COLUMNS = ("muscle", "measure", "n", "ICC2", "ICC2 95% CI", "ICC3", "SEM", "MDC95", "CV %")
_PAIR_COLUMNS = ("bias", "LoA lower", "LoA upper", "ratio", "CCC")


def read_agreements(paths: list[str | os.PathLike]) -> list[dict]:
    """Agreement results from JSON files (:func:`leg3dus.agree.results_io.read_result`)."""
    return [read_result(p) for p in paths]


def agreement_title(result: dict) -> str:
    """The heading of one result: its ``title``, else its raters joined by "vs".

    >>> agreement_title({"raters": ["x1.csv", "x2.csv"]})
    'x1.csv vs x2.csv'
    """
    return result.get("title") or " vs ".join(map(str, result["raters"]))


def agreement_rows(result: dict) -> tuple[list[str], list[list]]:
    """Columns and rows of one result's table (ratio and CCC only for two raters).

    >>> from leg3dus.agree import agreement, table_from_rows
    >>> rows = [[{"id": f"P{i}", "muscle": "SOL", "volume_cm3": v} for i, v in
    ...          enumerate(vals)] for vals in ([300, 350, 410, 380], [305, 342, 415, 390])]
    >>> tables = [table_from_rows(r, ["volume_cm3"], f"r{j}") for j, r in enumerate(rows)]
    >>> cols, body = agreement_rows(agreement(tables, ["volume_cm3"]))
    >>> body[0][:3], len(cols) == len(body[0])
    (['SOL', 'volume_cm3', 4], True)
    """
    two = len(result["raters"]) == 2
    columns = list(_COLUMNS) + (list(_PAIR_COLUMNS) if two else [])
    rows = []
    for g, per in result["results"].items():
        for m, e in per.items():
            ci = f"{H.fmt(e['ICC2_ci_lower'], 3)} to {H.fmt(e['ICC2_ci_upper'], 3)}"
            row = [g, m, int(e["n"]), e["ICC2"], ci, e["ICC3"], e["SEM"], e["MDC95"],
                   e["CV_pct"]]
            if two:
                row += [e["bias"], e["loa_lower"], e["loa_upper"],
                        e.get("ratio_bias", float("nan")), e["ccc"]]
            rows.append(row)
    return columns, rows


def agreement_section(results: list[dict]) -> str:
    """The "Agreement" section: per result a table and its figure."""
    parts = [H.paragraph("ICC2 = ICC(A,1), two-way random raters, absolute agreement, "
                         "single measure; ICC3 = ICC(C,1), consistency. SEM = SD x "
                         "sqrt(1 - ICC2), MDC95 = 1.96 x sqrt(2) x SEM, CV % within "
                         "subjects (root mean square). For two methods: bias (first minus "
                         "second) and 95 % limits of agreement, ratio = geometric mean of "
                         "first / second, Lin's CCC.", cls="note")]
    for i, result in enumerate(results):
        title = agreement_title(result)
        columns, rows = agreement_rows(result)
        digits = [0, 0, 0, 3, 0, 3, 2, 2, 2] + ([2, 2, 2, 3, 3] if len(columns) > 9 else [])
        parts.append(f"<h3>{H.esc(title)}</h3>")
        parts.append(H.table(columns, rows, digits=digits))
        if result.get("by") == "none":
            parts.append(H.paragraph("all: muscles pooled, each subject and muscle one "
                                     "target (n counts the pairs).", cls="note"))
        for line in _left_out(result):
            parts.append(H.paragraph(line, cls="note"))
        fig = agreement_figure(result)
        parts.append(H.image(png_bytes(fig), alt=f"Bland-Altman and identity plots: {title}",
                             caption=f"{title}: Bland-Altman plot (left) and identity "
                                     "scatter (right) per muscle and measure.",
                             figure_id=f"agreement-{i}"))
    return H.section("Agreement", *parts, section_id="agreement")


def _left_out(result: dict) -> list[str]:
    from ...agree import left_out_lines

    return [f"Left out: {line}" for line in left_out_lines(result)]
