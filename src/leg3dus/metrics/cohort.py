"""Evaluating a folder of predictions against a LEG-3D-US tree: matching predictions to
subjects by id, one job per subject, and the cohort summary.

A prediction for subject ``<id>`` (split ``<split>``) is looked for, in this order, at

1. ``<PRED_DIR>/<split>/<id>/<pred_name>`` (a tree shaped like the dataset),
2. ``<PRED_DIR>/<id>/<pred_name>``,
3. ``<PRED_DIR>/<split>/<id><ext>``,
4. ``<PRED_DIR>/<id><ext>``,

with ``<pred_name>`` ``masksX1.mha`` by default and ``<ext>`` any volume format
(``.mha``, ``.nii.gz``, ...); in 3. and 4. the subject's nnU-Net case name
(:func:`leg3dus.core.layout.case_name`) stands for ``<id>`` too. Two candidates for one
subject are an error.

An nnU-Net prediction folder (``nnUNetv2_predict``'s output: ``<case>.nii.gz`` files
with classes 0-3, beside the ``dataset.json`` and ``plans.json`` it copies there) is
matched by case name, and its ``dataset.json`` says what the values mean; a case file
that is no subject's is an error, not a silent omission.

Border volumes of the published border analysis (:func:`find_borders`) lie in the
subject's folder as ``distinct_border_label<ext>`` and ``completed_border_label<ext>``
(all muscles), or ``distinct_<MUSCLE><ext>`` and ``completed_<MUSCLE><ext>`` (one muscle
each, e.g. ``distinct_GM.nii.gz``), the names of the authors' published example.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import InputFileError
from ..core.labels import MUSCLES
from ..core.layout import LABEL_NAME, Subject, case_name, find_subjects
from ..core.tables import csv_cell
from ..core.volume_io import FORMATS
from .evaluate import METRIC_KEYS, STRUCTURES, evaluate_files


@dataclass(frozen=True)
class EvalJob:
    """One subject to evaluate: its truth, the matched prediction and the options."""

    subject: Subject
    prediction: Path
    image: Path | None = None
    options: dict = field(default_factory=dict)
    borders: bool = False


def find_prediction(pred_dir: Path, subject: Subject, pred_name: str = LABEL_NAME):
    """The prediction file of ``subject`` under ``pred_dir`` (see the module docstring),
    or None; raises :class:`InputFileError` when two files could be it."""
    split = subject.split
    candidates = [pred_dir / split / subject.id / pred_name if split else None,
                  pred_dir / subject.id / pred_name]
    for stem in dict.fromkeys((subject.id, case_name(subject))):
        for ext in FORMATS:
            if split:
                candidates.append(pred_dir / split / f"{stem}{ext}")
            candidates.append(pred_dir / f"{stem}{ext}")
    found = list(dict.fromkeys(c for c in candidates if c is not None and c.is_file()))
    if len(found) > 1:
        raise InputFileError(f"{pred_dir}: more than one prediction for subject "
                             f"{subject.key}: {', '.join(str(f) for f in found)}")
    return found[0] if found else None


#: File stems of the border volumes in a subject folder: all muscles, and one muscle.
BORDER_STEMS = {"distinct": "distinct_border_label", "completed": "completed_border_label"}


def _one_file(folder: Path, stem: str, key: str):
    found = [folder / f"{stem}{ext}" for ext in FORMATS if (folder / f"{stem}{ext}").exists()]
    if len(found) > 1:
        raise InputFileError(f"{folder}: more than one {stem} volume for subject {key}: "
                             f"{', '.join(f.name for f in found)}")
    return found[0] if found else None


def find_borders(subject: Subject) -> dict:
    """The border volumes of ``subject`` (see the module docstring) as
    ``{"distinct": path or {muscle: path}, "completed": ...}``; a part without a file is
    left out. Raises :class:`InputFileError` when the subject has none, or has both an
    all-muscle file and single-muscle files of one part."""
    if subject.label is None:
        raise InputFileError(f"subject {subject.key}: no label file, so no subject folder")
    folder = subject.label.parent
    borders: dict = {}
    for part, stem in BORDER_STEMS.items():
        whole = _one_file(folder, stem, subject.key)
        single = {m.name: f for m in MUSCLES
                  if (f := _one_file(folder, f"{part}_{m.name}", subject.key)) is not None}
        if whole is not None and single:
            raise InputFileError(f"{folder}: both {whole.name} and single-muscle {part} "
                                 f"borders ({', '.join(single)}); keep one kind")
        if whole is not None or single:
            borders[part] = whole if whole is not None else single
    if not borders:
        raise InputFileError(f"{folder}: no border volumes for subject {subject.key}; "
                             f"expected {BORDER_STEMS['distinct']}.mha and "
                             f"{BORDER_STEMS['completed']}.mha (or .nii.gz), or "
                             "distinct_<MUSCLE> / completed_<MUSCLE> files")
    return borders


def match_predictions(pred_dir: str | os.PathLike, data: str | os.PathLike,
                      pred_name: str = LABEL_NAME, splits=None, with_image: bool = False,
                      **find_options):
    """(matched [(Subject, prediction path)], truth subjects without a prediction).

    Raises :class:`InputFileError` when nothing matches."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise InputFileError(f"{pred_dir}: expected a folder of predictions")
    subjects = [s for s in find_subjects(data, splits=splits, **find_options)
                if s.label is not None]
    matched, missing = [], []
    for s in subjects:
        p = find_prediction(pred_dir, s, pred_name)
        if p is None:
            missing.append(s)
        elif with_image and s.image is None:
            raise InputFileError(f"{data}: subject {s.key} has no ultrasound image; "
                                 "drop --with-image or add the file")
        else:
            matched.append((s, p))
    if is_nnunet_predictions(pred_dir):
        check_nnunet_cases(pred_dir, [p for _, p in matched], data)
    if not matched:
        raise InputFileError(
            f"{pred_dir}: no prediction matches a subject of {data} "
            f"({len(subjects)} subjects with labels); expected <split>/<id>/{pred_name}, "
            f"<id>/{pred_name} or <id>.mha (see 'leg3dus evaluate --help')")
    return matched, missing


