"""A subject's annotation session on disk: what ``leg3dus annotate`` opens and saves.

A subject folder holds the image (``x1.mha`` in LEG-3D-US, any volume format) and maybe
its labels (``masksX1.mha``). Saving an annotation session adds, beside them:

- ``masksX1_annotate.mha``: the dense labels (0/100/150/200, or the values of the
  labels file's convention);
- ``sparseX1.mha``: the sparse annotations, labels on the annotated slices only;
- ``sparseX1_slices.txt``: the annotated slice indices, one a line, in the syntax of
  ``leg3dus propagate --annotated`` and ``leg3dus predict --annotated`` (a listed slice
  may be empty: no muscle there);
- ``annotate.json``: the sidecar: axis, annotated slices, guide spacing, method and
  its options, run folder, file names and the leg3dus version.

So ``leg3dus propagate sparseX1.mha -o dense.mha --annotated sparseX1_slices.txt``
reproduces the widget's propagation, and reopening the folder restores all of it. The
image and the dataset's own labels file are never written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.annotated import check_axis
from ...core.atomic import atomic_path, check_not_input
from ...core.errors import InputFileError, LabelError, OutputError
from ...core.label_values import SCHEME, LabelConvention, to_file_values
from ...core.labels import stray_values, value_counts
from ...core.layout import SLICES_NAME, SPARSE_NAME
from ...core.volume import Volume
from ...core.volume_io import FORMATS, write_volume

SIDECAR = "annotate.json"
LABELS_NAME = "masksX1_annotate.mha"
IMAGE_STEM = "x1"
MASKS_STEM = "masksX1"


@dataclass
class Session:
    """What the sidecar records (see the module docstring)."""

    axis: int = 0
    annotated: list[int] = field(default_factory=list)
    guide_mm: float = 5.0
    method: str = "sdf"
    options: dict = field(default_factory=dict)
    run: str | None = None
    labels: str | None = LABELS_NAME
    sparse: str | None = SPARSE_NAME
    slices: str | None = SLICES_NAME
    image: str | None = None

    def as_json(self) -> dict:
        from ... import __version__

        return {"leg3dus_version": __version__, "axis": self.axis,
                "annotated": [int(i) for i in self.annotated], "guide_mm": self.guide_mm,
                "method": self.method, "options": self.options, "run": self.run,
                "image": self.image, "labels": self.labels, "sparse": self.sparse,
                "slices": self.slices}


def find_volume(folder: Path, stem: str) -> Path | None:
    """The volume named ``stem`` + a known format ending in ``folder``, or None.

    >>> find_volume(Path("."), "no-such-volume") is None
    True
    """
    for ext in FORMATS:
        path = folder / f"{stem}{ext}"
        if path.exists():
            return path
    return None


def read_sidecar(folder: str | os.PathLike) -> Session | None:
    """The session saved in ``folder``, or None when there is none."""
    path = Path(folder) / SIDECAR
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        session = Session(axis=check_axis(int(data.get("axis", 0))),
                          annotated=[int(i) for i in data.get("annotated", [])],
                          guide_mm=float(data.get("guide_mm", 5.0)),
                          method=str(data.get("method", "sdf")),
                          options=dict(data.get("options") or {}), run=data.get("run"),
                          labels=data.get("labels"), sparse=data.get("sparse"),
                          slices=data.get("slices"), image=data.get("image"))
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise InputFileError(f"{path}: expected an annotation sidecar (JSON with axis, "
                             f"annotated, method), found an unreadable file: {exc}") from None
    return session


def check_writable(folder: Path) -> None:
    """Raise :class:`OutputError` when files cannot be created in ``folder``."""
    if not folder.is_dir():
        raise OutputError(f"{folder}: expected a folder to save the annotation in, found none")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: cannot save here: the folder is read-only; expected "
                          "a writable subject folder")


def _check_labels(array: np.ndarray, what: str) -> None:
    stray = stray_values(array, value_counts(array))
    if stray:
        from ...core.labels import describe_counts

        raise LabelError(f"{what}: not saved: label values outside the scheme "
                         f"(0, 100, 150, 200): {describe_counts(stray)}; paint them over "
                         "(or fix them with leg3dus validate --fix-stray)")


def save_session(folder: str | os.PathLike, session: Session, *, labels: Volume | None,
                 sparse: Volume | None, convention: LabelConvention = SCHEME,
                 inputs=()) -> list[Path]:
    """Write the dense labels, the sparse annotations, the slice list and the sidecar.

    Everything is checked before anything is written (folder writable, no value outside
    the scheme, the sparse labels only on listed slices, no output over one of
    ``inputs``: the image and the dataset's labels file); each file is written
    atomically, the sidecar last. Returns the paths written.
    """
    from ...core.annotated import annotated_indices

    folder = Path(folder)
    check_writable(folder)
    planned = {}
    if labels is not None:
        _check_labels(labels.array, f"{folder / LABELS_NAME}")
        planned["labels"] = folder / LABELS_NAME
    if sparse is not None:
        _check_labels(sparse.array, f"{folder / SPARSE_NAME}")
        try:
            idx = annotated_indices(sparse.array, session.annotated, session.axis)
        except LabelError as exc:
            raise LabelError(f"{folder / SPARSE_NAME}: not saved: {exc}; mark those slices "
                             "as annotated or clear them") from None
        session.annotated = [int(i) for i in idx]
        planned["sparse"] = folder / SPARSE_NAME
        planned["slices"] = folder / SLICES_NAME
    for path in [*planned.values(), folder / SIDECAR]:
        check_not_input(path, inputs)
    written = []
    if labels is not None:
        array = to_file_values(labels.array, convention)
        written.append(write_volume(labels.with_array(array), planned["labels"]))
    if sparse is not None:
        written.append(write_volume(sparse, planned["sparse"]))
        with atomic_path(planned["slices"]) as tmp:
            tmp.write_text(f"# annotated slices along axis {session.axis}\n"
                           + "".join(f"{i}\n" for i in session.annotated))
        written.append(planned["slices"])
    session.labels = LABELS_NAME if labels is not None else None
    session.sparse = SPARSE_NAME if sparse is not None else None
    session.slices = SLICES_NAME if sparse is not None else None
    with atomic_path(folder / SIDECAR) as tmp:
        tmp.write_text(json.dumps(session.as_json(), indent=2) + "\n")
    written.append(folder / SIDECAR)
    return written
