"""A synthetic cohort with everything it can carry: volumes and labels, tracked sweeps,
border volumes and second acquisitions, written subject by subject (``leg3dus synth``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.errors import OptionError
from .bmode import Probe
from .cohort import cohort_jobs, write_cohort_csv, write_subject


@dataclass
class Synthesis:
    """What :func:`synthesise` wrote: the cohort.csv rows of the subjects written, and
    ``failed``: ``(subject id, error)`` for each subject or part that failed."""

    rows: list[dict]
    failed: list[tuple[str, str]] = field(default_factory=list)


def synthesise(out: str | os.PathLike, n: int, *, spacing_mm: float = 1.0, seed: int = 0,
               fractions=(0.7, 0.15, 0.15), probe: Probe | None = None,
               compression_level: int = 1, sweeps: bool = False, borders: bool = False,
               second: bool = False, second_count: int | None = None,
               sparse_every_mm: float | None = None,
               runner: Callable | None = None) -> Synthesis:
    """Write ``n`` phantom subjects under ``out`` in the LEG-3D-US layout, and with
    ``sweeps`` their tracked sweeps, with ``borders`` their border volumes, with ``second``
    a second acquisition of some of them (``second_count``, default as the dataset: 15 of
    44), with ``sparse_every_mm`` simulated sparse annotations (``sparseX1.mha`` and
    ``sparseX1_slices.txt``, see :func:`.annotations.write_subject_sparse`).
    ``cohort.csv`` lists the subjects written.

    ``runner(fn, jobs, description)`` runs each part's per-subject jobs (default
    in-process, :func:`leg3dus.core.parallel.map_subjects`). A subject that fails is
    listed in ``failed`` and its later parts are skipped; the others are written.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "synthetic"
    >>> done = synthesise(out, 2, spacing_mm=4.0)
    >>> [r["id"] for r in done.rows], done.failed
    (['P001', 'P002'], [])
    """
    if runner is None:
        from ..core.parallel import map_subjects

        def runner(fn, jobs, _description=""):
            return map_subjects(fn, jobs)

    jobs = cohort_jobs(out, n, spacing_mm, seed, fractions, probe, compression_level)
    if sparse_every_mm is not None and not sparse_every_mm > 0:
        raise OptionError(f"--sparse-every-mm must be > 0, found {sparse_every_mm}")
    if second:  # options are checked before anything is written
        from .second import second_acquisition_subjects, write_subject_second

        chosen = {jobs[i].id for i in second_acquisition_subjects(len(jobs), second_count)}
    results = runner(write_subject, jobs, "synthesising")
    failed = [(r.item.id, r.error) for r in results if not r.ok]
    done = [j for j, r in zip(jobs, results, strict=True) if r.ok]
    parts = []
    if sweeps:
        from .sweeps import write_subject_sweeps

        parts.append((write_subject_sweeps, done, "sweeping"))
    if borders:
        from .borders import write_subject_borders

        parts.append((write_subject_borders, done, "borders"))
    if sparse_every_mm is not None:
        import functools

        from .annotations import write_subject_sparse

        parts.append((functools.partial(write_subject_sparse, every_mm=sparse_every_mm),
                      done, "sparse annotations"))
    if second:
        parts.append((write_subject_second, [j for j in done if j.id in chosen],
                      "second acquisitions"))
    for fn, part_jobs, description in parts:
        failed += [(r.item.id, r.error) for r in runner(fn, part_jobs, description)
                   if not r.ok]
    rows = [r.value for r in results if r.ok]
    if rows:
        write_cohort_csv(out, rows)
    return Synthesis(rows, failed)
