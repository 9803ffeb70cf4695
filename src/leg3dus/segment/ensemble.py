"""Ensembles: several trained networks applied as one, their class probabilities averaged
(nnU-Net's ensembling of folds).

Each window is scored by every member (with the same test-time flips) and the mean
probability is blended like a single model's, so the ensemble's blended probabilities are
the mean of its members' and memory stays bounded by the slab, whatever the number of
members. A cross-validation run folder (``fold_0`` ... ``fold_K-1``, see
:func:`leg3dus.segment.train.train_folds`) stands for all its folds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputFileError, OptionError
from .infer import LoadedModel, load_model

#: Spec entries every member of an ensemble must share: they set the windows and classes.
SHARED = ("kind", "patch", "context", "classes", "spacing", "in_channels")


@dataclass
class Ensemble:
    """Networks applied as one: :func:`leg3dus.segment.infer.predict` and
    :func:`~leg3dus.segment.infer.sliding_window` take it where they take a model."""

    members: list[LoadedModel]

    @property
    def spec(self) -> dict:
        return self.members[0].spec

    @property
    def source(self) -> str:
        return ", ".join(m.source for m in self.members)

    @property
    def device(self) -> str:
        return self.members[0].device


def fold_folders(path: str | os.PathLike) -> list[Path]:
    """The ``fold_<i>`` folders of a cross-validation run, in fold order (empty for any
    other path)."""
    path = Path(path)
    if not path.is_dir():
        return []
    folds = [p for p in path.iterdir() if p.is_dir() and p.name.startswith("fold_")
             and p.name[5:].isdigit()]
    return sorted(folds, key=lambda p: int(p.name[5:]))


def load_models(paths, device: str | None = None,
                threads: int | None = None) -> LoadedModel | Ensemble:
    """One model, or an :class:`Ensemble` of several: each path is a model file, a run
    folder, or a cross-validation run folder (all its folds). Members must share their
    windows and classes (:data:`SHARED`); :class:`OptionError` names the first that does
    not.

    >>> model = load_models(["runs/cv2d"])  # doctest: +SKIP
    >>> len(model.members)                  # doctest: +SKIP
    5
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    if not paths:
        raise OptionError("no model given")
    expanded = []
    for p in paths:
        if not p.exists():
            raise InputFileError(f"{p}: no such run folder or model file")
        expanded += fold_folders(p) or [p]
    members = [load_model(p, device, threads) for p in expanded]
    if len(members) == 1:
        return members[0]
    first = members[0]
    for m in members[1:]:
        diff = [k for k in SHARED if m.spec.get(k) != first.spec.get(k)]
        if diff:
            raise OptionError(f"{m.source} cannot join an ensemble with {first.source}: "
                              f"their {', '.join(diff)} differ")
    return Ensemble(members)
