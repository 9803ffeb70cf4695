"""Assembling the HTML report of a cohort: morphology tables and figures, surface meshes,
and the evaluation of predictions when they are given."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core import labels as lab
from ...core.atomic import atomic_path, check_outputs
from ...core.errors import InputFileError, Leg3dusError, OptionError
from ...core.label_values import read_labels
from ...core.parallel import map_subjects
from ...core.volume_io import read_volume
from ...dataset import IMAGE_NAME, LABEL_NAME, Subject
from ...dataset.info import list_subjects, subject_files
from ...morphology import (
    cohort_rows,
    find_participants,
    measure_subject,
    read_participants,
    summarise,
)
from . import html as H
from .agreement import agreement_section, read_agreements
from .evaluation import evaluation_sections, find_predictions
from .figures import box_figure, png_bytes, profile_figure, slice_figure
from .mesh import label_meshes, render_meshes, write_mesh

#: ``run(fn, items, description)`` -> list of JobResult; the CLI passes one with progress.
Runner = Callable[[Callable, list, str], list]

#: ``progress(items, total=, description=)`` -> the same items; the CLI passes a bar.
Progress = Callable[..., object]


def _default_runner(fn, items, description):
    return map_subjects(fn, items)


def _no_progress(items, total=None, description=""):
    return items


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
        ``obj``), at this marching-cubes step; nothing is exported without a folder.
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
    progress = progress or _no_progress
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
    results = run(job, found, "measuring")
    done = [r.value for r in results if r.ok]
    errors = [{"split": r.item.split, "id": r.item.id, "error": r.error}
              for r in results if not r.ok]
    if not done:
        # Nothing measured (e.g. labels in another convention): an error, not an empty page.
        more = f" (and {len(errors) - 1} more subjects)" if len(errors) > 1 else ""
        raise Leg3dusError(f"no subject could be measured: {errors[0]['error']}{more}")
    rows = cohort_rows(done, people)
    summary = summarise(rows, n_failed=len(errors))

    sections = [_overview(data, found, done, errors, table_path, leg_extent),
                _cohort_section(rows, summary)]
    sections.append(_plots_section(done, rows, people))
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
    section, drawn, draw_errors = _subject_figures(shown, pred_paths, progress,
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


def choose_subjects(found: list[Subject], wanted: list[str] | None, pred_paths: dict,
                    max_figures: int) -> list[Subject]:
    """The subjects whose slices the report draws.

    ``wanted`` (ids or ``split/id`` keys) in that order; else up to ``max_figures``
    subjects that have a prediction in ``pred_paths`` (keyed by ``Subject.key``), or the
    first ``max_figures`` when there are no predictions.

    >>> s = [Subject("P1", "train", None, None), Subject("P2", "test", None, None)]
    >>> [x.key for x in choose_subjects(s, None, {"test/P2": "p.mha"}, 4)]
    ['test/P2']
    >>> [x.key for x in choose_subjects(s, ["P2", "train/P1"], {}, 1)]
    ['test/P2', 'train/P1']
    """
    if wanted is None:
        pool = [s for s in found if s.key in pred_paths] if pred_paths else found
        return pool[:max(0, max_figures)]
    chosen = []
    for name in wanted:
        hits = [s for s in found if name in (s.key, s.id)]
        if not hits:
            raise OptionError(f"--subjects: no subject {name!r}; expected one of "
                              + ", ".join(s.key for s in found[:8])
                              + (" ..." if len(found) > 8 else ""))
        if len(hits) > 1:
            raise OptionError(f"--subjects: {name!r} is in several splits; give one of "
                              + ", ".join(s.key for s in hits))
        if hits[0] not in chosen:
            chosen.append(hits[0])
    return chosen


def _overview(data, subjects, done, errors, table_path, leg_extent) -> str:
    splits: dict[str, int] = {}
    for s in subjects:
        splits[s.split or "-"] = splits.get(s.split or "-", 0) + 1
    grids = sorted({(tuple(r["shape"]), tuple(round(v, 4) for v in r["spacing"])) for r in done})
    rows = [("subjects", len(subjects)), ("measured", len(done)),
            ("splits", ", ".join(f"{k} {v}" for k, v in splits.items())),
            ("grids (z, y, x)", "; ".join(f"{'x'.join(map(str, g))} at "
                                          f"{'/'.join(map(str, sp))} mm" for g, sp in grids)),
            ("participants table", str(Path(table_path).name) if table_path else "none"),
            ("leg length", "extent of all muscles along the leg" if leg_extent == "labels"
             else "whole imaged grid along the leg")]
    stray = {r["id"]: r["stray"] for r in done if r["stray"]}
    parts = [H.table(("", ""), rows)]
    if stray:
        parts.append(H.paragraph("Label values outside the scheme (not measured): " + "; ".join(
            f"{k}: {lab.describe_counts(v)}" for k, v in stray.items())))
    for e in errors:
        parts.append(H.paragraph(f"Not measured: {e['split']}/{e['id']}: {e['error']}"))
    legend = "".join(
        f'<span class="swatch" style="background:rgb{m.color}"></span>{H.esc(m.name)} '
        f"({H.esc(m.long_name)}, label {m.value}) &nbsp; " for m in lab.MUSCLES)
    parts.append(f"<p>{legend}</p>")
    return H.section("Dataset", *parts, section_id="dataset")


COHORT_COLUMNS = (("split", "split", 0), ("subject", "id", 0), ("sex", "sex", 0),
                  ("side", "side", 0), ("muscle", "muscle", 0),
                  ("volume (cm3)", "volume_cm3", 2), ("length (mm)", "length_mm", 1),
                  ("max CSA (cm2)", "max_csa_cm2", 2),
                  ("max CSA at (% leg)", "max_csa_position_pct", 1),
                  ("centroid path (mm)", "path_length_mm", 1))


def _cohort_section(rows, summary) -> str:
    table = H.table([c for c, _, _ in COHORT_COLUMNS],
                    [[r[k] if r[k] != "" else None for _, k, _ in COHORT_COLUMNS]
                     for r in rows],
                    [d for _, _, d in COHORT_COLUMNS], cls="cohort")
    stat_rows = []
    for s in summary:
        if not (s["n"] or s["n_absent"] or s["n_failed"]):
            continue
        stat_rows.append([s["group"] if s["group"] == "all" else f"{s['group']} {s['value']}",
                          s["muscle"], s["n"], s["n_absent"], s["n_failed"]] + [
            f"{H.fmt(s[f'{k}_mean'], d)} ± {H.fmt(s[f'{k}_sd'], d)}"
            for k, d in (("volume_cm3", 2), ("length_mm", 1), ("max_csa_cm2", 2),
                         ("max_csa_position_pct", 1))])
    stats = H.table(("group", "muscle", "n", "absent", "failed", "volume (cm3)", "length (mm)",
                     "max CSA (cm2)", "max CSA at (% leg)"), stat_rows, cls="summary")
    note = H.paragraph("Volume: voxel count times voxel volume. Length: extent along the leg "
                       "(axis 0). CSA: area of the muscle in each transverse slice. Position: "
                       "slice centre in % of leg length from the knee end. Centroid path: "
                       "length of the line through the slice centroids, slices under 10 % "
                       "of the largest CSA left out and the line smoothed over 5 mm. n: "
                       "subjects measured with the muscle; absent: measured without it; "
                       "failed: not measured.", cls="note")
    return H.section("Muscle morphology", table, note,
                     "<h3>Summary (mean ± sd)</h3>", stats, section_id="morphology")


def _plots_section(done, rows, people) -> str:
    profiles: dict[str, list] = {}
    for r in done:
        morph = r["morphology"]
        for m in morph.muscles.values():
            if m.present:
                ks = np.arange(m.first_slice, m.last_slice + 1)
                profiles.setdefault(m.name, []).append((morph.position_pct(ks), m.csa_cm2[ks]))
    parts = [H.image(png_bytes(profile_figure(profiles)), "cross-section profiles",
                     "Anatomical cross-sectional area along the leg, each subject thin, the "
                     "mean thick.", "fig-profiles")]

    def per_muscle(key):
        return {m.name: [r[key] for r in rows if r["muscle"] == m.name and r["voxels"]]
                for m in lab.MUSCLES}

    panels = [("volume (cm3)", per_muscle("volume_cm3")), ("length (mm)", per_muscle("length_mm")),
              ("max CSA (cm2)", per_muscle("max_csa_cm2")),
              ("max CSA position (% leg)", per_muscle("max_csa_position_pct"))]
    sexes = sorted({r["sex"] for r in rows} - {""})
    groups = None
    if len(sexes) > 1:
        groups = {f"sex {s}": {m.name: [r["volume_cm3"] for r in rows if r["sex"] == s and
                                        r["muscle"] == m.name and r["voxels"]]
                               for m in lab.MUSCLES} for s in sexes}
    parts.append(H.image(png_bytes(box_figure(panels, "Morphology per muscle", groups)),
                         "morphology box plots",
                         "Box plots of the measures; volumes split by sex when the "
                         "participants table gives it." if groups else
                         "Box plots of the measures per muscle.", "fig-boxes"))
    return H.section("Cohort figures", *parts, section_id="cohort-figures")


def _subject_figures(shown: list[Subject], pred_paths: dict, progress: Progress,
                     asked: int, conventions=(None, None)) -> tuple[str, list[str], list[dict]]:
    """The "Subjects" section, the keys of the subjects drawn, and per-subject errors."""
    parts, drawn, errors = [], [], []
    for s in progress(shown, total=len(shown), description="drawing subjects"):
        try:
            parts.extend(_draw_subject(s, pred_paths.get(s.key), conventions))
            drawn.append(s.key)
        except Leg3dusError as exc:
            errors.append({"split": s.split, "id": s.id, "error": f"not drawn: {exc}"})
            parts.append(H.paragraph(f"Not drawn: {s.key}: {exc}"))
    if not drawn:
        reason = ("no slice figures were asked (--max-figures 0)" if asked <= 0 else
                  "none of the chosen subjects could be drawn")
        parts.append(H.paragraph(f"No subject is drawn: {reason}."))
    return H.section("Subjects", *parts, section_id="subjects"), drawn, errors


def _draw_subject(s: Subject, pred_path: Path | None, conventions=(None, None)) -> list[str]:
    """Slice figure (image, filled truth, dashed prediction) and 3D picture of one subject;
    ``conventions`` are the label conventions of the labels and the prediction."""
    labels = read_labels(s.label, conventions[0], allow_stray=True)[0]
    image = read_volume(s.image).array if s.image else None
    notes = []
    if image is not None and image.shape != labels.shape:
        image = None
        notes.append(f"image {s.image.name} not on the label grid, not shown")
    pred = None
    if pred_path is not None:
        p = read_labels(pred_path, conventions[1], allow_stray=True)[0]
        if p.shape == labels.shape:
            pred = p.array
        else:
            notes.append(f"prediction {pred_path.name} not on the label grid, not shown")
    what = "labels filled" + (" with the prediction outlined dashed" if pred is not None
                              else " and outlined")
    fig = slice_figure(image, labels.array, labels.spacing, prediction=pred,
                       title=f"{s.key}: " + ("prediction (dashed) over image and labels"
                                              if pred is not None else "slices with labels"))
    caption = (f"{s.key}: transverse, longitudinal and coronal slices through the muscles "
               f"over the {'image' if image is not None else 'labels'}, {what}."
               + "".join(f" Note: {n}." for n in notes))
    parts = [H.image(png_bytes(fig), f"{s.key} slices", caption, f"fig-slices-{s.id}")]
    step = max(1, int(np.ceil(max(labels.shape) / 160)))
    small = labels.array[::step, ::step, ::step]
    meshes = label_meshes(small, tuple(v * step for v in labels.spacing), physical=False,
                          smooth_sigma=1.0)
    parts.append(H.image(png_bytes(render_meshes(meshes, f"{s.key}: muscle surfaces")),
                         f"{s.key} 3D", f"{s.key}: surface meshes (marching cubes) of the "
                         "muscles, knee at the top.", f"fig-3d-{s.id}"))
    return parts


def mesh_path(subject: Subject, folder: str | os.PathLike, muscle: str, fmt: str) -> Path:
    """Where :func:`export_meshes` writes one muscle of one subject:
    ``<folder>/<split>_<id>_<MUSCLE>.<fmt>`` (``<id>_...`` without a split).

    >>> str(mesh_path(Subject("P1", "train", None, None), "m", "SOL", "STL"))
    'm/train_P1_SOL.stl'
    """
    name = f"{subject.split}_{subject.id}" if subject.split else subject.id
    return Path(folder) / f"{name}_{muscle}.{fmt.lower()}"


def export_meshes(subjects: list[Subject], folder: str | os.PathLike, fmt: str = "stl",
                  step: int = 1, progress: Progress | None = None,
                  label_values=None) -> list[Path]:
    """Write one surface mesh per subject and muscle (:func:`mesh_path`), in the
    physical coordinates of the label volume (values read with ``label_values`` or the
    file's label table)."""
    progress = progress or _no_progress
    written = []
    for s in progress(subjects, total=len(subjects), description="exporting meshes"):
        labels = read_labels(s.label, label_values, allow_stray=True)[0]
        for mesh in label_meshes(labels.array, labels.spacing, origin=labels.origin,
                                 direction=labels.direction, step_size=step):
            written.append(write_mesh(mesh, mesh_path(s, folder, mesh.name, fmt)))
    return written
