"""Writing a synthetic cohort in the LEG-3D-US layout.

``out/{train,val,test}/<id>/x1.mha`` (B-mode, uint8) and ``masksX1.mha`` (labels
0/100/150/200, same grid), and ``out/cohort.csv`` with every subject's split,
parameters, grid and its muscle volumes: the true ones of the continuous model and the
voxel counts of its masks.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import OptionError, OutputError
from ..core.labels import muscle_volumes_cm3
from ..core.layout import IMAGE_NAME, LABEL_NAME, SPLITS, subject_folder
from ..core.volume_io import write_volume
from .anatomy import Anatomy
from .bmode import Probe
from .params import SubjectParams, cohort_params
from .subject import make_subject

COHORT_CSV = "cohort.csv"
#: Present while a cohort is being written; a run killed midway leaves it, so the next
#: run knows the folder as its own unfinished output and writes over it.
IN_PROGRESS = ".synth-in-progress"


def check_fractions(fractions) -> tuple[float, float, float]:
    """Validate (train, val, test) fractions: three numbers >= 0 summing to 1."""
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise OptionError(f"split fractions must be three numbers, found {fractions!r}") from None
    if len(fr) != 3 or min(fr) < 0 or not math.isclose(sum(fr), 1.0, abs_tol=1e-6):
        raise OptionError(f"split fractions (train, val, test) must be three numbers >= 0 "
                          f"summing to 1, found {fractions!r}")
    return fr


def assign_splits(n: int, fractions=(0.7, 0.15, 0.15), seed: int = 0) -> list[str]:
    """Split of each of ``n`` subjects: rounded counts per fraction, seeded order.

    >>> from collections import Counter
    >>> Counter(assign_splits(44))
    Counter({'train': 30, 'val': 7, 'test': 7})
    """
    _, f_val, f_test = check_fractions(fractions)
    n_val, n_test = int(round(n * f_val)), int(round(n * f_test))
    if n_val + n_test > n:
        n_test = n - n_val
    order = np.random.default_rng([seed, 31337]).permutation(n)
    splits = ["train"] * n
    for rank, i in enumerate(order):
        if rank < n_test:
            splits[i] = "test"
        elif rank < n_test + n_val:
            splits[i] = "val"
    return splits


@dataclass(frozen=True)
class SubjectJob:
    """One subject to write (picklable, for Dask workers); ``spacing`` is the isotropic
    voxel size in mm."""

    out: Path
    split: str
    params: SubjectParams
    spacing: float
    probe: Probe
    compression_level: int = 1

    @property
    def id(self) -> str:
        return self.params.id


def write_subject(job: SubjectJob) -> dict:
    """Generate one subject and write its two volumes; returns its cohort.csv row."""
    anat = Anatomy(job.params)
    image, labels = make_subject(job.params, job.spacing, job.probe, anatomy=anat)
    folder = subject_folder(job.out, job.split, job.params.id)
    if not (Path(job.out) / COHORT_CSV).exists():
        Path(job.out).mkdir(parents=True, exist_ok=True)
        (Path(job.out) / IN_PROGRESS).touch()
    write_volume(labels, folder / LABEL_NAME, compression_level=job.compression_level)
    write_volume(image, folder / IMAGE_NAME, compression_level=job.compression_level)
    row = {"id": job.params.id, "split": job.split}
    row.update(job.params.as_row())
    row.update({"shape_z": image.shape[0], "shape_y": image.shape[1], "shape_x": image.shape[2],
                "spacing_mm": job.spacing, "frequency_mhz": job.probe.frequency_mhz})
    for name, v in anat.true_volumes_cm3().items():
        row[f"true_{name}_cm3"] = round(v, 3)
    for name, v in muscle_volumes_cm3(labels.array, labels.spacing).items():
        row[f"voxel_{name}_cm3"] = round(v, 3)
    return row


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is a file; expected a folder for the cohort")
    if (out.is_dir() and any(out.iterdir()) and not (out / COHORT_CSV).exists()
            and not (out / IN_PROGRESS).exists()):
        raise OutputError(f"{out}: folder is not empty and holds no {COHORT_CSV}; "
                          f"choose an empty or new folder (or a previous synth output)")


def cohort_jobs(out, n: int, spacing: float = 1.0, seed: int = 0,
                fractions=(0.7, 0.15, 0.15), probe: Probe | None = None,
                compression_level: int = 1) -> list[SubjectJob]:
    """The jobs :func:`write_cohort` runs, after checking the options."""
    if not (0.05 <= float(spacing) <= 10.0):
        raise OptionError(f"spacing must lie in 0.05..10 mm, found {spacing}")
    if not 0 <= int(compression_level) <= 9:
        raise OptionError(f"compression level must lie in 0..9, found {compression_level}")
    out = Path(out)
    _check_out(out)
    splits = assign_splits(n, fractions, seed)
    return [SubjectJob(out, split, p, float(spacing), probe or Probe(), int(compression_level))
            for p, split in zip(cohort_params(n, seed), splits, strict=True)]


def write_cohort_csv(out, rows: list[dict]) -> Path:
    """Write ``out/cohort.csv`` (atomically) from rows, sorted by split then id."""
    order = {s: i for i, s in enumerate(SPLITS)}
    rows = sorted(rows, key=lambda r: (order.get(r["split"], 9), r["id"]))
    path = Path(out) / COHORT_CSV
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (Path(out) / IN_PROGRESS).unlink(missing_ok=True)
    return path


def read_cohort_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a cohort.csv as dicts of strings."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def write_cohort(out, n: int, spacing: float = 1.0, seed: int = 0,
                 fractions=(0.7, 0.15, 0.15), probe: Probe | None = None,
                 compression_level: int = 1) -> list[dict]:
    """Write ``n`` synthetic subjects in the LEG-3D-US layout under ``out``, on grids of
    isotropic ``spacing`` mm (0.277 is the dataset's full size).

    Returns the cohort.csv rows (one per subject). The same ``seed`` gives byte-identical
    files; subject ``i`` is the same whatever ``n``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "synthetic"
    >>> rows = write_cohort(out, 2, spacing=4.0)
    >>> rows[0]["id"], rows[0]["split"], (out / "train" / "P001" / "x1.mha").is_file()
    ('P001', 'train', True)
    """
    jobs = cohort_jobs(out, n, spacing, seed, fractions, probe, compression_level)
    rows = [write_subject(job) for job in jobs]
    write_cohort_csv(out, rows)
    return rows
