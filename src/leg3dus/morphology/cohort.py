"""Morphology over a cohort: one row per subject and muscle, profiles, a participants
table (sex, side) and a summary split by those columns."""

from __future__ import annotations

import csv
import math
import os
import warnings
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.atomic import atomic_path
from ..core.errors import InputFileError, OptionError
from ..core.label_values import read_labels
from ..core.layout import Subject
from ..core.tables import csv_cell
from ..core.volume_io import read_volume
from .axis import ObliqueAxisWarning, leg_axis
from .muscle import LEG_EXTENTS, Morphology, measure

#: Per-subject-and-muscle measures summarised over a cohort.
SUMMARY_METRICS = ("volume_cm3", "length_mm", "max_csa_cm2", "max_csa_position_pct",
                   "path_length_mm")
#: Columns of a participants table that may name the subject, in order of preference.
ID_COLUMNS = ("id", "subject", "subject_id", "participant_id", "participant")
GROUP_COLUMNS = ("sex", "side")

_SEX = {"f": "F", "female": "F", "w": "F", "woman": "F", "m": "M", "male": "M", "man": "M"}
_SIDE = {"l": "left", "left": "left", "r": "right", "right": "right"}


def measure_subject(subject: Subject, leg_extent: str = "labels", label_values=None,
                    csa_at=(), with_image: bool = False, allow_stray: bool = True,
                    axis="auto") -> dict:
    """Read a subject's labels and measure them; a picklable per-subject job.

    The labels are read with :func:`leg3dus.core.label_values.read_labels`: ``label_values``
    (text of ``--label-values`` or a convention) or the file's label table maps them to
    the scheme, and a volume whose values are all unknown raises :class:`LabelError`
    (as do stray values unless ``allow_stray``). ``csa_at`` lists positions (% of the
    leg) for the CSA columns; ``with_image`` reads the subject's ultrasound to find
    the scanned slices (the field of view along the leg). ``axis`` is the leg axis
    (``"auto"``: from the labels' direction matrix; see :mod:`leg3dus.morphology.axis`).

    Returns ``{"split", "id", "label", "shape", "spacing", "leg_length_mm", "stray",
    "label_values", "leg_axis", "axis_oblique_deg", "morphology"}`` with the
    :class:`~leg3dus.morphology.Morphology` under ``"morphology"`` and the convention
    used as a dict under ``"label_values"``. An oblique leg axis issues no warning here:
    the angle is in the result (the caller says so once for a cohort).
    """
    if subject.label is None:
        raise InputFileError(f"{subject.key}: no label file, expected one to measure muscles")
    labels, convention = read_labels(subject.label, label_values, allow_stray=allow_stray)
    scanned = None
    if with_image:
        if subject.image is None:
            raise InputFileError(f"{subject.key}: no image, expected one to find the scanned "
                                 "field of view (drop --with-image or add the file)")
        along, _ = leg_axis(labels.direction, axis)
        scanned = scanned_slices(read_volume(subject.image).array, axis=along)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ObliqueAxisWarning)
        morph = measure(labels, leg_extent=leg_extent, csa_at=csa_at, scanned=scanned,
                        axis=axis)
    return {"split": subject.split, "id": subject.id, "label": str(subject.label),
            "shape": list(labels.shape), "spacing": list(labels.spacing),
            "leg_length_mm": morph.leg_length_mm, "stray": morph.stray,
            "label_values": convention.as_json(), "leg_axis": morph.leg_axis,
            "axis_oblique_deg": morph.axis_oblique_deg, "morphology": morph}


