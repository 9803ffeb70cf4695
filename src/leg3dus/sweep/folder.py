"""A sweeps folder as the phantom writes it and ``compound``/``qc`` read it: one PLUS
sequence file per sweep (``sweep1.igs.mha`` ...), optional label sequences
(``labels1.igs.mha`` ...) and the PLUS configuration ``calibration.xml``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

#: File name patterns of the B-mode and label sequences in a sweeps folder.
IMAGE_GLOBS = ("sweep*.igs.mha", "sweep*.seq.mha")
LABEL_GLOBS = ("labels*.igs.mha", "labels*.seq.mha")
CONFIG_NAME = "calibration.xml"


def _natural(path: Path) -> tuple:
    """Sort key putting ``sweep2`` before ``sweep10``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name))


def sequence_files(folder: str | os.PathLike, globs=IMAGE_GLOBS) -> list[Path]:
    """The sequence files of a sweeps folder matching ``globs``, in natural order.

    >>> sequence_files("no-such-folder")
    []
    """
    folder = Path(folder)
    found = {p for g in globs for p in folder.glob(g) if p.is_file()}
    return sorted(found, key=_natural)
