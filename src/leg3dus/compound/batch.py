"""Compounding every subject of a dataset tree: each subject's simulated or recorded
sweeps (``<subject>/sweeps/sweepK.igs.mha``, ``labelsK.igs.mha``, ``calibration.xml``)
into its image and label volumes in an output tree with the same layout.

:func:`find_sweep_subjects` lists the jobs and :func:`compound_subject` runs one; it is a
module-level function so that Dask workers can import it
(:func:`leg3dus.core.parallel.map_subjects`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import InputFileError, OutputError
from ..core.layout import IMAGE_NAME, LABEL_NAME, SPLIT_ALIASES, SWEEPS_DIR
from ..sweep.folder import CONFIG_NAME, IMAGE_GLOBS, LABEL_GLOBS, sequence_files
from .reconstruct import Options, reconstruct

if TYPE_CHECKING:
    from .files import PlusOverrides



@dataclass(frozen=True)
class SweepSubject:
    """One subject to compound: its id, split, sweeps folder and output subject folder."""

    id: str
    split: str
    sweeps: Path
    output: Path

    @property
    def key(self) -> str:
        """``split/id`` (or ``id`` outside split folders)."""
        return f"{self.split}/{self.id}" if self.split else self.id


def find_sweep_subjects(root: str | os.PathLike, out_root: str | os.PathLike
                        ) -> list[SweepSubject]:
    """Every subject folder under ``root`` that has a ``sweeps`` folder, sorted by path.

    Each subject's output folder is ``out_root`` / (its folder relative to ``root``), so
    the output tree has the input's layout. Hidden folders (temporary outputs) are
    skipped. Raises :class:`InputFileError` when ``root`` holds no sweeps folder, and
    :class:`OutputError` when ``out_root`` is ``root`` or lies inside it.

    Examples
    --------
    >>> [s.key for s in find_sweep_subjects("cohort", "compounded")]  # doctest: +SKIP
    ['train/P001', 'train/P002', 'val/P003']
    """
    root, out_root = Path(root), Path(out_root)
    if not root.is_dir():
        raise InputFileError(f"{root}: expected a dataset folder")
    r, o = root.resolve(), out_root.resolve()
    if o == r or r in o.parents:
        raise OutputError(f"{out_root}: the output folder is inside the input tree {root}; "
                          "choose a folder outside it")
    subjects = []
    for folder in sorted(root.rglob(SWEEPS_DIR)):
        rel = folder.parent.relative_to(root)
        if not folder.is_dir() or any(part.startswith(".") for part in folder.parts[
                len(root.parts):]):
            continue
        parts = rel.parts
        split = SPLIT_ALIASES.get(parts[-2].lower(), "") if len(parts) >= 2 else ""
        sid = parts[-1] if parts else root.resolve().name
        subjects.append(SweepSubject(sid, split, folder, out_root / rel))
    if not subjects:
        raise InputFileError(f"{root}: no sweeps folders found; expected "
                             f"<split>/<subject>/{SWEEPS_DIR}/sweep1.igs.mha ... as "
                             "'leg3dus synth --sweeps' writes them")
    return subjects


def label_options(options: Options, fill: str) -> Options:
    """The options for a subject's label sequences, given those of its image and the
    image's resolved hole filling: no fill stays none, any other fill becomes the
    Gaussian-weighted vote (labels are never averaged)."""
    return dataclasses.replace(options, fill="none" if fill == "none" else "gaussian")


def compound_subject(subject: SweepSubject, overrides: PlusOverrides | None = None,
                     options: Options | None = None, config: str | os.PathLike | None = None,
                     image_name: str = IMAGE_NAME, label_name: str = LABEL_NAME) -> dict:
    """Compound one subject's sweeps into ``subject.output / image_name`` and, when label
    sequences are present, ``subject.output / label_name``; returns a summary row.

    Parameters
    ----------
    subject
        From :func:`find_sweep_subjects`.
    overrides
        Settings that replace the configuration's (spacing, extent, clip rectangle, ...;
        :class:`~leg3dus.compound.PlusOverrides`, in (z, y, x) and mm).
    options
        How to reconstruct (:class:`Options`); the label pass uses nearest-neighbour
        insertion and :func:`label_options`.
    config
        A PLUS configuration for every subject; default the subject's
        ``sweeps/calibration.xml``.
    image_name, label_name
        Output file names in the subject's output folder.

    The image is written under a temporary name and renamed only once the labels are
    written too, so a failing subject leaves nothing behind (not even its folder); the
    image's memory is freed before the labels are compounded.

    The row holds ``frames``/``frames_used``, ``shape_zyx``, ``spacing_zyx``,
    ``origin_zyx``, ``coverage`` (fraction of voxels hit by a pixel), the same for the
    labels (``label_frames_used``, ``label_coverage``; None without label sequences),
    ``seconds``, the outputs (``image``, ``labels``) and ``qc``, the short acquisition QC
    of the sweeps (:func:`leg3dus.sweep.qc.sweeps_summary`).

    Examples
    --------
    >>> subjects = find_sweep_subjects("cohort", "compounded")           # doctest: +SKIP
    >>> compound_subject(subjects[0], options=Options(method="vnn", fill="gaussian"))
    ... # doctest: +SKIP
    """
    from ..core.atomic import check_not_input, remove_path, replace_path, tmp_name
    from ..core.volume_io import write_volume
    from ..sweep import concat_sequences, read_config, read_sequence
    from ..sweep.qc import sweeps_summary

    start = time.perf_counter()
    images = sequence_files(subject.sweeps, IMAGE_GLOBS)
    if not images:
        raise InputFileError(f"{subject.sweeps}: no B-mode sequences (expected "
                             f"{' or '.join(IMAGE_GLOBS)})")
    label_files = sequence_files(subject.sweeps, LABEL_GLOBS)
    cfg_path = Path(config) if config is not None else subject.sweeps / CONFIG_NAME
    if not cfg_path.is_file():
        raise InputFileError(f"{cfg_path}: no configuration; give --config or put the "
                             f"calibration in {subject.sweeps / CONFIG_NAME}")
    image_out, label_out = subject.output / image_name, subject.output / label_name
    inputs = [*images, *label_files, cfg_path]
    check_not_input(image_out, inputs)
    check_not_input(label_out, inputs)
    cfg = read_config(cfg_path)
    p = overrides.apply(cfg.recon) if overrides is not None else cfg.recon
    opt = options or Options()
    parts = [read_sequence(x) for x in images]
    qc = sweeps_summary([(x.name, q) for x, q in zip(images, parts, strict=True)], cfg,
                        image=p.image_frame, reference=p.reference_frame)
    seq = concat_sequences(parts, [str(x) for x in images]) if len(parts) > 1 else parts[0]
    del parts
    rec = reconstruct(seq, cfg, p, opt, path=str(subject.sweeps))
    row = {"split": subject.split, "id": subject.id, "sweeps": len(images),
           "frames": seq.n_frames, "frames_used": rec.frames_used,
           "shape_zyx": list(rec.volume.shape), "spacing_zyx": list(rec.volume.spacing),
           "origin_zyx": list(rec.volume.origin), "coverage": float((rec.hit > 0).mean()),
           "label_frames_used": None, "label_coverage": None, "qc": qc}
    del seq
    created = not subject.output.exists()
    subject.output.mkdir(parents=True, exist_ok=True)
    tmp_image, tmp_label = tmp_name(image_out), tmp_name(label_out)
    try:
        # The image waits under its temporary name while the labels are compounded: it
        # is renamed only if they succeed, and its memory is free for them meanwhile.
        write_volume(rec.volume, tmp_image)
        del rec
        if label_files:
            lp = dataclasses.replace(p, interpolation="NEAREST_NEIGHBOR")
            lopt = label_options(opt, opt.fill or ("plus" if p.fill_holes else "none"))
            lrec = reconstruct(_read_all(label_files, read_sequence, concat_sequences),
                               cfg, lp, lopt, labels=True, path=f"{subject.sweeps} (labels)")
            row["label_frames_used"] = lrec.frames_used
            row["label_coverage"] = float((lrec.hit > 0).mean())
            write_volume(lrec.volume, tmp_label)
            del lrec
            replace_path(tmp_label, label_out)
        replace_path(tmp_image, image_out)
    except BaseException:
        for tmp in (tmp_image, tmp_label):
            remove_path(tmp)
        if created:
            with contextlib.suppress(OSError):
                subject.output.rmdir()  # only when empty: never another run's files
        raise
    row["seconds"] = round(time.perf_counter() - start, 3)
    row["image"] = str(image_out)
    row["labels"] = str(label_out) if label_files else None
    return row


def _read_all(paths: list[Path], read_sequence, concat_sequences):
    seqs = [read_sequence(x) for x in paths]
    return concat_sequences(seqs, [str(x) for x in paths]) if len(seqs) > 1 else seqs[0]
