"""Morphology of a cohort in one call: find the subjects of a path, measure each one
(in-process or on Dask), write the tables, and gather what to tell the user.

This is what ``leg3dus morphology`` runs. A subject that cannot be measured is kept in
:attr:`CohortMorphology.failed` (and as a row of the summary table) while the others
are measured; when none can be, :class:`~leg3dus.core.errors.Leg3dusError` is raised
and nothing is written.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.atomic import check_outputs
from ..core.errors import Leg3dusError, OptionError
from ..core.label_values import LabelConvention, from_option
from ..core.layout import IMAGE_NAME, LABEL_NAME, Subject, list_subjects
from ..core.parallel import map_subjects
from .axis import oblique_note, parse_axis
from .cohort import (
    check_leg_extent,
    cohort_rows,
    find_participants,
    measure_subject,
    parse_csa_at,
    profile_rows,
    read_participants,
    summarise,
    write_csv,
)


@dataclass
class CohortMorphology:
    """What :func:`measure_cohort` measured: ``done`` (results of
    :func:`~leg3dus.morphology.measure_subject`), ``failed`` (``{"split", "id",
    "error"}``), the cohort ``rows``, the ``summary`` (failed subjects last, group
    ``failed``) and the participants table used."""

    participants: Path | None
    done: list[dict]
    failed: list[dict]
    rows: list[dict]
    summary: list[dict]

    def failure_lines(self) -> list[str]:
        """``split/id: message`` for each subject that could not be measured (the
        message alone when it names the subject first)."""
        return [f["error"] if f["error"].startswith(_key(f)) else f"{_key(f)}: {f['error']}"
                for f in self.failed]

    def warnings(self) -> list[str]:
        """One line per leg axis and angle that is oblique, naming its subjects."""
        groups: dict[tuple[int, str], list[str]] = {}
        for r in self.done:
            m = r["morphology"]
            if m.oblique:
                groups.setdefault((m.leg_axis, f"{m.axis_oblique_deg:.1f}"), []).append(_key(r))
        return [oblique_note(axis, float(deg), _who(keys))
                for (axis, deg), keys in groups.items()]

    def notes(self) -> list[str]:
        """The label conventions used, and the muscles cut by the field of view."""
        lines = list(dict.fromkeys(LabelConvention.from_json(r["label_values"]).describe()
                                   for r in self.done))
        by_subject: dict[tuple[str, str], list[str]] = {}
        for r in self.rows:
            if r.get("fov_clipped"):
                by_subject.setdefault((_key(r), r["fov_clipped"]), []).append(r["muscle"])
        groups: dict[tuple[str, str], list[str]] = {}
        for (subject, end), muscles in by_subject.items():
            groups.setdefault((", ".join(muscles), end), []).append(subject)
        where = {"first": "first slice", "last": "last slice", "both": "first and last slices"}
        for (muscles, end), subjects in groups.items():
            one = "," not in muscles
            bound = "its length and volume are" if one else "their lengths and volumes are"
            lines.append(f"note: {muscles} reach{'es' if one else ''} the {where[end]} of the "
                         f"field of view in {_who(subjects)}: {bound} lower bounds (column "
                         "fov_clipped)")
        return lines

    def as_json(self) -> dict:
        """Everything, with each muscle's profile and centroid path (JSON-ready once
        numpy values are converted)."""
        return {"participants": str(self.participants) if self.participants else None,
                "subjects": [_subject_json(r) for r in self.done], "rows": self.rows,
                "summary": self.summary, "errors": self.failed}


def measure_cohort(
    data: str | os.PathLike,
    *,
    out=None,
    profiles=None,
    summary=None,
    participants=None,
    leg_extent: str = "labels",
    csa_at: str | Sequence[float] | None = None,
    with_image: bool = False,
    label_values: str | None = None,
    label_name: str = LABEL_NAME,
    flat: bool = False,
    axis: str | int = "auto",
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> CohortMorphology:
    """Measure every subject of ``data`` and write the tables asked for.

    Parameters
    ----------
    data
        A LEG-3D-US tree, a folder of subject folders (or of files with ``flat``), one
        subject folder, or one label volume.
    out, profiles, summary
        CSV paths (or None) of the cohort table, the cross-section profiles and the
        summary; checked before any work never to be an input.
    participants
        A participants table (sex, side); default: one beside ``data`` when present.
    leg_extent, csa_at, with_image, label_values, axis
        As :func:`~leg3dus.morphology.measure_subject`; ``csa_at`` and ``label_values``
        may be the option text (``"30,50,70"``, ``"1,2,3"``), ``axis`` ``"auto"`` or
        0, 1, 2.
    label_name, flat
        How subjects are found (:func:`leg3dus.core.layout.find_subjects`).
    scheduler, workers
        Where subjects run (:func:`leg3dus.core.parallel.map_subjects`).
    progress
        Called as ``progress("measuring", done, total)`` after each subject.
    """
    check_leg_extent(leg_extent)
    pcts = parse_csa_at(csa_at) if csa_at is None or isinstance(csa_at, str) else \
        parse_csa_at(",".join(str(p) for p in csa_at))
    parse_axis(axis)
    convention = from_option(label_values)
    table_path = Path(participants) if participants else find_participants(data)
    subjects = label_subjects(data, label_name, flat)
    files = [p for s in subjects for p in (s.image, s.label) if p is not None]
    check_outputs((out, profiles, summary), [data, table_path, *files])
    people = read_participants(table_path) if table_path else {}
    if with_image and Path(data).is_file():
        raise OptionError("--with-image needs a dataset tree (a subject's image beside its "
                          "labels), not a single label volume")
    job = functools.partial(measure_subject, leg_extent=leg_extent, label_values=convention,
                            csa_at=pcts, with_image=with_image, allow_stray=False, axis=axis)
    count = [0]

    def on_done(_result) -> None:
        count[0] += 1
        progress("measuring", count[0], len(subjects))

    done, failed = measure_subjects(
        job, subjects, lambda fn, items: map_subjects(fn, items, scheduler, workers,
                                                      on_done=on_done if progress else None))
    rows = cohort_rows(done, people)
    stats = summarise(rows, n_failed=len(failed)) + [
        {"group": "failed", "value": _key(f), "muscle": "", "error": f["error"]}
        for f in failed]
    for rows_out, path in ((rows, out), (profile_rows(done) if profiles else [], profiles),
                           (stats, summary)):
        if path:
            write_csv(rows_out, path)
    return CohortMorphology(table_path, done, failed, rows, stats)


def measure_subjects(job: Callable, subjects: list[Subject],
                     runner: Callable) -> tuple[list, list[dict]]:
    """Run ``job`` (a :func:`~leg3dus.morphology.measure_subject` partial) on ``subjects``
    with ``runner(fn, items)``: the results measured, and ``{"split", "id", "error"}`` of
    each subject that failed. Nothing measured is one :class:`Leg3dusError` (never an
    empty table that looks like a result, e.g. a 0/1/2/3 label map read as the scheme)."""
    results = runner(job, subjects)
    done = [r.value for r in results if r.ok]
    failed = [{"split": r.item.split, "id": r.item.id, "error": r.error}
              for r in results if not r.ok]
    if not done:
        more = f" (and {len(failed) - 1} more subjects)" if len(failed) > 1 else ""
        raise Leg3dusError(f"{failed[0]['error']}{more}")
    return done, failed


def label_subjects(data: str | os.PathLike, label_name: str = LABEL_NAME,
                   flat: bool = False) -> list[Subject]:
    """The subjects of ``data`` with their label files: a single volume is one subject
    whose labels it is; a subject folder is one subject; otherwise
    :func:`~leg3dus.core.layout.find_subjects`. Raises :class:`InputFileError` when
    there is none."""
    subjects = list_subjects(data, IMAGE_NAME, label_name, flat)
    root = Path(data)
    if len(subjects) == 1 and subjects[0].image == root and subjects[0].label is None:
        return [Subject(subjects[0].id, "", None, root)]
    return subjects


def _key(r: dict) -> str:
    return f"{r['split']}/{r['id']}" if r["split"] else r["id"]


def _who(keys: list[str]) -> str:
    return ", ".join(keys) if len(keys) <= 4 else f"{len(keys)} subjects"


def _subject_json(r: dict) -> dict:
    morph = r["morphology"]
    muscles = {}
    for name, m in morph.muscles.items():
        entry = m.row()
        if m.present:
            ks = list(range(m.first_slice, m.last_slice + 1))
            entry["profile"] = {"slice": ks, "position_pct": morph.position_pct(ks),
                                "csa_cm2": m.csa_cm2[ks], "centroid_mm": m.centroids_mm[ks]}
        muscles[name] = entry
    return {"split": r["split"], "id": r["id"], "label": r["label"], "shape": r["shape"],
            "spacing": r["spacing"], "leg_extent": morph.leg_extent,
            "leg_length_mm": morph.leg_length_mm, "leg_axis": morph.leg_axis,
            "axis_oblique_deg": morph.axis_oblique_deg, "stray_values": r["stray"],
            "label_values": r["label_values"], "muscles": muscles}
