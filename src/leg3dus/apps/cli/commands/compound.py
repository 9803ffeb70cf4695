"""``leg3dus compound``: tracked sweeps (PLUS sequence files) -> a compounded volume, or
every subject of a dataset folder with sweeps -> a dataset tree of volumes."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import command, progress_callback
from ..options import image_name_option, label_name_option, scheduler_option, workers_option
from ..output import console, emit_json, exit_if_failed, say


def _opt(default, help: str, *names):  # noqa: A002 - typer's own word
    return typer.Option(default, *names, help=help)


@command("compound")
def compound(
    sequences: list[Path] = typer.Argument(..., metavar="SEQUENCE_OR_TREE", help="Sequence "
                                           "files (.igs.mha), or one dataset folder with sweeps."),
    output: Path = _opt(..., "Output volume, or folder for a dataset folder.", "--output", "-o"),
    config: Path = _opt(None, "PLUS configuration XML (default: sweeps/calibration.xml)."),
    method: str = _opt("pnn", "pnn (pixel-based, PLUS) or vnn (voxel-based nearest)."),
    interpolation: str = _opt(None, "nearest or linear (pnn)."),
    compounding: str = _opt(None, "mean, maximum (or max), latest or importance_mask (pnn)."),
    spacing: str = _opt(None, "Output spacing in mm: one number or 'z y x'."),
    origin: str = _opt(None, "Output origin 'z y x' in mm (Reference frame)."),
    extent: str = _opt(None, "Output extent 'z0 z1 y0 y1 x0 x1' in voxels (with --origin)."),
    clip_origin: str = _opt(None, "Clip rectangle origin 'y x' (row, column) in pixels."),
    clip_size: str = _opt(None, "Clip rectangle size 'h w' in pixels."),
    fan_angles: str = _opt(None, "Fan angles 'left right' in degrees."),
    fan_origin: str = _opt(None, "Fan origin 'y x' (row, column) in pixels."),
    fan_radius_start: float = _opt(None, "Fan start radius in pixels."),
    fan_radius_stop: float = _opt(None, "Fan stop radius in pixels."),
    fill: str = _opt(None, "none, gaussian or plus (the config's HoleFillingElements)."),
    fill_size_vox: int = _opt(5, "Gaussian fill cube size in voxels (odd)."),
    fill_sigma_vox: float = _opt(1.0, "Gaussian fill sigma in voxels."),
    hole_element: list[str] = _opt(None, "PLUS hole filling KIND[:key=value,...]; repeat."),
    max_distance_mm: float = _opt(None, "vnn: largest voxel-to-frame distance (one voxel)."),
    device: str = _opt("numba", "numba (CPU kernels), or cpu / cuda (torch, the same volume)."),
    labels: bool = _opt(False, "Frames hold label values: nearest, never averaged.", "--labels"),
    image_frame: str = _opt(None, "Image coordinate frame name."),
    reference_frame: str = _opt(None, "Reference coordinate frame name."),
    max_memory_gb: float = _opt(None, "Refuse output grids needing more memory."),
    optimization: str = _opt(None, "PLUS arithmetic: FULL, PARTIAL (doubles) or NONE."),
    pixel_rejection: float = _opt(None, "Insert no pixel darker (PixelRejectionThreshold)."),
    importance_mask: Path = _opt(None, "uint8 weights image (frame size): importance_mask."),
    skip_interval: int = _opt(None, "Insert every k-th frame (SkipInterval)."),
    image_name: str = image_name_option(),
    label_name: str = label_name_option(),
    as_json: bool = _opt(False, "Print JSON (a list of rows for a folder).", "--json"),
    quiet: bool = _opt(False, "No summary line, table or progress bar.", "--quiet", "-q"),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Compound tracked frames into a volume in the Reference frame, as PLUS does (pnn,
    with its clip rectangle, fan mask, compounding and hole filling) or voxel-based
    nearest neighbour with Gaussian hole filling (vnn, as the LEG-3D-US volumes were made).
    Grid options are (z, y, x) and mm; pixel options (row, column).

    Given a dataset folder, every subject with a sweeps/ folder is compounded into
    OUTPUT/<split>/<subject>/x1.mha (and labelsK.igs.mha into masksX1.mha), one subject
    per task; a subject that fails is listed, the others written, and the exit code is 2.

    Example: leg3dus compound s1.igs.mha s2.igs.mha --config calib.xml --method vnn -o x1.mha

    Example: leg3dus compound cohort -o compounded --method vnn --fill gaussian --workers 4
    """
    from ....compound import Options, PlusOverrides, compound_paths
    from ....sweep.qc import summary_text

    overrides = PlusOverrides.from_text(
        spacing_mm=spacing, origin_mm=origin, extent_vox=extent, clip_origin_px=clip_origin,
        clip_size_px=clip_size, fan_angles_deg=fan_angles, fan_origin_px=fan_origin,
        fan_radius_start_px=fan_radius_start, fan_radius_stop_px=fan_radius_stop,
        interpolation=interpolation, compounding=compounding, hole_filling=hole_element,
        image_frame=image_frame, reference_frame=reference_frame, optimization=optimization,
        pixel_rejection_threshold=pixel_rejection, importance_mask=importance_mask,
        skip_interval=skip_interval)
    options = Options(method=method, fill=fill, fill_size_vox=fill_size_vox,
                      fill_sigma_vox=fill_sigma_vox, max_distance_mm=max_distance_mm,
                      device=device, max_memory_gb=max_memory_gb)
    with progress_callback(quiet or as_json) as bar:
        done = compound_paths(sequences, output, config=config, overrides=overrides,
                              options=options, labels=labels, image_name=image_name,
                              label_name=label_name, scheduler=scheduler, workers=workers,
                              progress=bar)
    rows = done.get("subjects")
    if as_json:
        emit_json(done if rows is None else rows)
    elif not quiet and rows is None:
        say(f"{output}: {' x '.join(map(str, done['shape_zyx']))} voxels (z, y, x) from "
            f"{done['frames_used']}/{done['frames']} frames, {100 * done['coverage']:.1f}% "
            f"hit, {done['seconds']:.1f} s", summary_text(done["qc"]))
    elif not quiet:
        _print_tree(rows, output, image_name, label_name)
    exit_if_failed((r["subject"], r["error"]) for r in rows or [] if r["error"])


def _print_tree(rows: list[dict], output: Path, image_name: str, label_name: str) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("split", "subject", "frames", "shape zyx", "hit %", "labels hit %", "s"):
        left = col in ("split", "subject", "shape zyx")
        table.add_column(col, no_wrap=True, justify="left" if left else "right")
    for r in rows:
        lab = "-" if r.get("label_coverage") is None else f"{100 * r['label_coverage']:.1f}"
        table.add_row(r["split"] or "-", r["id"], *(("FAILED",) if r["error"] else (
            f"{r['frames_used']}/{r['frames']}", "x".join(map(str, r["shape_zyx"])),
            f"{100 * r['coverage']:.1f}", lab, f"{r['seconds']:.1f}")))
    console().print(table)
    ok = [r for r in rows if not r["error"]]
    if ok:
        names = ", ".join([image_name] + ([label_name] if ok[0]["labels"] else []))
        console().print(f"{len(ok)} subject(s) written to {output} (<split>/<subject>/{names})")
