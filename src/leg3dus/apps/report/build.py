"""Assembling the HTML report of a cohort: morphology tables and figures, surface meshes,
and the evaluation of predictions when they are given."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...core import labels as lab
from ...core.atomic import atomic_path, check_outputs
from ...core.errors import InputFileError
from ...core.layout import list_subjects, subject_files
from ...core.parallel import map_subjects
from ...dataset import IMAGE_NAME, LABEL_NAME
from ...morphology import (
    cohort_rows,
    find_participants,
    measure_subject,
    read_participants,
    summarise,
)
from ...morphology.batch import measure_subjects
from . import html as H
from .agreement import agreement_section, read_agreements
from .cohort import cohort_figures_section, dataset_section, morphology_section
from .evaluation import evaluation_sections, find_predictions
from .subjects import (
    Progress,
    choose_subjects,
    export_meshes,
    mesh_path,
    no_progress,
    subjects_section,
)

#: ``run(fn, items, description)`` -> list of JobResult; the CLI passes one with progress.
Runner = Callable[[Callable, list, str], list]


def _default_runner(fn, items, description):
    return map_subjects(fn, items)


def _key(split: str, subject_id: str) -> str:
    """The :attr:`leg3dus.dataset.Subject.key` of a measured row."""
    return f"{split}/{subject_id}" if split else subject_id


@dataclass
class ReportResult:
    """What :func:`make_report` wrote and measured."""

    path: Path
    subjects: int
    figures: int
    meshes: list[Path] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    evaluation: list[dict] | None = None
    drawn: list[str] = field(default_factory=list)
    label_values: list[dict] = field(default_factory=list)


def make_report(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    predictions: str | os.PathLike | None = None,
    participants: str | os.PathLike | None = None,
    image_name: str = IMAGE_NAME,
    label_name: str = LABEL_NAME,
    prediction_name: str | None = None,
    flat: bool = False,
    leg_extent: str = "labels",
    max_figures: int = 4,
    subjects: list[str] | None = None,
    meshes_dir: str | os.PathLike | None = None,
    mesh_format: str = "stl",
    mesh_step: int = 1,
    title: str = "leg3dus report",
    run: Runner | None = None,
    progress: Progress | None = None,
    label_values=None,
    prediction_label_values=None,
    agreement: list[str | os.PathLike] | None = None,
) -> ReportResult:
    """Measure a cohort and write one self-contained HTML report.

    Parameters
    ----------
    data
        A LEG-3D-US tree (or folder of subjects) with labels; images are used for the
        slice figures where present.
    out
        The HTML file to write (atomically).
    predictions
        Optional folder of predicted label volumes, matched to subjects by id (see
        :func:`leg3dus.apps.report.evaluation.find_predictions`); adds the evaluation.
    participants
        A participants table (sex, side); default ``DATA/cohort.csv`` or
        ``DATA/participants.tsv`` when present.
    max_figures
        How many subjects get slice figures and a 3D picture: those with a prediction
        when ``predictions`` is given, else the first ones in order.
    subjects
        Draw these subjects instead (ids, or ``split/id`` keys); an unknown one is an
        :class:`OptionError`.
    meshes_dir, mesh_format, mesh_step
        Where to export one surface mesh per subject and muscle (``stl``, ``ply`` or
        ``obj``), at this marching-cubes step in voxels; nothing is exported without a folder.
    run
        How per-subject jobs run: ``run(fn, items, description)`` returning
        :class:`leg3dus.core.parallel.JobResult` s; default in-process.
    progress
        ``progress(items, total=, description=)`` wrapping the drawing and mesh loops
        (e.g. :func:`leg3dus.apps.cli.app.progress`); default none.
    label_values, prediction_label_values
        Label conventions of the dataset's labels and of the predictions (text of
        ``--label-values`` or a :class:`~leg3dus.core.label_values.LabelConvention`; default:
        each file's label table, else 0/100/150/200).
    agreement
        Agreement results (JSON files that ``leg3dus agree --out`` writes): adds the
        Agreement section with their tables and Bland-Altman figures.

    Returns
    -------
    ReportResult
        ``figures`` counts the pictures in the page, ``drawn`` the subjects whose slices
        are in it; a subject that could not be drawn is in ``errors``.

    Examples
    --------
    >>> make_report("LEG-3D-US", "report.html")  # doctest: +SKIP
    """
    out = Path(out)
    run = run or _default_runner
    progress = progress or no_progress
    found = list_subjects(data, image_name, label_name, flat)
    if not found:
        raise InputFileError(f"{data}: no subjects found (expected <split>/<id>/{label_name})")
    table_path = participants or find_participants(data)
    pred_paths = (find_predictions(predictions, found, prediction_name)
                  if predictions else {})
    chosen = choose_subjects(found, subjects, pred_paths, max_figures)
    mesh_paths = ([mesh_path(s, meshes_dir, m.name, mesh_format)
                   for s in found for m in lab.MUSCLES] if meshes_dir is not None else [])
    agreement = list(agreement or [])
    check_outputs([out, *mesh_paths], [data, predictions, table_path, *pred_paths.values(),
                                       *subject_files(found), *agreement])
    agreements = read_agreements(agreement)
    people = read_participants(table_path) if table_path else {}

    job = functools.partial(measure_subject, leg_extent=leg_extent, label_values=label_values)
    done, errors = measure_subjects(job, found, lambda fn, items: run(fn, items, "measuring"))
    rows = cohort_rows(done, people)
    summary = summarise(rows, n_failed=len(errors))

    sections = [dataset_section(data, found, done, errors, table_path, leg_extent),
                morphology_section(rows, summary)]
    sections.append(cohort_figures_section(done, rows, people))
    evaluation = None
    if predictions:
        eval_sections, evaluation, eval_errors = evaluation_sections(
            found, pred_paths, done, run, leg_extent, label_values, prediction_label_values)
        sections.extend(eval_sections)
        errors.extend(eval_errors)
    if agreements:
        sections.append(agreement_section(agreements))
    from .qc import acquisition_section  # subjects with tracked sweeps beside them

    sections.append(acquisition_section(found))
    measured = {_key(r["split"], r["id"]) for r in done}
    shown = [s for s in chosen if s.key in measured]
    section, drawn, draw_errors = subjects_section(shown, pred_paths, progress,
                                                   asked=max_figures if subjects is None
                                                   else len(subjects),
                                                   conventions=(label_values,
                                                                prediction_label_values))
    sections.append(section)
    errors.extend(draw_errors)
    meshes = []
    if meshes_dir is not None:
        meshes = export_meshes([s for s in found if s.key in measured], meshes_dir,
                               mesh_format, mesh_step, progress, label_values)
    document = H.page(title, sections,
                      subtitle=f"{len(done)} subjects from {Path(data).name}.")
    with atomic_path(out) as tmp:
        tmp.write_text(document, encoding="utf-8")
    n_figures = document.count("<img ")
    used = list({str(r["label_values"]): r["label_values"] for r in done}.values())
    return ReportResult(out, len(done), n_figures, meshes, errors, rows, evaluation, drawn,
                        used)
