"""ITK-SNAP label description files: the names and colours of the muscles' label values.

ITK-SNAP opens a label volume as numbers; its *Label Editor* (Segmentation > Import
Label Descriptions) reads a text file with one line per value::

    #  IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
        0     0    0    0     0    0   0   "Clear Label"
      100   230  159    0     1    1   1   "SOL"

Exports write one beside each label file (:data:`SUFFIX`), with the values that file
holds (the scheme 100/150/200 or the classes 1/2/3).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..core import labels as lab
from ..core.atomic import atomic_path
from ..core.errors import InputFileError

#: Name ending of a label description written beside ``masksX1.nii.gz``:
#: ``masksX1.itksnap.txt``.
SUFFIX = ".itksnap.txt"

_HEADER = """\
################################################
# ITK-SnAP Label Description File
# File format:
# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL
# Fields:
#    IDX:   Zero-based index
#    -R-:   Red color component (0..255)
#    -G-:   Green color component (0..255)
#    -B-:   Blue color component (0..255)
#    -A-:   Label transparency (0.00 .. 1.00)
#    VIS:   Label visibility (0 or 1)
#    MSH:   Label mesh visibility (0 or 1)
#  LABEL:   Label description
################################################
"""


def label_description(classes: bool = False) -> str:
    """The text of a label description for the scheme (100/150/200) or the classes (1/2/3).

    >>> print(label_description(classes=True).splitlines()[-1])
        3     0  158  115        1  1  1    "GL"
    """
    rows = [(0, (0, 0, 0), 0, "Clear Label")]
    rows += [(m.index if classes else m.value, m.color, 1, m.name) for m in lab.MUSCLES]
    lines = [f"{value:5d} {r:5d} {g:4d} {b:4d} {alpha:8d} {alpha:2d} {alpha:2d}    \"{name}\""
             for value, (r, g, b), alpha, name in rows]
    return _HEADER + "\n".join(lines) + "\n"


def write_label_description(path: str | os.PathLike, classes: bool = False) -> Path:
    """Write :func:`label_description` to ``path`` (atomically); returns ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(label_description(classes), encoding="utf-8")
    return path


def description_path(label_path: str | os.PathLike) -> Path:
    """Where the label description of ``label_path`` goes: beside it, its name ending
    in :data:`SUFFIX`.

    >>> description_path("out/train/S01/masksX1.nii.gz").name
    'masksX1.itksnap.txt'
    """
    from ..core.volume_io import volume_format

    path = Path(label_path)
    stem = path.name[: len(path.name) - len(volume_format(path))]
    return path.with_name(stem + SUFFIX)


def read_label_description(path: str | os.PathLike) -> dict[int, tuple[str, tuple[int, int, int]]]:
    """The values of a label description file: ``{value: (name, (r, g, b))}``.

    >>> import tempfile
    >>> p = write_label_description(Path(tempfile.mkdtemp()) / "l.txt")
    >>> read_label_description(p)[100]
    ('SOL', (230, 159, 0))
    """
    path = Path(path)
    out = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the label description: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = shlex.split(line)
        if len(parts) != 8:
            raise InputFileError(f"{path}:{number}: expected 8 fields (IDX R G B A VIS MSH "
                                 f"LABEL), found {len(parts)}")
        out[int(parts[0])] = (parts[7], (int(parts[1]), int(parts[2]), int(parts[3])))
    return out
