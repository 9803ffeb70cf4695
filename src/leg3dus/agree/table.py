"""Measure tables to compare: one per rater, session or method, in the form that
``leg3dus morphology`` writes (a subject column ``id`` or ``subject``, a ``muscle``
column, measure columns), keyed by subject and muscle.

A table without a ``muscle`` column holds one row per subject (muscle ``""``). An
empty cell is a missing value (that subject is left out of that measure); any other
cell that is not a number is an error, as are a missing measure column and a subject
and muscle given twice.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputFileError

#: Subject id columns, first found wins (case-insensitive).
SUBJECT_COLUMNS = ("id", "subject", "subject_id", "participant_id")


@dataclass
class MeasureTable:
    """Measures of one rater: ``values[(subject, muscle)][measure]`` (NaN when missing).

    ``source`` names the table in messages (its path, or the folder it was measured
    from) and ``name`` in results.
    """

    source: str
    name: str
    values: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    def keys(self) -> list[tuple[str, str]]:
        """The (subject, muscle) pairs of the table, in its order."""
        return list(self.values)


def table_from_rows(rows: list[dict], measures: list[str], source: str,
                    name: str | None = None) -> MeasureTable:
    """A :class:`MeasureTable` from dict rows (a CSV read, or ``morphology.cohort_rows``).

    Raises :class:`InputFileError` naming ``source`` for a missing subject or measure
    column, a non-numeric value or a subject and muscle given twice.

    Examples
    --------
    >>> rows = [{"id": "P001", "muscle": "SOL", "volume_cm3": "350.5"},
    ...         {"id": "P002", "muscle": "SOL", "volume_cm3": ""}]
    >>> t = table_from_rows(rows, ["volume_cm3"], "a.csv")
    >>> t.values[("P001", "SOL")], t.values[("P002", "SOL")]
    ({'volume_cm3': 350.5}, {'volume_cm3': nan})
    >>> table_from_rows(rows, ["length_mm"], "a.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.InputFileError: a.csv: expected a measure column 'length_mm', found id, ...
    """
    columns: list[str] = []
    for r in rows:
        columns.extend(c for c in r if c not in columns)
    lower = {c.strip().lower(): c for c in columns}
    if not rows:
        raise InputFileError(f"{source}: expected rows of measures, found none")
    id_col = next((lower[c] for c in SUBJECT_COLUMNS if c in lower), None)
    if id_col is None:
        raise InputFileError(f"{source}: expected a subject column (one of "
                             f"{', '.join(SUBJECT_COLUMNS)}), found {', '.join(columns)}")
    muscle_col = lower.get("muscle")
    found = {}
    for m in measures:
        col = lower.get(m.strip().lower())
        if col is None:
            raise InputFileError(f"{source}: expected a measure column {m!r}, found "
                                 f"{', '.join(columns)}")
        found[m] = col
    table = MeasureTable(source, name or source)
    for i, r in enumerate(rows, start=2):
        subject = str(r.get(id_col, "") or "").strip()
        if not subject:
            raise InputFileError(f"{source}: row {i} has no subject id in column {id_col!r}")
        muscle = str(r.get(muscle_col, "") or "").strip() if muscle_col else ""
        key = (subject, muscle)
        if key in table.values:
            what = f"subject {subject}" + (f" muscle {muscle}" if muscle else "")
            raise InputFileError(f"{source}: {what} appears twice; expected one row per "
                                 "subject and muscle")
        table.values[key] = {m: _number(r.get(col), source, i, m) for m, col in found.items()}
    return table


def read_table(path: str | os.PathLike, measures: list[str],
               name: str | None = None) -> MeasureTable:
    """Read a CSV (or TSV, by its ``.tsv`` name) measure table; see :func:`table_from_rows`."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such table (expected a CSV file such as "
                             "`leg3dus morphology -o` writes, a label tree or a folder of "
                             "predictions)")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f, delimiter=delimiter))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: expected a CSV table, found unreadable text "
                             f"({exc})") from None
    rows = [{k: v for k, v in r.items() if k is not None} for r in rows]
    return table_from_rows(rows, measures, str(path), name)


def _number(value, source: str, row: int, measure: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputFileError(f"{source}: row {row}: {measure} is {text!r}, expected a "
                             "number") from None
