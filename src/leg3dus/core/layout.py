"""Finding subjects in a LEG-3D-US tree.

The released zips unpack to ``<root>/<split>/<subject>/x1.mha`` (ultrasound) and
``masksX1.mha`` (labels) with split in {train, val, test}; ``validation`` is read as
``val``. Other file names are given as patterns; a flat folder of files is read with
patterns that hold ``{id}``, such as ``{id}_image.nii.gz``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InputFileError, OptionError
from .volume_io import volume_format

SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "validation": "val",
                 "test": "test", "testing": "test"}
IMAGE_NAME = "x1.mha"
LABEL_NAME = "masksX1.mha"
#: A subject's sparse annotations (labels on some slices along axis 0) and the list of
#: its annotated slices (one index a line; a listed slice may be empty), as
#: ``leg3dus annotate`` saves them and ``leg3dus synth --sparse-every-mm`` simulates them.
SPARSE_NAME = "sparseX1.mha"
SLICES_NAME = "sparseX1_slices.txt"
#: Folder of a subject's tracked sweeps (``sweepK.igs.mha``, ``labelsK.igs.mha``,
#: ``calibration.xml``), beside its volumes.
SWEEPS_DIR = "sweeps"


@dataclass(frozen=True)
class Subject:
    """One subject of a dataset: its id, split and the paths of its image and labels.

    ``image`` or ``label`` is None when that file is missing (validation reports it).
    """

    id: str
    split: str
    image: Path | None
    label: Path | None

    @property
    def key(self) -> str:
        """``split/id``, unique within a well-formed dataset."""
        return f"{self.split}/{self.id}" if self.split else self.id


def _pattern_regex(pattern: str) -> re.Pattern:
    if pattern.count("{id}") != 1:
        raise OptionError(f"file pattern {pattern!r} must contain {{id}} exactly once")
    head, tail = pattern.split("{id}")
    return re.compile(re.escape(head) + r"(?P<id>.+?)" + re.escape(tail) + r"$")


def _split_folders(root: Path) -> list[tuple[str, Path]]:
    found = []
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name.lower() in SPLIT_ALIASES:
            found.append((SPLIT_ALIASES[child.name.lower()], child))
    return found


def _subject_in(folder: Path, split: str, image_name: str, label_name: str) -> Subject | None:
    image, label = folder / image_name, folder / label_name
    if not image.exists() and not label.exists():
        return None
    return Subject(folder.name, split, image if image.exists() else None,
                   label if label.exists() else None)


def _flat_subjects(folder: Path, split: str, image_pattern: str, label_pattern: str):
    image_re, label_re = _pattern_regex(image_pattern), _pattern_regex(label_pattern)
    images: dict[str, Path] = {}
    labels: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if not (f.is_file() or (f.is_dir() and f.name.lower().endswith(".zarr"))):
            continue
        # A label pattern can be a longer form of the image pattern ("{id}.mha" vs
        # "{id}_seg.mha"): the more specific match wins.
        lm, im = label_re.match(f.name), image_re.match(f.name)
        if lm and (not im or len(lm.group("id")) <= len(im.group("id"))):
            labels[lm.group("id")] = f
        elif im:
            images[im.group("id")] = f
    return [Subject(i, split, images.get(i), labels.get(i))
            for i in sorted(set(images) | set(labels))]


def find_subjects(
    root: str | os.PathLike,
    image_name: str = IMAGE_NAME,
    label_name: str = LABEL_NAME,
    flat: bool = False,
    splits: tuple[str, ...] | None = None,
) -> list[Subject]:
    """All subjects under ``root``, sorted by split then id.

    Parameters
    ----------
    root
        A LEG-3D-US tree (``<root>/<split>/<subject>/``), a folder of subject folders
        (split ``""``), or with ``flat=True`` a folder of files (or of split folders of
        files).
    image_name, label_name
        File names inside a subject folder; with ``flat=True`` patterns holding ``{id}``.
    splits
        Keep only these splits (``validation`` is accepted for ``val``).

    Examples
    --------
    >>> for s in find_subjects("LEG-3D-US"):  # doctest: +SKIP
    ...     print(s.split, s.id, s.image.name, s.label.name)
    train 01 x1.mha masksX1.mha
    """
    root = Path(root)
    if not root.exists():
        raise InputFileError(f"{root}: no such folder")
    if not root.is_dir():
        raise InputFileError(f"{root}: expected a dataset folder, found a file")
    if flat and ("{id}" not in image_name or "{id}" not in label_name):
        image_name = image_name if "{id}" in image_name else "{id}_" + image_name
        label_name = label_name if "{id}" in label_name else "{id}_" + label_name
    split_dirs = _split_folders(root) or [("", root)]
    subjects: list[Subject] = []
    for split, folder in split_dirs:
        if flat:
            subjects.extend(_flat_subjects(folder, split, image_name, label_name))
            continue
        for child in sorted(folder.iterdir()):
            if child.is_dir():
                subject = _subject_in(child, split, image_name, label_name)
                if subject is not None:
                    subjects.append(subject)
    if splits is not None:
        wanted = set()
        for s in splits:
            if s.lower() not in SPLIT_ALIASES:
                raise OptionError(f"unknown split {s!r}; expected one of {', '.join(SPLITS)}")
            wanted.add(SPLIT_ALIASES[s.lower()])
        subjects = [s for s in subjects if s.split in wanted]
    order = {s: i for i, s in enumerate(("",) + SPLITS)}
    subjects.sort(key=lambda s: (order.get(s.split, 99), s.id))
    return subjects


def subject_folder(root: str | os.PathLike, split: str, subject_id: str) -> Path:
    """Where a subject's files go in a LEG-3D-US tree: ``<root>/<split>/<id>``."""
    return Path(root) / split / subject_id if split else Path(root) / subject_id


