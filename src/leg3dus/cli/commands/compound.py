"""``leg3dus compound``: tracked sweeps (PLUS sequence files) -> a compounded volume."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer

from ..app import command, console, emit_json


def _floats(text: str | None, n: int, what: str) -> tuple | None:
    from ...errors import OptionError

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
    from ...errors import OptionError
    from ...sweep.config import HOLE_KINDS, HoleFillingElement

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


@command("compound")
def compound(
    sequences: list[Path] = typer.Argument(..., help="PLUS sequence files (.igs.mha/.seq.mha)."),
    output: Path = typer.Option(..., "--output", "-o",
                                help="Output volume (.mha, .nrrd, .nii.gz)."),
    config: Path = typer.Option(None, "--config", help="PLUS configuration XML (calibration "
                                "and VolumeReconstruction attributes)."),
    method: str = typer.Option("pnn", help="pnn (pixel-based, PLUS) or vnn (voxel-based "
                               "nearest neighbour)."),
    interpolation: str = typer.Option(None, help="nearest or linear (pnn)."),
    compounding: str = typer.Option(None, help="mean, maximum or latest (pnn)."),
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
                                "neighbour only, never averaged."),
    image_frame: str = typer.Option(None, help="Image coordinate frame name."),
    reference_frame: str = typer.Option(None, help="Reference coordinate frame name."),
    max_memory_gb: float = typer.Option(None, help="Refuse output grids needing more memory."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary line."),
) -> None:
    """Compound tracked frames into a volume in the Reference frame, as PLUS does (pnn,
    with its clip rectangle, fan mask, compounding and hole filling) or voxel-based
    nearest neighbour with Gaussian hole filling (vnn, as the LEG-3D-US volumes were made).

    Example: leg3dus compound s1.igs.mha s2.igs.mha --config calib.xml --method vnn -o x1.mha
    """
    from ...atomic import check_not_input
    from ...compound import Options, reconstruct
    from ...sweep import ReconParams, concat_sequences, read_config, read_sequence
    from ...volume import write_volume

    check_not_input(output, [*sequences, config])
    cfg = read_config(config) if config else None
    p = dataclasses.replace(cfg.recon) if cfg else ReconParams()
    overrides = {
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
    for key, value in overrides.items():
        if value is not None:
            if key in ("output_extent", "clip_rectangle_origin", "clip_rectangle_size"):
                value = tuple(int(v) for v in value)
            setattr(p, key, value)
    if interpolation:
        p.interpolation = {"nearest": "NEAREST_NEIGHBOR"}.get(interpolation.lower(),
                                                                interpolation.upper())
    if compounding:
        p.compounding_mode = compounding.upper()
    if hole_element:
        p.hole_filling = [_hole_element(t) for t in hole_element]
        p.fill_holes = True
    names = [str(s) for s in sequences]
    seqs = [read_sequence(s) for s in sequences]
    seq = concat_sequences(seqs, names) if len(seqs) > 1 else seqs[0]
    opt = Options(method=method, fill=fill, fill_size=fill_size, fill_sigma=fill_sigma,
                  max_distance=max_distance, device=device, max_memory_gb=max_memory_gb)
    start = time.perf_counter()
    rec = reconstruct(seq, cfg, p, opt, labels=labels, path=", ".join(names))
    seconds = time.perf_counter() - start
    write_volume(rec.volume, output)
    summary = {"output": str(output), "shape_zyx": rec.volume.shape,
               "spacing_zyx": rec.volume.spacing, "origin_zyx": rec.volume.origin,
               "frames_used": rec.frames_used, "frames": seq.n_frames,
               "coverage": float((rec.hit > 0).mean()), "seconds": seconds}
    if as_json:
        emit_json(summary)
    elif not quiet:
        console().print(
            f"{output}: {' x '.join(map(str, rec.volume.shape))} voxels (z, y, x) from "
            f"{rec.frames_used}/{seq.n_frames} frames, {100 * summary['coverage']:.1f}% hit, "
            f"{seconds:.1f} s")
