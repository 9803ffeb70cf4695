"""Agreement of input files, as ``leg3dus agree`` does: measure tables (CSV/TSV), or
folders measured first by a function the caller gives (label trees and prediction
folders, measured with :mod:`leg3dus.morphology`), compared with :func:`agreement`,
then written as a result file and a figure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..core.atomic import check_outputs
from ..core.errors import InputFileError, OptionError
from .bland_altman import LOA_Z
from .summary import BY_CHOICES, agreement, rater_names
from .table import read_table, table_from_rows

#: Input files read as tables; folders are label trees or prediction folders.
TABLE_SUFFIXES = (".csv", ".tsv")


def split_measures(items: list[str]) -> list[str]:
    """Measure names from repeated and comma-separated items.

    >>> split_measures(["volume_cm3, length_mm", "max_csa_cm2"])
    ['volume_cm3', 'length_mm', 'max_csa_cm2']
    """
    return [m.strip() for item in items for m in item.split(",") if m.strip()]


def _is_table(path: Path) -> bool:
    return path.suffix.lower() in TABLE_SUFFIXES or not path.is_dir()


def _sources(path: Path, folder_files: Callable | None) -> list[Path]:
    """The files an input stands for (a table, or a folder's label files)."""
    if path.is_file() or path.suffix.lower() in TABLE_SUFFIXES:
        return [path]
    if not path.is_dir():
        raise InputFileError(f"{path}: no such table or folder (expected a CSV table, a "
                             "label tree or a folder of predictions)")
    return [path, *(folder_files(path) if folder_files is not None else [])]


def _read(path: Path, name: str, measures: list[str], measure_folder: Callable | None):
    if _is_table(path):
        if path.is_file() and path.suffix.lower() not in TABLE_SUFFIXES:
            raise InputFileError(f"{path}: expected a CSV or TSV table, a label tree or a "
                                 f"folder of predictions, found a {path.suffix or 'plain'} "
                                 "file")
        return read_table(path, measures, name=name)
    if measure_folder is None:
        raise InputFileError(f"{path}: a folder needs measuring first; give a CSV or TSV "
                             "table")
    return table_from_rows(measure_folder(path, name), measures, str(path), name)


def agreement_from_inputs(inputs: list[str | os.PathLike], measures: list[str], *,
                          by: str = "muscle", z: float = LOA_Z,
                          out: str | os.PathLike | None = None,
                          plot: str | os.PathLike | None = None,
                          folder_files: Callable | None = None,
                          measure_folder: Callable | None = None) -> dict:
    """:func:`agreement` of two or more inputs (one per rater, session or method).

    A table input is read with :func:`read_table`; a folder with
    ``measure_folder(path, name)``, which returns morphology rows (subject, muscle and
    measure columns), and ``folder_files(path)`` lists the files it reads (never
    overwritten). ``out`` (.csv or .json) and ``plot`` (.png, .pdf or .svg) are checked
    before any work and written at the end. The result holds ``"inputs"``.

    >>> agreement_from_inputs(["rater1.csv", "rater2.csv"], ["volume_cm3"])  # doctest: +SKIP
    """
    from .figures import FIGURE_FORMATS, write_agreement_figure
    from .results_io import check_result_path, write_result

    inputs = [Path(p) for p in inputs]
    if by not in BY_CHOICES:
        raise OptionError(f"--by must be one of {', '.join(BY_CHOICES)}, found {by!r}")
    if len(inputs) < 2:
        raise OptionError(f"expected at least two inputs to compare, found {len(inputs)}")
    if out is not None:
        out = check_result_path(out)
    sources = [_sources(p, folder_files) for p in inputs]
    check_outputs((out, plot), [p for s in sources for p in s])
    if plot is not None and Path(plot).suffix.lower().lstrip(".") not in FIGURE_FORMATS:
        raise OptionError(f"{plot}: --plot must end in .png, .pdf or .svg, found "
                          f"{Path(plot).suffix!r}")
    tables = [_read(p, n, measures, measure_folder)
              for p, n in zip(inputs, rater_names(inputs), strict=True)]
    result = agreement(tables, measures, by=by, z=z)
    result["inputs"] = [str(p) for p in inputs]
    if out is not None:
        write_result(result, out)
    if plot is not None:
        write_agreement_figure(result, plot)
    return result
