"""The per-subject parts of the report: which subjects are drawn, their slice figures
and 3D pictures, and the export of surface meshes."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...core.errors import Leg3dusError, OptionError
from ...core.label_values import read_labels
from ...core.volume_io import read_volume
from ...dataset import Subject
from . import html as H
from .figures import png_bytes, slice_figure
from .mesh import label_meshes, render_meshes, write_mesh

#: ``progress(items, total=, description=)`` -> the same items; the CLI passes a bar.
Progress = Callable[..., object]


def no_progress(items, total=None, description=""):
    """The default ``progress``: the items, unchanged."""
    return items


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


def subjects_section(shown: list[Subject], pred_paths: dict, progress: Progress,
                     asked: int, conventions=(None, None)) -> tuple[str, list[str], list[dict]]:
    """The "Subjects" section, the keys of the subjects drawn, and per-subject errors."""
    parts, drawn, errors = [], [], []
    for s in progress(shown, total=len(shown), description="drawing subjects"):
        try:
            parts.extend(draw_subject(s, pred_paths.get(s.key), conventions))
            drawn.append(s.key)
        except Leg3dusError as exc:
            errors.append({"split": s.split, "id": s.id, "error": f"not drawn: {exc}"})
            parts.append(H.paragraph(f"Not drawn: {s.key}: {exc}"))
    if not drawn:
        reason = ("no slice figures were asked (--max-figures 0)" if asked <= 0 else
                  "none of the chosen subjects could be drawn")
        parts.append(H.paragraph(f"No subject is drawn: {reason}."))
    return H.section("Subjects", *parts, section_id="subjects"), drawn, errors


def draw_subject(s: Subject, pred_path: Path | None, conventions=(None, None)) -> list[str]:
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
                          smooth_sigma_vox=1.0)
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
                  step_vox: int = 1, progress: Progress | None = None,
                  label_values=None) -> list[Path]:
    """Write one surface mesh per subject and muscle (:func:`mesh_path`), in the
    physical coordinates of the label volume (values read with ``label_values`` or the
    file's label table)."""
    progress = progress or no_progress
    written = []
    for s in progress(subjects, total=len(subjects), description="exporting meshes"):
        labels = read_labels(s.label, label_values, allow_stray=True)[0]
        for mesh in label_meshes(labels.array, labels.spacing, origin=labels.origin,
                                 direction=labels.direction, step_vox=step_vox):
            written.append(write_mesh(mesh, mesh_path(s, folder, mesh.name, fmt)))
    return written