def list_subjects(
    root: str | os.PathLike,
    image_name: str = IMAGE_NAME,
    label_name: str = LABEL_NAME,
    flat: bool = False,
) -> list[Subject]:
    """The subjects of ``root``; a subject folder or a single volume is one subject.

    A single volume comes back as the subject's ``image`` (see
    :func:`single_volume_roles` to read it as labels). Raises :class:`InputFileError`
    when a folder holds no subject.
    """
    root = Path(root)
    if root.is_file() or (root.is_dir() and root.name.lower().endswith(".zarr")):
        volume_format(root)
        return [Subject(root.name, "", root, None)]
    if not flat and root.is_dir() and ((root / image_name).exists()
                                       or (root / label_name).exists()):
        image, label = root / image_name, root / label_name
        return [Subject(root.resolve().name, "", image if image.exists() else None,
                        label if label.exists() else None)]
    subjects = find_subjects(root, image_name, label_name, flat)
    if not subjects:
        layout = (f"files named like {image_name!r}" if flat else
                  f"<split>/<subject>/{image_name} and {label_name}")
        raise InputFileError(f"{root}: no subjects found; expected {layout}")
    return subjects


def subject_files(subjects: list[Subject]) -> list[Path]:
    """Every image and label file of ``subjects``: what a command reading them must never
    overwrite (see :func:`leg3dus.core.atomic.check_outputs`).

    >>> [str(p) for p in subject_files([Subject("P001", "train", Path("x1.mha"), None)])]
    ['x1.mha']
    """
    return [p for s in subjects for p in (s.image, s.label) if p is not None]


def single_volume_roles(subjects: list[Subject], root: str | os.PathLike,
                        label_name: str = LABEL_NAME) -> list[Subject]:
    """Read a single volume given as ``root`` as labels when its name says so.

    Its name must be ``label_name`` or hold "mask", "label" or "seg"; otherwise, and
    for a dataset folder, ``subjects`` come back unchanged.
    """
    root = Path(root)
    name = root.name.lower()
    if (len(subjects) == 1 and subjects[0].image == root and subjects[0].label is None
            and (name == label_name.lower() or any(w in name for w in ("mask", "label", "seg")))):
        return [Subject(subjects[0].id, subjects[0].split, None, root)]
    return subjects


def case_name(subject: Subject) -> str:
    """The nnU-Net case identifier of a subject: its id with characters other than
    letters, digits, ``_`` and ``-`` as ``_`` (what ``leg3dus export --to nnunet`` names
    its files, and how nnU-Net's predictions are matched back to subjects).

    >>> case_name(Subject("P 01.b", "test", None, None))
    'P_01_b'
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", subject.id)
