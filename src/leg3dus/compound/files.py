"""Compounding files, as ``leg3dus compound`` does: sequence files into one volume, or
every subject of a dataset tree with sweeps into a tree of volumes.

Settings given on top of a PLUS configuration (:class:`PlusOverrides`) follow leg3dus's
conventions, (z, y, x) and mm, like every array here; they are turned into PLUS's own
(x, y, z) attributes (:class:`~leg3dus.sweep.ReconParams`) only where they meet the
configuration.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import OptionError, OutputError
from ..core.layout import IMAGE_NAME, LABEL_NAME
from ..sweep import ReconParams
from ..sweep.config import HOLE_KINDS, HoleFillingElement
from .reconstruct import DEVICES, FILLS, METHODS, Options

PathLike = str | os.PathLike
#: Endings of an output that is a volume file (a tree is compounded into a folder).
VOLUME_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".gz", ".zarr")
#: Short names of PLUS's interpolation and compounding modes.
INTERPOLATIONS = {"nearest": "NEAREST_NEIGHBOR", "linear": "LINEAR"}
COMPOUNDINGS = {"mean": "MEAN", "maximum": "MAXIMUM", "max": "MAXIMUM", "latest": "LATEST",
                "importance_mask": "IMPORTANCE_MASK"}


def parse_numbers(text: str | Sequence[float] | None, n: int, what: str) -> tuple | None:
    """``n`` numbers from ``"1 2 3"`` or ``"1,2,3"`` (one number stands for three).

    >>> parse_numbers("0.5", 3, "--spacing")
    (0.5, 0.5, 0.5)
    >>> parse_numbers("1, 2", 2, "--clip-size")
    (1.0, 2.0)
    """
    if text is None:
        return None
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    if len(parts) == 1 and n == 3:
        parts = parts * 3
    try:
        values = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        raise OptionError(f"{what}: expected {n} numbers, found {text!r}") from None
    if len(values) != n:
        raise OptionError(f"{what}: expected {n} numbers, found {text!r}")
    return values


def parse_hole_element(text: str) -> HoleFillingElement:
    """A PLUS hole-filling element from ``KIND[:key=value,...]``.

    >>> parse_hole_element("STICK:stick_length_limit=9,sticks_to_use=1").stick_length_limit
    9
    """
    kind, _, rest = text.partition(":")
    if kind.upper() not in HOLE_KINDS:
        raise OptionError(f"--hole-element: kind must be one of {', '.join(HOLE_KINDS)}, "
                          f"found {kind!r}")
    el = HoleFillingElement(kind.upper())
    names = {f.name for f in dataclasses.fields(HoleFillingElement)} - {"kind"}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in names:
            raise OptionError(f"--hole-element: unknown parameter {key!r}; expected size, "
                              f"stdev, min_ratio, stick_length_limit, sticks_to_use")
        try:
            setattr(el, key, float(value) if key in ("stdev", "min_ratio") else int(value))
        except ValueError:
            raise OptionError(f"--hole-element: {key} must be a number, found {value!r}") from None
    return el


def _pair_xy(yx) -> tuple | None:
    return None if yx is None else (yx[1], yx[0])


@dataclass
class PlusOverrides:
    """Reconstruction settings that replace the PLUS configuration's (None keeps it).

    Grid: ``spacing_mm`` and ``origin_mm`` (z, y, x), ``extent_vox`` (z0, z1, y0, y1, x0,
    x1) voxels from the origin (needs ``origin_mm``). Frame pixels, (row, column) =
    (y, x) as the frames' arrays: ``clip_origin_px``, ``clip_size_px`` (height, width),
    ``fan_origin_px``, ``fan_radius_start_px``, ``fan_radius_stop_px``;
    ``fan_angles_deg`` (left, right). ``interpolation`` nearest / linear and
    ``compounding`` mean / maximum / latest / importance_mask (PLUS's names work too);
    ``hole_filling`` PLUS hole-filling elements (they turn FillHoles on); the coordinate
    frame names, and PLUS's ``optimization``, ``pixel_rejection_threshold``,
    ``importance_mask`` (a path) and ``skip_interval``.

    >>> p = PlusOverrides(spacing_mm=(0.5, 0.3, 0.2)).apply(ReconParams())
    >>> p.output_spacing  # PLUS's (x, y, z)
    (0.2, 0.3, 0.5)
    """

    spacing_mm: tuple[float, float, float] | None = None
    origin_mm: tuple[float, float, float] | None = None
    extent_vox: tuple[int, int, int, int, int, int] | None = None
    clip_origin_px: tuple[int, int] | None = None
    clip_size_px: tuple[int, int] | None = None
    fan_angles_deg: tuple[float, float] | None = None
    fan_origin_px: tuple[float, float] | None = None
    fan_radius_start_px: float | None = None
    fan_radius_stop_px: float | None = None
    interpolation: str | None = None
    compounding: str | None = None
    hole_filling: list[HoleFillingElement] | None = None
    image_frame: str | None = None
    reference_frame: str | None = None
    optimization: str | None = None
    pixel_rejection_threshold: float | None = None
    importance_mask: str | None = None
    skip_interval: int | None = None

    @classmethod
    def from_text(cls, **given) -> PlusOverrides:
        """From option texts: ``"z y x"`` numbers for the grid and pixel fields (one number
        for three: ``spacing_mm="0.5"``), ``KIND[:key=value,...]`` texts for
        ``hole_filling`` (:func:`parse_hole_element`); other fields as they are.

        >>> PlusOverrides.from_text(spacing_mm="0.5", extent_vox=None).spacing_mm
        (0.5, 0.5, 0.5)
        """
        counts = {"spacing_mm": 3, "origin_mm": 3, "extent_vox": 6, "clip_origin_px": 2,
                  "clip_size_px": 2, "fan_angles_deg": 2, "fan_origin_px": 2}
        flags = {"spacing_mm": "--spacing", "origin_mm": "--origin", "extent_vox": "--extent"}
        for name, n in counts.items():
            flag = flags.get(name, "--" + name.rsplit("_", 1)[0].replace("_", "-"))
            given[name] = parse_numbers(given.get(name), n, flag)
        given["hole_filling"] = [parse_hole_element(t) if isinstance(t, str) else t
                                 for t in given.get("hole_filling") or []]
        if given.get("importance_mask") is not None:
            given["importance_mask"] = str(given["importance_mask"])
        return cls(**given)

    def plus_fields(self) -> dict:
        """The :class:`~leg3dus.sweep.ReconParams` fields set, in PLUS's (x, y, z) order."""
        e = self.extent_vox
        given = {
            "output_spacing": None if self.spacing_mm is None else tuple(self.spacing_mm)[::-1],
            "output_origin": None if self.origin_mm is None else tuple(self.origin_mm)[::-1],
            "output_extent": None if e is None else tuple(int(v) for v in
                                                          (e[4], e[5], e[2], e[3], e[0], e[1])),
            "clip_rectangle_origin": _ints(_pair_xy(self.clip_origin_px)),
            "clip_rectangle_size": _ints(_pair_xy(self.clip_size_px)),
            "fan_angles_deg": self.fan_angles_deg,
            "fan_origin_pixel": _pair_xy(self.fan_origin_px),
            "fan_radius_start_pixel": self.fan_radius_start_px,
            "fan_radius_stop_pixel": self.fan_radius_stop_px,
            "image_frame": self.image_frame, "reference_frame": self.reference_frame,
            "optimization": self.optimization and self.optimization.upper(),
            "pixel_rejection_threshold": self.pixel_rejection_threshold,
            "importance_mask": self.importance_mask and str(self.importance_mask),
            "skip_interval": self.skip_interval,
        }
        if self.interpolation:
            given["interpolation"] = INTERPOLATIONS.get(self.interpolation.lower(),
                                                        self.interpolation.upper())
        if self.compounding:
            given["compounding_mode"] = COMPOUNDINGS.get(self.compounding.lower(),
                                                         self.compounding.upper())
        if self.hole_filling:
            given.update(hole_filling=list(self.hole_filling), fill_holes=True)
        return {k: v for k, v in given.items() if v is not None}

    def apply(self, params: ReconParams) -> ReconParams:
        """``params`` (a configuration's) with these settings in place."""
        return dataclasses.replace(params, **self.plus_fields())


def _ints(values) -> tuple | None:
    return None if values is None else tuple(int(v) for v in values)


def compound_files(sequences: Sequence[PathLike], output: PathLike, *,
                   config: PathLike | None = None, overrides: PlusOverrides | None = None,
                   options: Options | None = None, labels: bool = False) -> dict:
    """Compound PLUS sequence files together into one volume written to ``output``.

    Returns a summary: ``output``, ``shape_zyx``, ``spacing_zyx``, ``origin_zyx``,
    ``frames_used``, ``frames``, ``coverage`` (fraction of voxels hit), ``seconds`` and
    ``qc`` (:func:`leg3dus.sweep.qc.sweeps_summary`).
    """
    from ..core.atomic import check_not_input
    from ..core.volume_io import write_volume
    from ..sweep import concat_sequences, read_config, read_sequence
    from ..sweep.qc import sweeps_summary
    from .reconstruct import reconstruct

    check_not_input(output, [*sequences, config])
    cfg = read_config(config) if config else None
    p = cfg.recon if cfg else ReconParams()
    p = overrides.apply(p) if overrides else p
    names = [str(s) for s in sequences]
    seqs = [read_sequence(s) for s in sequences]
    seq = concat_sequences(seqs, names) if len(seqs) > 1 else seqs[0]
    start = time.perf_counter()
    rec = reconstruct(seq, cfg, p, options or Options(), labels=labels, path=", ".join(names))
    seconds = time.perf_counter() - start
    qc = sweeps_summary([(Path(n).name, q) for n, q in zip(names, seqs, strict=True)], cfg,
                        image=p.image_frame, reference=p.reference_frame)
    del seqs
    write_volume(rec.volume, output)
    return {"output": str(output), "shape_zyx": rec.volume.shape,
            "spacing_zyx": rec.volume.spacing, "origin_zyx": rec.volume.origin,
            "frames_used": rec.frames_used, "frames": seq.n_frames,
            "coverage": float((rec.hit > 0).mean()), "seconds": seconds, "qc": qc}


def compound_tree(tree: PathLike, output: PathLike, *, config: PathLike | None = None,
                  overrides: PlusOverrides | None = None, options: Options | None = None,
                  image_name: str = IMAGE_NAME, label_name: str = LABEL_NAME,
                  scheduler: str | None = None, workers: int | None = None,
                  progress: Callable | None = None) -> list[dict]:
    """Compound every subject with a ``sweeps/`` folder under ``tree`` into ``output``
    (same layout): one row per subject (:func:`~leg3dus.compound.compound_subject`),
    with ``subject`` (``split/id``) and ``error`` None, or why the subject failed (the
    others are still written).

    Subjects run in this process, or on a Dask cluster (``scheduler`` address, or
    ``workers`` local processes; :func:`leg3dus.core.parallel.map_subjects`);
    ``progress(description, done, total)`` is called as each one ends.
    """
    import functools

    from ..core.parallel import map_subjects
    from ..sweep import read_config
    from .batch import compound_subject, find_sweep_subjects

    opt = options or Options()
    for what, value, allowed in (("--method", opt.method, METHODS),
                                 ("--fill", opt.fill, FILLS), ("--device", opt.device, DEVICES)):
        if value is not None and value not in allowed:
            raise OptionError(f"{what} must be one of {', '.join(allowed)}, found {value!r}")
    out = Path(output)
    if out.suffix.lower() in VOLUME_SUFFIXES or (out.exists() and not out.is_dir()):
        raise OutputError(f"{output}: a dataset folder is compounded into an output folder, "
                          "not a volume file")
    if image_name == label_name:
        raise OptionError(f"--image-name and --label-name are both {image_name!r}")
    if config is not None:
        read_config(config)  # fail once, before any subject, on a bad configuration
    subjects = find_sweep_subjects(tree, output)
    job = functools.partial(compound_subject, overrides=overrides, options=opt,
                            config=config, image_name=image_name, label_name=label_name)
    done = []
    if progress is not None:
        progress("compounding", 0, len(subjects))

    def on_done(_result) -> None:
        done.append(1)
        if progress is not None:
            progress("compounding", len(done), len(subjects))

    results = map_subjects(job, subjects, scheduler, workers, on_done=on_done)
    return [{**r.value, "subject": r.item.key, "error": None} if r.ok else
            {"split": r.item.split, "id": r.item.id, "subject": r.item.key, "error": r.error}
            for r in results]


def compound_paths(sources: Sequence[PathLike], output: PathLike, *,
                   config: PathLike | None = None, overrides: PlusOverrides | None = None,
                   options: Options | None = None, labels: bool = False,
                   image_name: str = IMAGE_NAME, label_name: str = LABEL_NAME,
                   scheduler: str | None = None, workers: int | None = None,
                   progress: Callable | None = None) -> dict:
    """Sequence files into one volume (:func:`compound_files`), or one dataset folder into
    a tree of volumes (:func:`compound_tree`; ``scheduler``, ``workers`` and ``progress``
    apply to a folder only).

    Returns the file summary, or ``{"subjects": rows}`` for a folder.

    Examples
    --------
    >>> compound_paths(["s1.igs.mha", "s2.igs.mha"], "x1.mha", config="calib.xml",
    ...                overrides=PlusOverrides(spacing_mm=(0.5, 0.5, 0.5)),
    ...                options=Options(method="vnn", fill="gaussian"))  # doctest: +SKIP
    """
    sources = [Path(s) for s in sources]
    folders = [s for s in sources if s.is_dir()]
    if not folders:
        if scheduler is not None or workers is not None:
            raise OptionError("--scheduler and --workers apply to a dataset folder")
        return compound_files(sources, output, config=config, overrides=overrides,
                              options=options, labels=labels)
    if len(sources) > 1:
        raise OptionError(f"{folders[0]} is a folder: give one dataset folder, or "
                          "sequence files, not both")
    if labels:
        raise OptionError("--labels applies to sequence files; in a dataset folder the "
                          "labelsK.igs.mha sequences are compounded as labels")
    return {"subjects": compound_tree(folders[0], output, config=config, overrides=overrides,
                                      options=options, image_name=image_name,
                                      label_name=label_name, scheduler=scheduler,
                                      workers=workers, progress=progress)}