#: Files nnUNetv2_predict writes beside its case files.
NNUNET_FILES = ("plans.json", "predict_from_raw_data_args.json")


def is_nnunet_predictions(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` is an nnU-Net prediction folder (it holds ``plans.json`` or
    ``predict_from_raw_data_args.json``)."""
    return any((Path(folder) / name).is_file() for name in NNUNET_FILES)


def check_nnunet_cases(folder: Path, matched: list[Path], data) -> None:
    """Raise :class:`InputFileError` naming the case files of the nnU-Net prediction
    folder ``folder`` that match no subject of ``data`` (``matched``: those that do)."""
    cases = [p for p in sorted(folder.iterdir()) if p.is_file()
             and any(p.name.lower().endswith(e) for e in FORMATS)]
    known = set(matched)
    unknown = [p.name for p in cases if p not in known]
    if unknown:
        raise InputFileError(f"{folder}: nnU-Net case files that are no subject of {data}: "
                             f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} "
                             "(cases are matched by subject id; check --split)")


def evaluate_job(job: EvalJob) -> dict:
    """Evaluate one subject (module level so Dask workers can run it)."""
    options = dict(job.options)
    if job.borders:
        options["borders"] = find_borders(job.subject)
    return evaluate_files(job.prediction, job.subject.label, job.image, **options)


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)


def summarise(rows: list[dict]) -> dict:
    """Per structure and metric: mean, sd (ddof 1), median and the counts behind them.

    ``rows`` are the per-subject results; a row with an ``"error"`` is a failed subject.
    Only finite values enter the statistics; every subject is counted once in exactly
    one of ``n`` (finite), ``n_inf`` (infinite: a muscle missed entirely),
    ``n_undefined`` (NaN or absent: e.g. precision of an empty prediction) and
    ``n_failed`` (the subject could not be evaluated); ``n_missing`` is the sum of the
    last three. Keys whose values are not numbers (``worst_slices``) are left out.

    >>> rows = [{"SOL": {"hd": 1.0}}, {"SOL": {"hd": 3.0}}, {"SOL": {"hd": float("inf")}},
    ...         {"error": "bad grid"}]
    >>> s = summarise(rows)["SOL"]["hd"]
    >>> s["mean"], s["n"], s["n_inf"], s["n_failed"], s["n_missing"]
    (2.0, 2, 1, 1, 2)
    """
    good = [r for r in rows if "error" not in r]
    n_failed = len(rows) - len(good)
    summary: dict[str, dict] = {}
    for name in STRUCTURES:
        keys = list(dict.fromkeys(k for r in good if name in r for k, v in r[name].items()
                                  if _is_number(v)))
        for key in keys or METRIC_KEYS:
            values = np.array([r[name].get(key, math.nan) if name in r else math.nan
                               for r in good], float)
            finite = values[np.isfinite(values)]
            n_inf = int(np.isinf(values).sum())
            n_undefined = int(np.isnan(values).sum())
            summary.setdefault(name, {})[key] = {
                "mean": float(finite.mean()) if finite.size else math.nan,
                "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
                "median": float(np.median(finite)) if finite.size else math.nan,
                "n": int(finite.size),
                "n_inf": n_inf,
                "n_undefined": n_undefined,
                "n_failed": n_failed,
                "n_missing": n_inf + n_undefined + n_failed,
            }
    return summary


def _fmt(v) -> str:
    if isinstance(v, list):
        return "-".join(str(x) for x in v)
    if v is None:
        return ""
    if isinstance(v, float):
        return csv_cell(v, missing="nan")  # 6 significant digits, nan, inf
    return str(v)


def to_csv(rows: list[dict], with_ids: bool) -> str:
    """One line per subject and structure: (split, id,) structure, then every metric."""
    keys = list(dict.fromkeys(k for r in rows for n in STRUCTURES if n in r for k in r[n]))
    head = (["split", "id"] if with_ids else []) + ["structure"] + keys
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for r in rows:
        ids = [r.get("split", ""), r.get("id", "")] if with_ids else []
        if "error" in r:
            writer.writerow(ids + ["error", r["error"]])
            continue
        for name in STRUCTURES:
            writer.writerow(ids + [name] + [_fmt(r[name].get(k, math.nan)) for k in keys])
    return buf.getvalue()
