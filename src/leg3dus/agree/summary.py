"""Agreement of several measure tables, per muscle and measure: rows matched by subject,
subjects missing from some tables left out and listed, then the ICC forms, SEM, MDC95
and CV% for any number of raters and, for two, Bland-Altman, its ratio variant, Lin's
CCC and paired tests."""

from __future__ import annotations

import math
import os

import numpy as np

from ..core.errors import InputFileError, OptionError
from .bland_altman import LOA_Z, bland_altman, bland_altman_ratio
from .icc import ICC_FORMS, icc
from .pairwise import lin_ccc, paired_tests
from .reliability import measurement_error
from .table import MeasureTable

#: Groupings of rows: one result per muscle, or all muscles together.
BY_CHOICES = ("muscle", "none")
#: Fewest subjects matched across all tables for a result.
MIN_SUBJECTS = 3


def matched(tables: list[MeasureTable], measure: str, by: str = "muscle"):
    """Subjects measured in every table, per group.

    Returns ``{group: (targets, values, left_out)}``: ``targets`` the matched subject
    ids (``subject/muscle`` with ``by="none"``), ``values`` an array (targets, tables),
    ``left_out`` a list of ``{"subject", "missing_in"}`` for targets that some table
    lacks or leaves empty. Groups are muscles in first-seen order (``"all"`` for
    ``by="none"``).
    """
    if by not in BY_CHOICES:
        raise OptionError(f"--by must be one of {', '.join(BY_CHOICES)}, found {by!r}")
    groups: dict[str, list[tuple[str, str]]] = {}
    for t in tables:
        for subject, muscle in t.keys():
            g = (muscle or "all") if by == "muscle" else "all"
            keys = groups.setdefault(g, [])
            if (subject, muscle) not in keys:
                keys.append((subject, muscle))
    out = {}
    for g, keys in groups.items():
        targets, values, left_out = [], [], []
        for subject, muscle in keys:
            row = [t.values.get((subject, muscle), {}).get(measure, math.nan) for t in tables]
            label = subject if by == "muscle" or not muscle else f"{subject}/{muscle}"
            missing = [t.name for t, v in zip(tables, row, strict=True) if not math.isfinite(v)]
            if missing:
                left_out.append({"subject": label, "missing_in": missing})
            else:
                targets.append(label)
                values.append(row)
        out[g] = (targets, np.array(values, dtype=float).reshape(len(targets), len(tables)),
                  left_out)
    return out


def compare(values, z: float = LOA_Z) -> dict[str, float]:
    """Every statistic of a (subjects, raters) array, as one flat dict.

    Keys ``ICC1`` ... ``ICC3k`` with ``_ci_lower``, ``_ci_upper`` and ``_p``; ``SEM``,
    ``SEM_pct``, ``MDC95``, ``MDC95_pct``, ``CV_pct``; for two raters also the
    Bland-Altman keys (``bias``, ``sd_diff``, ``loa_lower``, ``loa_upper`` ...), the
    ratio keys (``ratio_*``, when every value is positive), ``ccc``, ``pearson_r``,
    ``t``, ``t_p``, ``wilcoxon_w``, ``wilcoxon_p``.

    Examples
    --------
    >>> r = compare([[10.0, 11.0], [20.0, 19.5], [30.0, 31.0], [40.0, 41.0]])
    >>> round(r["ICC2"], 3), round(r["bias"], 3), round(r["ccc"], 3)
    (0.998, -0.625, 0.997)
    """
    x = np.asarray(values, dtype=float)
    forms = icc(x)
    out: dict[str, float] = {}
    for f in ICC_FORMS:
        out[f] = forms[f]["icc"]
        out[f"{f}_ci_lower"] = forms[f]["ci_lower"]
        out[f"{f}_ci_upper"] = forms[f]["ci_upper"]
        out[f"{f}_p"] = forms[f]["p"]
    out.update(measurement_error(x, forms["ICC2"]["icc"]))
    if x.shape[1] == 2:
        a, b = x[:, 0], x[:, 1]
        out.update(bland_altman(a, b, z=z))
        if np.all(x > 0):
            out.update(bland_altman_ratio(a, b, z=z))
        out["ccc"] = lin_ccc(a, b)
        out.update(paired_tests(a, b))
    return out


