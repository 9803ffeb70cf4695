"""K-fold cross-validation runs, with nnU-Net's folds (:mod:`.folds`).

A cross-validation run folder holds ``splits_final.json`` (the folds, nnU-Net's format),
one run folder per fold (``fold_0`` ... ``fold_K-1``, each a complete run as
:func:`leg3dus.segment.train.train` writes it), a shared ``cache`` and
``cv_summary.json``/``cv_summary.csv``: each fold's validation Dice per muscle at its
best epoch, and their mean over the folds trained so far. The training cases are every
subject of the ``train`` and ``val`` splits (nnU-Net's ``imagesTr``), named as the nnU-Net
export names them, so a leg3dus run and an nnU-Net run on the exported dataset can share
``splits_final.json``. ``leg3dus predict`` on the run folder uses all its folds as an
ensemble (:mod:`.ensemble`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.atomic import atomic_path
from ..core.errors import InputFileError, OptionError
from ..core.layout import case_name, find_subjects
from .folds import SPLITS_NAME, crossval_folds, read_folds, write_folds

SUMMARY_NAME = "cv_summary"
MUSCLES = [m.name for m in lab.MUSCLES]


def training_cases(data, image_name: str, label_name: str) -> dict:
    """``{case name: subject}`` of the ``train`` and ``val`` subjects of ``data`` that have
    an image and labels; :class:`InputFileError` when two give the same case name."""
    cases: dict = {}
    for s in find_subjects(data, image_name, label_name):
        if s.split in ("train", "val", "") and s.image is not None and s.label is not None:
            case = case_name(s)
            if case in cases:
                raise InputFileError(f"{data}: subjects {cases[case].key} and {s.key} give "
                                     f"the same case name {case!r}")
            cases[case] = s
    return cases


def parse_fold(fold: str | int | None, n_folds: int) -> list[int]:
    """The fold indices ``fold`` asks for: ``"all"`` (or None) is every fold.

    >>> parse_fold("all", 3), parse_fold("1", 3)
    ([0, 1, 2], [1])
    """
    if fold is None or str(fold).strip().lower() == "all":
        return list(range(n_folds))
    try:
        i = int(fold)
    except ValueError:
        raise OptionError(f"--fold: expected a fold index or 'all', found {fold!r}") from None
    if not 0 <= i < n_folds:
        raise OptionError(f"--fold must be in 0..{n_folds - 1} (or 'all'), found {i}")
    return [i]


def plan_folds(data, run: str | os.PathLike, n_folds: int | None,
               splits: str | os.PathLike | None, image_name: str, label_name: str):
    """The folds of a cross-validation run and its cases: from ``splits`` (a
    ``splits_final.json``), else from the run's own file, else made anew with ``n_folds``
    folds (nnU-Net's seed). Folds read from a file are checked against the cases."""
    cases = training_cases(data, image_name, label_name)
    own = Path(run) / SPLITS_NAME
    source = Path(splits) if splits is not None else (own if own.is_file() else None)
    if source is not None:
        folds = read_folds(source, cases)
        if n_folds is not None and len(folds) != n_folds:
            raise OptionError(f"{source}: holds {len(folds)} folds, --folds asks for {n_folds}")
    else:
        if n_folds is None:
            raise OptionError("give --folds K or --splits splits_final.json")
        folds = crossval_folds(cases, n_folds)
    return folds, cases


def train_folds(data, kind: str, run: str | os.PathLike, config: dict, *,
                n_folds: int | None = 5, fold: str | int | None = "all",
                splits: str | os.PathLike | None = None, resume: bool = False,
                overrides: dict | None = None, log=None, progress=None) -> dict:
    """Train the folds ``fold`` (an index or ``"all"``) of a ``n_folds``-fold
    cross-validation of ``kind`` on ``data`` into the run folder ``run``; the returned
    summary (also written as ``cv_summary.json``/``.csv``) lists each trained fold's best
    validation Dice per muscle and the mean over the folds.

    >>> train_folds("phantom", "2d", "runs/cv2d", load_config(None), n_folds=5)  # doctest: +SKIP
    """
    from .train import train

    run = Path(run)
    folds, cases = plan_folds(data, run, n_folds, splits, config["image_name"],
                              config["label_name"])
    chosen = parse_fold(fold, len(folds))
    run.mkdir(parents=True, exist_ok=True)
    if not (run / SPLITS_NAME).is_file():
        write_folds(folds, run / SPLITS_NAME)
    overrides = {"cache_dir": str(run / "cache"), **(overrides or {})}
    for i in chosen:
        if log is not None:
            log(f"fold {i} of {len(folds)}: {len(folds[i]['train'])} training, "
                f"{len(folds[i]['val'])} validation subjects")
        subjects = ([cases[c] for c in folds[i]["train"]], [cases[c] for c in folds[i]["val"]])
        fold_run = run / f"fold_{i}"
        train(data, kind, fold_run, config, resume=resume and (fold_run / "last.pt").is_file(),
              overrides=overrides, log=log, progress=progress, subjects=subjects)
    return write_summary(run, len(folds))


def fold_best_dice(fold_run: Path) -> dict | None:
    """Validation Dice per muscle at the best epoch of a fold's ``log.csv`` (None when the
    fold has not been trained)."""
    log = fold_run / "log.csv"
    if not log.is_file():
        return None
    with open(log, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("dice_mean") not in (None, "", "nan")]
    if not rows:
        return None
    best = max(rows, key=lambda r: float(r["dice_mean"]))
    return {"epoch": int(best["epoch"]), **{m: float(best[f"dice_{m}"]) for m in MUSCLES}}


def write_summary(run: Path, n_folds: int) -> dict:
    """``cv_summary.json``/``.csv`` of the run's trained folds; returns the summary.
    ``mean`` is over the trained folds, and says how many of ``n_folds`` that is."""
    rows = []
    for i in range(n_folds):
        best = fold_best_dice(run / f"fold_{i}")
        if best is not None:
            rows.append({"fold": i, **best})
    mean = ({m: float(np.mean([r[m] for r in rows])) for m in MUSCLES} if rows else {})
    summary = {"run": str(run), "folds": n_folds, "trained": [r["fold"] for r in rows],
               "per_fold": rows, "mean": mean}
    with atomic_path(run / f"{SUMMARY_NAME}.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    with atomic_path(run / f"{SUMMARY_NAME}.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["fold", "best_epoch", *[f"dice_{m}" for m in MUSCLES]])
        for r in rows:
            w.writerow([r["fold"], r["epoch"], *[f"{r[m]:.4f}" for m in MUSCLES]])
        if rows:
            w.writerow(["mean", "", *[f"{mean[m]:.4f}" for m in MUSCLES]])
    return summary