def scanned_slices(image: np.ndarray, chunk: int = 64, axis: int = 0) -> np.ndarray:
    """Per slice along array ``axis``: True where the image holds any non-zero voxel.

    >>> a = np.zeros((4, 2, 3), np.uint8); a[1:3, 0, 0] = 9
    >>> scanned_slices(a).tolist(), scanned_slices(a, axis=2).tolist()
    ([False, True, True, False], [True, False, False])
    """
    out = np.zeros(image.shape[axis], bool)
    others = tuple(a for a in range(3) if a != axis)
    for start in range(0, image.shape[0], chunk):
        block = image[start:start + chunk]
        if axis == 0:
            out[start:start + len(block)] = block.reshape(len(block), -1).any(axis=1)
        else:
            out |= block.any(axis=others)
    return out


def parse_csa_at(text: str | None) -> list[float]:
    """Positions of ``--csa-at`` (``"30,50,70"``, % of the leg) as floats in 0..100.

    >>> parse_csa_at("30, 50,70")
    [30.0, 50.0, 70.0]
    """
    if not text:
        return []
    try:
        pcts = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise OptionError(f"--csa-at: expected positions in % of the leg such as 30,50,70, "
                          f"found {text!r}") from None
    bad = [p for p in pcts if not 0.0 <= p <= 100.0]
    if bad or not pcts:
        raise OptionError(f"--csa-at: positions must lie in 0..100 % of the leg, found {text!r}")
    return list(dict.fromkeys(pcts))