def agreement(tables: list[MeasureTable], measures: list[str], by: str = "muscle",
              z: float = LOA_Z) -> dict:
    """Agreement of ``tables`` (two or more raters) for each measure and group.

    Returns ``{"raters", "measures", "by", "results", "left_out"}``: ``results[group]
    [measure]`` holds :func:`compare`'s keys with ``n`` (subjects), ``k`` (raters),
    ``subjects`` and ``values`` (one list per subject, in rater order);
    ``left_out[group][measure]`` lists the subjects some table lacks.

    Raises :class:`InputFileError` when fewer than :data:`MIN_SUBJECTS` subjects are
    matched or a measure is constant over a group (no variance to analyse).
    """
    if len(tables) < 2:
        raise OptionError(f"expected at least two tables to compare, found {len(tables)}")
    if not measures:
        raise OptionError("expected at least one measure")
    names = [t.name for t in tables]
    results: dict[str, dict] = {}
    left: dict[str, dict] = {}
    for measure in measures:
        for g, (targets, values, left_out) in matched(tables, measure, by).items():
            where = f"{measure}" + (f" of {g}" if g != "all" else "")
            if len(targets) < MIN_SUBJECTS:
                raise InputFileError(f"{', '.join(names)}: {where}: {len(targets)} subjects "
                                     f"matched in every table, expected at least "
                                     f"{MIN_SUBJECTS}")
            if np.all(np.ptp(values, axis=0) == 0):
                raise InputFileError(f"{', '.join(names)}: {where} is constant over the "
                                     f"{len(targets)} subjects in every table (e.g. "
                                     f"{values.flat[0]:g}), expected values that vary "
                                     "between subjects")
            entry = {"n": len(targets), "k": len(tables), **compare(values, z=z),
                     "subjects": targets, "values": values.tolist()}
            results.setdefault(g, {})[measure] = entry
            if left_out:
                left.setdefault(g, {})[measure] = left_out
    return {"raters": names, "measures": list(measures), "by": by, "loa_z": z,
            "results": results, "left_out": left}


def result_rows(result: dict) -> list[dict]:
    """One flat row per group and measure (no per-subject values), for a CSV file."""
    rows = []
    for g, per_measure in result["results"].items():
        for measure, entry in per_measure.items():
            rows.append({"group": g, "measure": measure,
                         **{k: v for k, v in entry.items() if k not in ("subjects", "values")}})
    return rows


def left_out_lines(result: dict) -> list[str]:
    """One line per group and measure that left subjects out, naming them.

    >>> left_out_lines({"left_out": {"SOL": {"volume_cm3": [
    ...     {"subject": "P005", "missing_in": ["b.csv"]}]}}})
    ['volume_cm3 of SOL: 1 subject left out (P005: missing in b.csv)']
    """
    lines = []
    for g, per_measure in result["left_out"].items():
        for measure, items in per_measure.items():
            where = measure + (f" of {g}" if g != "all" else "")
            n = len(items)
            named = ", ".join(f"{i['subject']}: missing in {' and '.join(i['missing_in'])}"
                              for i in items)
            lines.append(f"{where}: {n} subject{'s' if n != 1 else ''} left out ({named})")
    return lines


def rater_names(paths: list[str | os.PathLike]) -> list[str]:
    """Short names for input paths: file or folder names, the whole path where two clash.

    >>> rater_names(["a/m.csv", "b/m.csv", "c/x.csv"])
    ['a/m.csv', 'b/m.csv', 'x.csv']
    """
    from pathlib import Path

    short = [Path(p).name for p in paths]
    return [s if short.count(s) == 1 else str(p) for s, p in zip(short, paths, strict=True)]
