"""Checking a LEG-3D-US tree: pairs, grids, label values, muscles, spacing and splits.

Each subject is checked on its own (:func:`check_subject`, a per-subject job that can
run on Dask); checks across subjects (an id in two splits) come after
(:func:`cohort_findings`). A finding is a dict ``{"subject", "check", "file",
"message"}``; a file that cannot be read is a finding too, and the other files and
subjects are still checked.

Checks (the ``check`` field):

``missing-image`` / ``missing-label``
    a subject has one file of the pair but not the other.
``unreadable``
    a file is missing voxel data (truncated), damaged, not 3D or of an unknown type.
``geometry``
    image and labels differ in shape, spacing (relative ``rtol``), origin (``atol_mm``)
    or direction (``rtol`` element-wise).
``stray-values``
    label values outside {0, 100, 150, 200}, with their voxel counts (outside the label
    convention of ``label_values`` or the file's label table when it has one, see
    :mod:`leg3dus.core.label_values`; the other checks then see the values mapped to the
    scheme, and ``--fix-stray`` writes the labels in the scheme).
``missing-muscle``
    SOL, GM or GL has no voxel.
``anisotropic``
    the largest spacing exceeds the smallest by more than ``iso_tol`` (relative).
``labels-outside-scan``
    more than ``max_outside`` of a muscle's voxels lie where the image has no data (the
    voxel and its 26 neighbours are 0), e.g. labels flipped or shifted against the image.
``duplicate-id``
    one subject id appears in two splits (a leak between training and test).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.ndimage as ndi

from ..core import labels as lab
from ..core.atomic import check_not_input, check_outputs
from ..core.errors import Leg3dusError, OptionError, OutputError
from ..core.label_values import resolve
from ..core.layout import (
    IMAGE_NAME,
    LABEL_NAME,
    Subject,
    list_subjects,
    single_volume_roles,
    subject_files,
    subject_folder,
)
from ..core.volume_io import copy_volume, read_header, read_volume, write_volume

CHECKS = ("missing-image", "missing-label", "unreadable", "geometry", "stray-values",
          "missing-muscle", "anisotropic", "labels-outside-scan", "duplicate-id")
FIX_MODES = ("background", "nearest")
_SLAB = 64  # slices per slab of the labels-outside-scan check


@dataclass(frozen=True)
class CheckOptions:
    """Tolerances of :func:`check_subject` and where the cleaned dataset goes.

    ``fix_stray`` (``"background"`` or ``"nearest"``, see :func:`leg3dus.core.labels.clean_stray`)
    with ``out`` writes a complete copy of the dataset to ``out``, each file at the same
    place relative to ``root`` as the input: every image as it is, every label file
    cleaned of its stray values (copied as it is when it has none).
    ``max_outside`` is the largest fraction of a muscle's voxels allowed where the image
    has no data.
    """

    rtol: float = 1e-4
    atol_mm: float = 1e-3
    iso_tol: float = 0.05
    max_outside: float = 0.05
    fix_stray: str | None = None
    out: Path | None = None
    root: Path | None = None
    label_values: str | None = None

    def __post_init__(self) -> None:
        if self.fix_stray is not None and self.fix_stray not in FIX_MODES:
            raise OptionError(f"--fix-stray must be one of {', '.join(FIX_MODES)}, "
                              f"found {self.fix_stray!r}")
        if (self.fix_stray is None) != (self.out is None):
            raise OptionError("--fix-stray and --out go together: give both or neither")
        for name in ("rtol", "atol_mm", "iso_tol"):
            if getattr(self, name) < 0:
                raise OptionError(f"{name} must be >= 0, found {getattr(self, name)}")
        if not 0 <= self.max_outside <= 1:
            raise OptionError(f"--max-outside must lie in 0..1, found {self.max_outside}")
        if self.out is not None and self.root is not None:
            out, root = Path(self.out).resolve(), Path(self.root).resolve()
            if out == root or (root.is_file() and out == root.parent):
                raise OptionError(f"{self.out}: --out must not be the input dataset folder")


def _finding(subject: Subject, check: str, message: str, file: Path | None = None) -> dict:
    return {"subject": subject.key, "check": check,
            "file": str(file) if file is not None else None, "message": message}


def fixed_path(subject: Subject, options: CheckOptions, role: str = "label") -> Path:
    """Where the copy of ``subject``'s label file (or image, ``role="image"``) goes under
    ``options.out``."""
    source = Path(subject.label if role == "label" else subject.image)
    if options.root is not None:
        try:
            return Path(options.out) / source.resolve().relative_to(
                Path(options.root).resolve())
        except ValueError:
            pass
    return subject_folder(options.out, subject.split, subject.id) / source.name


def fixed_paths(subject: Subject, options: CheckOptions) -> list[Path]:
    """Every file ``--fix-stray --out`` writes for ``subject`` (its image and labels)."""
    return [fixed_path(subject, options, role) for role in ("image", "label")
            if getattr(subject, role) is not None]


def outside_scan_fractions(labels: np.ndarray, image: np.ndarray) -> dict[str, float]:
    """Per muscle, the fraction of its voxels where ``image`` has no data.

    A voxel has no data when it and its 26 neighbours are 0 in ``image``: outside the
    swept field of view of a compounded volume; a lone 0 in the speckle does not count.
    Both arrays share one grid (z, y, x); muscles without a voxel are left out.

    Examples
    --------
    >>> image = np.zeros((4, 6, 6), np.uint8)
    >>> image[:, :3] = 90                   # scanned: the first three rows of depth
    >>> labels = np.zeros_like(image)
    >>> labels[:, 1:5, 2:4] = 100           # rows 3-4 lie below it, row 3 next to it
    >>> {k: round(v, 2) for k, v in outside_scan_fractions(labels, image).items()}
    {'SOL': 0.25}
    """
    extent = [np.flatnonzero(labels.any(axis=other)) for other in ((1, 2), (0, 2), (0, 1))]
    if not extent[0].size:
        return {}
    (z0, z1), (y0, y1), (x0, x1) = ((int(ix[0]), int(ix[-1]) + 1) for ix in extent)
    # The neighbourhood reaches one voxel past the box: filter with that margin, in slabs
    # of slices so that no full-size temporary is made.
    gy, gx = slice(max(y0 - 1, 0), y1 + 1), slice(max(x0 - 1, 0), x1 + 1)
    iy, ix = slice(y0 - gy.start, y1 - gy.start), slice(x0 - gx.start, x1 - gx.start)
    counts = {m.name: [0, 0] for m in lab.MUSCLES}
    for s0 in range(z0, z1, _SLAB):
        s1 = min(s0 + _SLAB, z1)
        g0 = max(s0 - 1, 0)
        slab = image[g0 : s1 + 1, gy, gx]
        empty = ndi.maximum_filter(slab, size=3, mode="nearest")[s0 - g0 : s1 - g0, iy, ix] == 0
        crop = labels[s0:s1, y0:y1, x0:x1]
        for m in lab.MUSCLES:
            sel = crop == m.value
            counts[m.name][0] += int(np.count_nonzero(sel))
            counts[m.name][1] += int(np.count_nonzero(empty & sel))
    out = {name: outside / n for name, (n, outside) in counts.items() if n}
    return out


def check_subject(subject: Subject, options: CheckOptions = CheckOptions()) -> dict:
    """Check one subject; returns ``{"subject", "findings", "label_counts", "fixed"}``.

    Only the label voxels are read: images are checked through their header and the
    size of their voxel data, which finds truncated files without decompressing.

    Examples
    --------
    >>> from leg3dus.dataset import find_subjects
    >>> row = check_subject(find_subjects("LEG-3D-US")[0])  # doctest: +SKIP
    >>> [f["check"] for f in row["findings"]]               # doctest: +SKIP
    ['stray-values']
    """
    findings: list[dict] = []
    row: dict = {"subject": subject.key, "split": subject.split, "id": subject.id,
                 "findings": findings, "label_counts": None, "fixed": None}
    if subject.image is None:
        findings.append(_finding(subject, "missing-image", "label file without an image "
                                 f"(expected the image beside {Path(subject.label).name})",
                                 subject.label))
    if subject.label is None:
        findings.append(_finding(subject, "missing-label", "image without a label file "
                                 f"(expected labels beside {Path(subject.image).name})",
                                 subject.image))
    headers = {}
    for role, path in (("image", subject.image), ("label", subject.label)):
        if path is None:
            continue
        try:
            headers[role] = read_header(path)
        except Leg3dusError as exc:
            findings.append(_finding(subject, "unreadable", str(exc), path))
    if "image" in headers and "label" in headers:
        problems = headers["label"].geometry.matches(headers["image"].geometry,
                                                     rtol=options.rtol,
                                                     atol_mm=options.atol_mm)
        if problems:
            findings.append(_finding(subject, "geometry", "labels vs image: "
                                     + "; ".join(problems), subject.label))
    header = headers.get("image") or headers.get("label")
    if header is not None:
        sp = header.spacing
        if max(sp) > min(sp) * (1.0 + options.iso_tol):
            findings.append(_finding(subject, "anisotropic", "spacing (z, y, x) "
                                     f"{', '.join(f'{s:.4g}' for s in sp)} mm is not "
                                     f"isotropic within {options.iso_tol:.0%}", header.path))
    if "label" in headers:
        same_grid = ("image" in headers
                     and headers["image"].shape == headers["label"].shape)
        _check_labels(subject, options, row, same_grid)
    if options.fix_stray and subject.image is not None and "image" in headers:
        target = fixed_path(subject, options, "image")
        check_not_input(target, [subject.image, subject.label])
        copy_volume(subject.image, target)
    return row


def _check_labels(subject: Subject, options: CheckOptions, row: dict, same_grid: bool) -> None:
    findings = row["findings"]
    try:
        labels = read_volume(subject.label)
    except Leg3dusError as exc:
        findings.append(_finding(subject, "unreadable", str(exc), subject.label))
        return
    counts = lab.value_counts(labels.array)
    row["label_counts"] = {str(k): v for k, v in counts.items()}
    try:
        convention = resolve(subject.label, options.label_values)
    except Leg3dusError as exc:
        findings.append(_finding(subject, "unreadable", str(exc), subject.label))
        return
    row["label_convention"] = convention.as_json()
    stray = {v: c for v, c in counts.items() if v not in convention.known}
    if stray:
        where = ("the scheme {0, 100, 150, 200}" if convention.is_scheme
                 else convention.describe())
        findings.append(_finding(subject, "stray-values", f"values outside {where}: "
                                 f"{lab.describe_counts(stray)}", subject.label))
    mapped = not convention.is_scheme
    if mapped:
        # Known values to the scheme, unknown ones to 255 (never a scheme value): the
        # other checks and --fix-stray then work on the scheme.
        table = np.full(256, 255, np.uint8)
        table[0] = 0
        for value in convention.background:
            table[value] = 0
        for name, value in convention.muscles.items():
            table[value] = lab.muscle(name).value
        array = labels.array
        if array.dtype != np.uint8:
            array = np.where((array >= 0) & (array <= 255), array, 255).astype(np.uint8)
        labels = labels.with_array(lab.apply_lut_u8(array, table))
        counts = lab.value_counts(labels.array)
    missing = [m.name for m in lab.MUSCLES if counts.get(m.value, 0) == 0]
    if missing:
        findings.append(_finding(subject, "missing-muscle", "no voxel labelled "
                                 + ", ".join(f"{name} ({lab.BY_NAME[name].value})"
                                             for name in missing), subject.label))
    if same_grid:
        _check_content(subject, options, labels.array, findings)
    if options.fix_stray:
        target = fixed_path(subject, options)
        check_not_input(target, [subject.image, subject.label])
        if stray:
            cleaned = labels.with_array(lab.clean_stray(labels.array, options.fix_stray))
            del labels  # keep one full volume in memory, not two
            write_volume(cleaned, target)
            row["fixed"] = str(target)
        elif mapped:
            write_volume(labels, target)
        else:
            copy_volume(subject.label, target)


def _check_content(subject: Subject, options: CheckOptions, labels: np.ndarray,
                   findings: list[dict]) -> None:
    try:
        image = read_volume(subject.image).array
    except Leg3dusError:
        return  # its header already failed or will be reported as unreadable
    fractions = outside_scan_fractions(labels, image)
    if any(f > options.max_outside for f in fractions.values()):
        findings.append(_finding(
            subject, "labels-outside-scan", "labels where the image has no data: "
            + ", ".join(f"{name} {f:.1%}" for name, f in fractions.items())
            + f" of the muscle's voxels (allowed {options.max_outside:.0%})", subject.label))


def cohort_findings(subjects: list[Subject]) -> list[dict]:
    """Findings across subjects: an id present in more than one split."""
    splits: dict[str, list[str]] = {}
    for s in subjects:
        splits.setdefault(s.id, []).append(s.split or "-")
    findings = []
    for sid, where in sorted(splits.items()):
        if len(set(where)) > 1:
            findings.append({"subject": sid, "check": "duplicate-id", "file": None,
                             "message": f"subject id {sid!r} appears in splits "
                                        + ", ".join(sorted(set(where)))})
    return findings


def assemble_report(subjects: list[Subject], results: list) -> dict:
    """The validation report from per-subject :class:`leg3dus.core.parallel.JobResult` s."""
    rows = []
    for subject, result in zip(subjects, results, strict=True):
        if result.ok:
            rows.append(result.value)
        else:
            rows.append({"subject": subject.key, "split": subject.split, "id": subject.id,
                         "label_counts": None, "fixed": None,
                         "findings": [_finding(subject, "unreadable", result.error)]})
    findings = [f for r in rows for f in r["findings"]] + cohort_findings(subjects)
    by_check = {c: sum(1 for f in findings if f["check"] == c) for c in CHECKS}
    summary = {"subjects": len(subjects), "findings": len(findings),
               "subjects_with_findings": len({f["subject"] for f in findings}),
               "by_check": {c: n for c, n in by_check.items() if n},
               "fixed": sum(1 for r in rows if r["fixed"]), "clean": not findings}
    return {"subjects": rows, "findings": findings, "summary": summary}


def validate_dataset(subjects: list[Subject], options: CheckOptions = CheckOptions(),
                     scheduler: str | None = None, workers: int | None = None,
                     runner: Callable | None = None) -> dict:
    """Check every subject (in-process or on Dask) and across subjects; the full report.
    ``runner(fn, subjects)`` replaces the default
    :func:`leg3dus.core.parallel.map_subjects` with ``scheduler`` and ``workers``.

    Examples
    --------
    >>> from leg3dus.dataset import find_subjects
    >>> report = validate_dataset(find_subjects("LEG-3D-US"))  # doctest: +SKIP
    >>> report["summary"]["clean"]                              # doctest: +SKIP
    True
    """
    if runner is None:
        from ..core.parallel import map_subjects

        def runner(fn, items):
            return map_subjects(fn, items, scheduler, workers)

    results = runner(functools.partial(check_subject, options=options), subjects)
    return assemble_report(subjects, results)


def validate_paths(data: str | os.PathLike, options: CheckOptions = CheckOptions(), *,
                   image_name: str = IMAGE_NAME, label_name: str = LABEL_NAME,
                   flat: bool = False, runner: Callable | None = None) -> dict:
    """Validate ``data`` (a tree, a subject folder or one volume) with ``options``: the
    report of :func:`validate_dataset`. With ``options.out`` (``--fix-stray``), the
    outputs are checked before any work: the folder is not a file and no copy would land
    on a file of the dataset.

    ``runner(fn, subjects)`` runs the per-subject checks (default in-process,
    :func:`leg3dus.core.parallel.map_subjects`).

    >>> validate_paths("LEG-3D-US")["summary"]["clean"]  # doctest: +SKIP
    True
    """
    from ..core.label_values import from_option

    from_option(options.label_values)  # a malformed option fails before any work
    subjects = single_volume_roles(list_subjects(data, image_name, label_name, flat), data,
                                   label_name)
    if options.out is not None:
        out = Path(options.out)
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: expected an output folder for the cleaned dataset, "
                              "found a file")
        targets = [t for s in subjects for t in fixed_paths(s, options)]
        check_outputs(targets, [data, *subject_files(subjects)])
    return validate_dataset(subjects, options, runner=runner)