def read_participants(path: str | os.PathLike) -> dict[str, dict]:
    """A participants table (CSV, or TSV when named ``.tsv``) keyed by subject id.

    The id column is the first of :data:`ID_COLUMNS` found. ``sex`` is normalised to
    ``F``/``M`` and ``side`` to ``left``/``right`` where recognised (``f``, ``female``,
    ``L``, ...); other values are kept as written. Every other column is kept too.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such participants table")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: expected a UTF-8 CSV table, found unreadable text "
                             f"({exc})") from None
    id_col = next((c for c in ID_COLUMNS if c in header), None)
    if id_col is None:
        raise InputFileError(f"{path}: expected a subject id column (one of "
                             f"{', '.join(ID_COLUMNS)}), found {', '.join(header) or 'none'}")
    table: dict[str, dict] = {}
    for raw in rows:
        row = {k.strip().lower(): (v or "").strip() if isinstance(v, str) else ""
               for k, v in raw.items() if k}
        if "sex" in row:
            row["sex"] = _SEX.get(row["sex"].lower(), row["sex"])
        if "side" in row:
            row["side"] = _SIDE.get(row["side"].lower(), row["side"])
        table[row.get(id_col, "")] = row
    return table


def find_participants(root: str | os.PathLike) -> Path | None:
    """A participants table beside a dataset: ``cohort.csv`` (the phantom's) or
    ``participants.tsv`` / ``participants.csv``; None when there is none."""
    root = Path(root)
    if not root.is_dir():
        return None
    for name in ("participants.tsv", "participants.csv", "cohort.csv"):
        if (root / name).is_file():
            return root / name
    return None


def cohort_rows(results: list[dict], participants: dict[str, dict] | None = None) -> list[dict]:
    """One row per subject and muscle: split, id, sex, side, then the scalar measures."""
    participants = participants or {}
    rows = []
    for r in results:
        info = participants.get(r["id"], {})
        morph: Morphology = r["morphology"]
        for m in morph.muscles.values():
            rows.append({"split": r["split"], "id": r["id"],
                         "sex": info.get("sex", ""), "side": info.get("side", ""),
                         **m.row(), "leg_length_mm": morph.leg_length_mm,
                         "leg_axis": morph.leg_axis,
                         "axis_oblique_deg": morph.axis_oblique_deg})
    return rows


def profile_rows(results: list[dict]) -> list[dict]:
    """Cross-section profiles, one row per subject, muscle and slice that holds it."""
    rows = []
    for r in results:
        morph: Morphology = r["morphology"]
        for m in morph.muscles.values():
            if not m.present:
                continue
            ks = np.arange(m.first_slice, m.last_slice + 1)
            pct = morph.position_pct(ks)
            for k, p in zip(ks, pct, strict=True):
                z, y, x = m.centroids_mm[k]
                rows.append({"split": r["split"], "id": r["id"], "muscle": m.name,
                             "slice": int(k), "position_pct": float(p),
                             "csa_cm2": float(m.csa_cm2[k]), "centroid_z_mm": float(z),
                             "centroid_y_mm": float(y), "centroid_x_mm": float(x)})
    return rows


def _stats(values: list[float]) -> dict:
    a = np.asarray([v for v in values if v is not None and not math.isnan(v)], float)
    if a.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "median": float("nan"),
                "min": float("nan"), "max": float("nan")}
    return {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if a.size > 1 else 0.0,
            "median": float(np.median(a)), "min": float(a.min()), "max": float(a.max())}


def summarise(rows: list[dict], by: tuple[str, ...] = GROUP_COLUMNS,
              n_failed: int = 0) -> list[dict]:
    """Mean, sd, median, min, max of each measure per muscle: over all subjects, then
    per value of each column in ``by`` that the rows fill (e.g. sex F / M, side left /
    right). CSA columns at chosen positions (``csa_<p>pct_cm2``) are summarised too when
    the rows hold them.

    Nothing is left out silently: ``n`` counts the subjects measured that have the
    muscle, ``n_absent`` those whose labels lack it (left out of the statistics), and
    ``n_failed`` the subjects that could not be measured at all (given by the caller; in
    the ``all`` group only, since a failed subject's group is not known).

    >>> rows = [{"muscle": "SOL", "voxels": 10, "volume_cm3": 2.0},
    ...         {"muscle": "SOL", "voxels": 0, "volume_cm3": 0.0}]
    >>> sol = next(e for e in summarise(rows, by=(), n_failed=1) if e["muscle"] == "SOL")
    >>> sol["n"], sol["n_absent"], sol["n_failed"], sol["volume_cm3_mean"]
    (1, 1, 1, 2.0)
    """
    metrics = SUMMARY_METRICS + tuple(dict.fromkeys(
        k for r in rows for k in r if k.startswith("csa_") and k.endswith("pct_cm2")))
    groups: list[tuple[str, str, list[dict]]] = [("all", "", rows)]
    for col in by:
        values = sorted({r.get(col, "") for r in rows} - {""})
        groups.extend((col, v, [r for r in rows if r.get(col) == v]) for v in values)
    out = []
    for group, value, members in groups:
        for m in lab.MUSCLES:
            mine = [r for r in members if r["muscle"] == m.name]
            present = [r for r in mine if r["voxels"] > 0]
            entry = {"group": group, "value": value, "muscle": m.name, "n": len(present),
                     "n_absent": len(mine) - len(present),
                     "n_failed": n_failed if group == "all" else 0}
            for metric in metrics:
                for stat, v in _stats([r.get(metric) for r in present]).items():
                    entry[f"{metric}_{stat}"] = v
            out.append(entry)
    return out


def write_csv(rows: list[dict], path: str | os.PathLike, columns: list[str] | None = None) -> Path:
    """Write ``rows`` as CSV (atomically); floats to 6 significant digits
    (:func:`leg3dus.core.tables.csv_cell`), NaN/None empty."""
    path = Path(path)
    if columns is None:
        columns = list(rows[0]) if rows else []
        for r in rows:
            columns.extend(k for k in r if k not in columns)
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([csv_cell(r.get(c)) for c in columns])
    return path


def group_label(entry: dict) -> str:
    """``"all"``, ``"sex F"``, ``"side left"`` for a :func:`summarise` entry."""
    return "all" if entry["group"] == "all" else f"{entry['group']} {entry['value']}"


def check_leg_extent(value: str) -> str:
    """``value`` if it names a leg extent, else :class:`OptionError` (checked before a batch)."""
    if value not in LEG_EXTENTS:
        raise OptionError(f"--leg-extent must be one of {', '.join(LEG_EXTENTS)}, found {value!r}")
    return value
