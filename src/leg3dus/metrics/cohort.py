"""Evaluating a folder of predictions against a LEG-3D-US tree: matching predictions to
subjects by id, one job per subject, and the cohort summary.

A prediction for subject ``<id>`` (split ``<split>``) is looked for, in this order, at

1. ``<PRED_DIR>/<split>/<id>/<pred_name>`` (a tree shaped like the dataset),
2. ``<PRED_DIR>/<id>/<pred_name>``,
3. ``<PRED_DIR>/<split>/<id><ext>``,
4. ``<PRED_DIR>/<id><ext>``,

with ``<pred_name>`` ``masksX1.mha`` by default and ``<ext>`` any volume format
(``.mha``, ``.nii.gz``, ...). Two candidates for one subject are an error.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..dataset import LABEL_NAME, Subject, find_subjects
from ..errors import InputFileError
from ..volume import FORMATS
from .evaluate import METRIC_KEYS, STRUCTURES, evaluate_files


@dataclass(frozen=True)
class EvalJob:
    """One subject to evaluate: its truth, the matched prediction and the options."""

    subject: Subject
    prediction: Path
    image: Path | None = None
    options: dict = field(default_factory=dict)


def find_prediction(pred_dir: Path, subject: Subject, pred_name: str = LABEL_NAME):
    """The prediction file of ``subject`` under ``pred_dir`` (see the module docstring),
    or None; raises :class:`InputFileError` when two files could be it."""
    split = subject.split
    candidates = [pred_dir / split / subject.id / pred_name if split else None,
                  pred_dir / subject.id / pred_name]
    for ext in FORMATS:
        if split:
            candidates.append(pred_dir / split / f"{subject.id}{ext}")
        candidates.append(pred_dir / f"{subject.id}{ext}")
    found = list(dict.fromkeys(c for c in candidates if c is not None and c.is_file()))
    if len(found) > 1:
        raise InputFileError(f"{pred_dir}: more than one prediction for subject "
                             f"{subject.key}: {', '.join(str(f) for f in found)}")
    return found[0] if found else None


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
    if not matched:
        raise InputFileError(
            f"{pred_dir}: no prediction matches a subject of {data} "
            f"({len(subjects)} subjects with labels); expected <split>/<id>/{pred_name}, "
            f"<id>/{pred_name} or <id>.mha (see 'leg3dus evaluate --help')")
    return matched, missing


def evaluate_job(job: EvalJob) -> dict:
    """Evaluate one subject (module level so Dask workers can run it)."""
    return evaluate_files(job.prediction, job.subject.label, job.image, **job.options)


def summarise(rows: list[dict]) -> dict:
    """Per structure and metric: mean, sd (ddof 1), median, n over subjects.

    Only finite values enter; ``n`` counts them and ``n_missing`` the subjects whose
    value was NaN, inf or absent (failed)."""
    summary: dict[str, dict] = {}
    for name in STRUCTURES:
        keys = list(dict.fromkeys(k for r in rows if name in r for k in r[name]))
        for key in keys or METRIC_KEYS:
            values = np.array([r[name][key] for r in rows if name in r], float)
            finite = values[np.isfinite(values)]
            summary.setdefault(name, {})[key] = {
                "mean": float(finite.mean()) if finite.size else math.nan,
                "sd": float(finite.std(ddof=1)) if finite.size > 1 else math.nan,
                "median": float(np.median(finite)) if finite.size else math.nan,
                "n": int(finite.size),
                "n_missing": len(rows) - int(finite.size),
            }
    return summary


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else repr(v))
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
