"""``leg3dus compound``: tracked sweeps (PLUS sequence files) -> a compounded volume, or
every subject of a dataset folder with sweeps -> a dataset tree of volumes."""

from __future__ import annotations

import dataclasses
import functools
import sys
import time
from pathlib import Path

import typer
from rich.table import Table

from ..app import (
    EXIT_FINDINGS,
    command,
    console,
    emit_json,
    image_name_option,
    label_name_option,
    run_batch,
    scheduler_option,
    workers_option,
)


def _floats(text: str | None, n: int, what: str) -> tuple | None:
    from ....core.errors import OptionError

    if text is None:
        return None
    parts = text.replace(",", " ").split()
    if len(parts) == 1 and n == 3:
        parts = parts * 3
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise OptionError(f"{what}: expected {n} numbers, found {text!r}") from None
    if len(values) != n:
        raise OptionError(f"{what}: expected {n} numbers, found {text!r}")
    return values


def _hole_element(text: str):
    """``KIND[:key=value,...]``, e.g. ``STICK:stick_length_limit=9,sticks_to_use=1``."""
    from ....core.errors import OptionError
    from ....sweep.config import HOLE_KINDS, HoleFillingElement

    kind, _, rest = text.partition(":")
    if kind.upper() not in HOLE_KINDS:
        raise OptionError(f"--hole-element: kind must be one of {', '.join(HOLE_KINDS)}, "
                          f"found {kind!r}")
    el = HoleFillingElement(kind.upper())
    names = {f.name for f in dataclasses.fields(HoleFillingElement)}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in names or key == "kind":
            raise OptionError(f"--hole-element: unknown parameter {key!r}; expected size, "
                              f"stdev, min_ratio, stick_length_limit, sticks_to_use")
        try:
            setattr(el, key, float(value) if key in ("stdev", "min_ratio") else int(value))
        except ValueError:
            raise OptionError(f"--hole-element: {key} must be a number, found {value!r}") from None
    return el


def _overrides(spacing, origin, extent, clip_origin, clip_size, fan_angles, fan_origin,
               fan_radius_start, fan_radius_stop, image_frame, reference_frame, interpolation,
               compounding, hole_element) -> dict:
    """The ReconParams fields the options set (those not given keep the configuration's)."""
    given = {
        "output_spacing": _floats(spacing, 3, "--spacing"),
        "output_origin": _floats(origin, 3, "--origin"),
        "output_extent": _floats(extent, 6, "--extent"),
        "clip_rectangle_origin": _floats(clip_origin, 2, "--clip-origin"),
        "clip_rectangle_size": _floats(clip_size, 2, "--clip-size"),
        "fan_angles_deg": _floats(fan_angles, 2, "--fan-angles"),
        "fan_origin_pixel": _floats(fan_origin, 2, "--fan-origin"),
        "fan_radius_start_pixel": fan_radius_start,
        "fan_radius_stop_pixel": fan_radius_stop,
        "image_frame": image_frame, "reference_frame": reference_frame,
    }
    out = {}
    for key, value in given.items():
        if value is not None:
            if key in ("output_extent", "clip_rectangle_origin", "clip_rectangle_size"):
                value = tuple(int(v) for v in value)
            out[key] = value
    if interpolation:
        out["interpolation"] = {"nearest": "NEAREST_NEIGHBOR"}.get(interpolation.lower(),
                                                                    interpolation.upper())
    if compounding:
        out["compounding_mode"] = {"max": "MAXIMUM"}.get(compounding.lower(),
                                                         compounding.upper())
    if hole_element:
        out["hole_filling"] = [_hole_element(t) for t in hole_element]
        out["fill_holes"] = True
    return out


