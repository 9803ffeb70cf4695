"""Agreement results to and from files: a CSV table (one row per muscle and measure) or
the whole result as JSON (with per-subject values, which the report draws from)."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

from ..core.atomic import atomic_path
from ..core.errors import InputFileError, OptionError
from ..core.tables import csv_cell, json_ready
from .summary import result_rows

#: File types of an agreement result, by suffix.
RESULT_SUFFIXES = (".csv", ".json")


def check_result_path(path: str | os.PathLike) -> Path:
    """``path`` if its suffix names a result format (.csv or .json), else OptionError.

    >>> check_result_path("agree.txt")
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.OptionError: agree.txt: expected a name ending in .csv or .json, ...
    """
    path = Path(path)
    if path.suffix.lower() not in RESULT_SUFFIXES:
        raise OptionError(f"{path}: expected a name ending in .csv or .json, found "
                          f"{path.suffix!r}")
    return path


def write_result(result: dict, path: str | os.PathLike) -> Path:
    """Write an agreement result atomically: CSV rows (no per-subject values) for a
    ``.csv`` name, the whole result for ``.json``."""
    path = check_result_path(path)
    with atomic_path(path) as tmp:
        if path.suffix.lower() == ".json":
            tmp.write_text(json.dumps(json_ready(result), indent=2) + "\n", encoding="utf-8")
            return path
        rows = result_rows(result)
        columns: list[str] = []
        for r in rows:
            columns.extend(k for k in r if k not in columns)
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for r in rows:
                writer.writerow([csv_cell(r.get(c)) for c in columns])
    return path


def read_result(path: str | os.PathLike) -> dict:
    """An agreement result written as JSON by :func:`write_result` or ``leg3dus agree
    --json``; :class:`InputFileError` when the file is not one.

    Missing values (null) come back as NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such agreement result (expected the JSON that "
                             "`leg3dus agree --out agree.json` writes)")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: expected an agreement result in JSON, found "
                             f"unreadable text ({exc})") from None
    if not isinstance(obj, dict) or not {"raters", "results"} <= set(obj):
        found = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
        raise InputFileError(f"{path}: expected an agreement result (keys raters, results), "
                             f"found {found or 'nothing'}")
    for per in obj["results"].values():
        for entry in per.values():
            for k, v in entry.items():
                if v is None:
                    entry[k] = math.nan
    return obj
