"""Label trees and prediction folders as measure tables for ``leg3dus agree``: the
subjects' label files, measured with :func:`leg3dus.morphology.measure_subject` (the
application composes the two stages; neither imports the other)."""

from __future__ import annotations

import functools
from pathlib import Path

from ...core.errors import InputFileError, Leg3dusError
from ...core.layout import list_subjects, subject_files
from ...dataset import IMAGE_NAME


def folder_measures(label_name: str, label_values: str | None, flat: bool, runner):
    """``(folder_files, measure_folder)`` for :func:`leg3dus.agree.inputs.agreement_from_inputs`:
    the files a folder stands for, and its morphology rows (``runner(fn, items,
    description)`` runs the subjects; any failed subject stops with its error)."""
    from ...core.label_values import from_option

    convention = from_option(label_values)

    def folder_files(path: Path) -> list[Path]:
        return subject_files(list_subjects(path, IMAGE_NAME, label_name, flat))

    def measure_folder(path: Path, name: str) -> list[dict]:
        from ...morphology import cohort_rows, measure_subject

        subjects = [s for s in list_subjects(path, IMAGE_NAME, label_name, flat)
                    if s.label is not None]
        if not subjects:
            raise InputFileError(f"{path}: no label files found (expected <split>/<id>/"
                                 f"{label_name})")
        job = functools.partial(measure_subject, label_values=convention, allow_stray=False)
        results = runner(job, subjects, f"measuring {name}")
        failed = [r for r in results if not r.ok]
        if failed:
            more = f" (and {len(failed) - 1} more subjects)" if len(failed) > 1 else ""
            raise Leg3dusError(f"{failed[0].error}{more}")
        return cohort_rows([r.value for r in results])

    return folder_files, measure_folder