@command("compound")
def compound(
    sequences: list[Path] = typer.Argument(..., metavar="SEQUENCE_OR_TREE",
                                           help="PLUS sequence files (.igs.mha/.seq.mha), "
                                           "or one dataset folder whose subjects have "
                                           "sweeps/ folders."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="Output volume (.mha, .nrrd, .nii.gz), or output "
                                "folder for a dataset folder."),
    config: Path = typer.Option(None, "--config", help="PLUS configuration XML (calibration "
                                "and VolumeReconstruction attributes); for a dataset folder, "
                                "default each subject's sweeps/calibration.xml."),
    method: str = typer.Option("pnn", help="pnn (pixel-based, PLUS) or vnn (voxel-based "
                               "nearest neighbour)."),
    interpolation: str = typer.Option(None, help="nearest or linear (pnn)."),
    compounding: str = typer.Option(None, help="mean, maximum (or max) or latest (pnn)."),
    spacing: str = typer.Option(None, help="Output spacing in mm: one number or 'x y z'."),
    origin: str = typer.Option(None, help="Output origin 'x y z' in mm (Reference frame)."),
    extent: str = typer.Option(None, help="Output extent 'x0 x1 y0 y1 z0 z1' in voxels."),
    clip_origin: str = typer.Option(None, help="Clip rectangle origin 'x y' in pixels."),
    clip_size: str = typer.Option(None, help="Clip rectangle size 'w h' in pixels."),
    fan_angles: str = typer.Option(None, help="Fan angles 'left right' in degrees."),
    fan_origin: str = typer.Option(None, help="Fan origin 'x y' in pixels."),
    fan_radius_start: float = typer.Option(None, help="Fan start radius in pixels."),
    fan_radius_stop: float = typer.Option(None, help="Fan stop radius in pixels."),
    fill: str = typer.Option(None, help="Hole filling: none, gaussian or plus (the config's "
                             "HoleFillingElements; default when FillHoles is ON)."),
    fill_size: int = typer.Option(5, help="Gaussian fill cube size in voxels (odd)."),
    fill_sigma: float = typer.Option(1.0, help="Gaussian fill sigma in voxels."),
    hole_element: list[str] = typer.Option(None, help="PLUS hole-filling element "
                                           "KIND[:key=value,...]; repeat to chain."),
    max_distance: float = typer.Option(None, help="vnn: largest voxel-to-frame distance in mm "
                                       "(default: one voxel)."),
    device: str = typer.Option("numba", help="numba (CPU kernels), or cpu / cuda (torch; vnn)."),
    labels: bool = typer.Option(False, "--labels", help="Frames hold label values: nearest "
                                "neighbour only, never averaged (sequence files; a dataset "
                                "folder's labelsK.igs.mha are always compounded so)."),
    image_frame: str = typer.Option(None, help="Image coordinate frame name."),
    reference_frame: str = typer.Option(None, help="Reference coordinate frame name."),
    max_memory_gb: float = typer.Option(None, help="Refuse output grids needing more memory."),
    optimization: str = typer.Option(None, help="PLUS arithmetic: FULL (fixed point), PARTIAL "
                                     "(doubles) or NONE (unoptimized path)."),
    pixel_rejection: float = typer.Option(None, help="Insert no pixel darker than this "
                                          "(PixelRejectionThreshold)."),
    importance_mask: Path = typer.Option(None, help="Weights image (PNG or MHA, uint8, frame "
                                         "size) for --compounding importance_mask."),
    skip_interval: int = typer.Option(None, help="Insert every k-th frame (SkipInterval)."),
    image_name: str = image_name_option(),
    label_name: str = label_name_option(),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary (a list of rows "
                                 "for a dataset folder)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary line, table or "
                               "progress bar."),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Compound tracked frames into a volume in the Reference frame, as PLUS does (pnn,
    with its clip rectangle, fan mask, compounding and hole filling) or voxel-based
    nearest neighbour with Gaussian hole filling (vnn, as the LEG-3D-US volumes were made).

    Given a dataset folder instead of files, every subject with a sweeps/ folder is
    compounded: sweepK.igs.mha into OUTPUT/<split>/<subject>/x1.mha and labelsK.igs.mha
    (nearest neighbour) into masksX1.mha, one subject per task (--workers, --scheduler);
    a subject that fails is listed and the others are written (exit 1).

    Example: leg3dus compound s1.igs.mha s2.igs.mha --config calib.xml --method vnn -o x1.mha

    Example: leg3dus compound cohort -o compounded --method vnn --fill gaussian --workers 4
    """
    from ....compound import Options
    from ....core.errors import OptionError

    overrides = _overrides(spacing, origin, extent, clip_origin, clip_size, fan_angles,
                           fan_origin, fan_radius_start, fan_radius_stop, image_frame,
                           reference_frame, interpolation, compounding, hole_element)
    plus = {"optimization": optimization and optimization.upper(),
            "pixel_rejection_threshold": pixel_rejection, "skip_interval": skip_interval,
            "importance_mask": importance_mask and str(importance_mask)}
    overrides.update({k: v for k, v in plus.items() if v is not None})
    opt = Options(method=method, fill=fill, fill_size=fill_size, fill_sigma=fill_sigma,
                  max_distance=max_distance, device=device, max_memory_gb=max_memory_gb)
    folders = [s for s in sequences if s.is_dir()]
    if folders:
        if len(sequences) > 1:
            raise OptionError(f"{folders[0]} is a folder: give one dataset folder, or "
                              "sequence files, not both")
        if labels:
            raise OptionError("--labels applies to sequence files; in a dataset folder the "
                              "labelsK.igs.mha sequences are compounded as labels")
        _compound_tree(folders[0], output, config, overrides, opt, image_name, label_name,
                       as_json, quiet, scheduler, workers)
        return
    if scheduler is not None or workers is not None:
        raise OptionError("--scheduler and --workers apply to a dataset folder")
    _compound_files(sequences, output, config, overrides, opt, labels, as_json, quiet)


def _compound_files(sequences, output, config, overrides, opt, labels, as_json, quiet) -> None:
    from ....compound import reconstruct
    from ....core.atomic import check_not_input
    from ....core.volume_io import write_volume
    from ....sweep import ReconParams, concat_sequences, read_config, read_sequence

    check_not_input(output, [*sequences, config])
    cfg = read_config(config) if config else None
    p = dataclasses.replace(cfg.recon if cfg else ReconParams(), **overrides)
    names = [str(s) for s in sequences]
    seqs = [read_sequence(s) for s in sequences]
    seq = concat_sequences(seqs, names) if len(seqs) > 1 else seqs[0]
    start = time.perf_counter()
    rec = reconstruct(seq, cfg, p, opt, labels=labels, path=", ".join(names))
    seconds = time.perf_counter() - start
    from ....sweep.qc import summary_text, sweeps_summary

    qc = sweeps_summary([(Path(n).name, q) for n, q in zip(names, seqs, strict=True)], cfg,
                        image=p.image_frame, reference=p.reference_frame)
    write_volume(rec.volume, output)
    summary = {"output": str(output), "shape_zyx": rec.volume.shape,
               "spacing_zyx": rec.volume.spacing, "origin_zyx": rec.volume.origin,
               "frames_used": rec.frames_used, "frames": seq.n_frames,
               "coverage": float((rec.hit > 0).mean()), "seconds": seconds, "qc": qc}
    if as_json:
        emit_json(summary)
    elif not quiet:
        console().print(
            f"{output}: {' x '.join(map(str, rec.volume.shape))} voxels (z, y, x) from "
            f"{rec.frames_used}/{seq.n_frames} frames, {100 * summary['coverage']:.1f}% hit, "
            f"{seconds:.1f} s")
        console().print(summary_text(qc))


_VOLUME_SUFFIXES = (".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".gz", ".zarr")


def _compound_tree(tree, output, config, overrides, opt, image_name, label_name, as_json,
                   quiet, scheduler, workers) -> None:
    from ....compound import compound_subject, find_sweep_subjects
    from ....compound.reconstruct import DEVICES, FILLS, METHODS
    from ....core.errors import OptionError, OutputError
    from ....sweep import read_config

    for what, value, allowed in (("--method", opt.method, METHODS),
                                 ("--fill", opt.fill, FILLS), ("--device", opt.device, DEVICES)):
        if value is not None and value not in allowed:
            raise OptionError(f"{what} must be one of {', '.join(allowed)}, found {value!r}")
    if output.suffix.lower() in _VOLUME_SUFFIXES or (output.exists() and not output.is_dir()):
        raise OutputError(f"{output}: a dataset folder is compounded into an output folder, "
                          "not a volume file")
    if image_name == label_name:
        raise OptionError(f"--image-name and --label-name are both {image_name!r}")
    if config is not None:
        read_config(config)  # fail once, before any subject, on a bad configuration
    subjects = find_sweep_subjects(tree, output)
    job = functools.partial(compound_subject, overrides=overrides, options=opt,
                            config=config, image_name=image_name, label_name=label_name)
    results = run_batch(job, subjects, scheduler, workers, "compounding", quiet)
    rows = [{**r.value, "error": None} if r.ok else
            {"split": r.item.split, "id": r.item.id, "error": r.error} for r in results]
    failed = [r for r in rows if r["error"]]
    if as_json:
        emit_json(rows)
    elif not quiet:
        console().print(_tree_table(rows))
        done = [r for r in rows if not r["error"]]
        if done:
            names = ", ".join([image_name] + ([label_name] if done[0]["labels"] else []))
            console().print(f"{len(done)} subject(s) written to {output} "
                            f"(<split>/<subject>/{names})")
    for r in failed:
        key = f"{r['split']}/{r['id']}" if r["split"] else r["id"]
        print(f"error: {key}: {' '.join(r['error'].split())}", file=sys.stderr)
    if failed:
        raise typer.Exit(EXIT_FINDINGS)


def _tree_table(rows: list[dict]) -> Table:
    table = Table(box=None, pad_edge=False)
    for col in ("split", "subject", "frames", "shape zyx", "hit %", "labels hit %", "s"):
        table.add_column(col, no_wrap=True, justify="right" if col in (
            "frames", "hit %", "labels hit %", "s") else "left")
    for r in rows:
        if r["error"]:
            table.add_row(r["split"] or "-", r["id"], "FAILED", "", "", "", "")
            continue
        lab = "-" if r["label_coverage"] is None else f"{100 * r['label_coverage']:.1f}"
        table.add_row(r["split"] or "-", r["id"], f"{r['frames_used']}/{r['frames']}",
                      "x".join(map(str, r["shape_zyx"])), f"{100 * r['coverage']:.1f}",
                      lab, f"{r['seconds']:.1f}")
    return table
