"""Describing the subjects of a dataset: grids, voxel types, file sizes, label values and
muscle volumes, and a cohort summary."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.errors import Leg3dusError
from ..core.layout import IMAGE_NAME, LABEL_NAME, Subject, list_subjects, single_volume_roles
from ..core.volume_io import read_header, read_volume


def _file_mb(path: Path | None) -> float:
    if path is None:
        return 0.0
    if path.is_dir():  # a Zarr volume
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    total = path.stat().st_size
    if path.suffix.lower() == ".mhd":  # the voxels are in a separate data file
        for sibling in path.parent.glob(path.stem + ".*raw"):
            total += sibling.stat().st_size
    return total / 1e6


def describe_subject(subject: Subject, label_values=None) -> dict:
    """Grid, voxel type, file size, label values with counts, and muscle volumes (cm3).

    Errors reading a file do not raise: they are returned under ``"error"`` so that a
    cohort listing goes on past one broken subject. The muscle volumes follow the label
    convention of ``label_values`` or the file's label table
    (:func:`leg3dus.core.label_values.resolve`), given under ``"label_convention"``; values
    that do not fit it are described under ``"label_warning"``.
    """
    from ..core.label_values import check_values, resolve

    row: dict = {"split": subject.split, "id": subject.id,
                 "image": str(subject.image) if subject.image else None,
                 "label": str(subject.label) if subject.label else None,
                 "file_mb": _file_mb(subject.image) + _file_mb(subject.label)}
    try:
        source = subject.image or subject.label
        if source is not None:
            header = read_header(source)
            row.update(shape=list(header.shape), spacing=list(header.spacing),
                       dtype=str(header.dtype))
        if subject.label is not None:
            labels = read_volume(subject.label)
            counts = lab.value_counts(labels.array)
            row["label_values"] = list(counts)
            row["label_counts"] = {str(k): v for k, v in counts.items()}
            convention = resolve(subject.label, label_values)
            voxel_mm3 = float(np.prod(labels.spacing))
            row["volumes_cm3"] = {m.name: counts.get(convention.muscles.get(m.name), 0)
                                  * voxel_mm3 / 1000.0 for m in lab.MUSCLES}
            row["label_dtype"] = str(labels.dtype)
            row["label_convention"] = convention.as_json()
            try:
                check_values(counts, convention, str(subject.label))
            except Leg3dusError as exc:
                row["label_warning"] = str(exc)
    except Leg3dusError as exc:
        row["error"] = str(exc)
    return row


def summarise(rows: list[dict]) -> dict:
    """Cohort summary: counts per split, total size, mean +- sd of each muscle volume."""
    splits: dict[str, int] = {}
    for r in rows:
        splits[r["split"] or "-"] = splits.get(r["split"] or "-", 0) + 1
    summary: dict = {"subjects": len(rows), "splits": splits,
                     "file_gb": sum(r["file_mb"] for r in rows) / 1000.0,
                     "errors": sum(1 for r in rows if "error" in r)}
    for m in lab.MUSCLES:
        vals = np.array([r["volumes_cm3"][m.name] for r in rows if r.get("volumes_cm3")])
        if vals.size:
            summary[f"{m.name}_cm3_mean"] = float(vals.mean())
            summary[f"{m.name}_cm3_sd"] = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
    return summary


def summary_line(summary: dict) -> str:
    """A :func:`summarise` result in two lines of at most 80 characters: the muscle
    volumes (mean +- sd), then the subject counts, size and unreadable files."""
    splits = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    parts = [f"{summary['subjects']} subjects ({splits or 'none'})",
             f"{summary['file_gb']:.2f} GB"]
    if summary["errors"]:
        parts.append(f"{summary['errors']} unreadable")
    volumes = [f"{m.name} {summary[f'{m.name}_cm3_mean']:.1f} +- "
               f"{summary[f'{m.name}_cm3_sd']:.1f}" for m in lab.MUSCLES
               if f"{m.name}_cm3_mean" in summary]
    head = f"mean +- sd cm3: {'; '.join(volumes)}\n" if volumes else ""
    return head + "; ".join(parts)


def describe_paths(data: str | os.PathLike, *, image_name: str = IMAGE_NAME,
                   label_name: str = LABEL_NAME, label_values=None, flat: bool = False,
                   runner: Callable | None = None) -> dict:
    """:func:`describe_subject` for every subject of ``data`` (a tree, a subject folder or
    one volume, read as labels when its name says so) and the cohort summary.

    ``runner(fn, subjects)`` runs the per-subject jobs (default in-process,
    :func:`leg3dus.core.parallel.map_subjects`). Returns ``{"subjects": rows, "summary":
    ..., "conventions": [the label conventions used, described], "failed": [(subject,
    error), ...]}``; a subject that could not be read is a row with ``"error"``.

    >>> describe_paths("LEG-3D-US")["summary"]["subjects"]  # doctest: +SKIP
    44
    """
    from ..core.label_values import LabelConvention, from_option

    convention = from_option(label_values)  # a malformed option fails before any work
    subjects = single_volume_roles(list_subjects(data, image_name, label_name, flat), data,
                                   label_name)
    if runner is None:
        from ..core.parallel import map_subjects as runner
    results = runner(functools.partial(describe_subject, label_values=convention), subjects)
    rows = [r.value if r.ok else {"split": s.split, "id": s.id, "file_mb": 0.0,
                                  "error": r.error}
            for s, r in zip(subjects, results, strict=True)]
    conventions = list(dict.fromkeys(LabelConvention.from_json(r["label_convention"]).describe()
                                     for r in rows if "label_convention" in r))
    failed = [(f"{r['split']}/{r['id']}" if r["split"] else r["id"], r["error"])
              for r in rows if "error" in r]
    return {"subjects": rows, "summary": summarise(rows), "conventions": conventions,
            "failed": failed}
