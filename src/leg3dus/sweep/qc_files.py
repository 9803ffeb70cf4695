"""``leg3dus qc`` as one call: find the sweeps (files, or a sweeps folder with its label
sequences and calibration), check them (:func:`.qc_report.run_qc`) and write what was
asked for: the hit-count volume, the coverage figure, the HTML report.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.atomic import check_not_input
from ..core.errors import InputFileError, OptionError
from .config import read_config
from .folder import CONFIG_NAME, IMAGE_GLOBS, LABEL_GLOBS, sequence_files
from .qc import QcLimits
from .qc_report import qc_figure, run_qc, write_qc_html
from .seqfile import read_sequence


def qc_paths(sweeps, *, config: str | os.PathLike | None = None,
             out: str | os.PathLike | None = None, hits: str | os.PathLike | None = None,
             figure: str | os.PathLike | None = None, spacing_mm: float = 1.0,
             bridge_mm: float | None = None, limits: QcLimits | None = None,
             ncc_min: float = 0.3) -> dict:
    """Check the sweeps ``sweeps`` (sequence files, neighbours in order, or one sweeps
    folder) and return the report of :func:`.qc_report.run_qc`. ``spacing_mm`` 0 takes
    the configuration's. ``out`` (HTML), ``hits`` (uint32 volume) and ``figure`` (PNG)
    are checked against the inputs before any work and written at the end.

    >>> report = qc_paths(["P001/sweeps"], figure="qc.png")  # doctest: +SKIP
    >>> report["ok"]                                         # doctest: +SKIP
    True
    """
    sweeps = [Path(s) for s in sweeps]
    labels: list[Path] = []
    if len(sweeps) == 1 and sweeps[0].is_dir():
        folder = sweeps[0]
        sweeps = sequence_files(folder, IMAGE_GLOBS)
        labels = sequence_files(folder, LABEL_GLOBS)
        if not sweeps:
            raise InputFileError(f"{folder}: no sweeps (expected {' or '.join(IMAGE_GLOBS)})")
        if config is None and (folder / CONFIG_NAME).is_file():
            config = folder / CONFIG_NAME
    elif any(s.is_dir() for s in sweeps):
        raise OptionError("give one sweeps folder, or sequence files, not both")
    if spacing_mm < 0:
        raise OptionError(f"--spacing must be >= 0, found {spacing_mm}")
    for path in (out, hits, figure):
        if path is not None:
            check_not_input(path, [*sweeps, *labels, config])
    cfg = read_config(config) if config else None
    seqs = [(s.name.split(".")[0], read_sequence(s)) for s in sweeps]
    label_seqs = [read_sequence(s) for s in labels] if len(labels) == len(sweeps) else None
    report = run_qc(seqs, cfg, limits or QcLimits(), spacing_mm or None, bridge_mm, ncc_min,
                    label_sweeps=label_seqs)
    if hits is not None:
        from ..core.volume import Volume
        from ..core.volume_io import write_volume

        g = report["grid"]
        write_volume(Volume(report["hits"], g["spacing_zyx"], g["origin_zyx"]), hits)
    if figure is not None:
        qc_figure(report, figure)
    if out is not None:
        write_qc_html(report, out)
    return report
