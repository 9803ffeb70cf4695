"""``leg3dus qc``: acquisition quality control of tracked sweeps before compounding."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import EXIT_FINDINGS, command, console, emit_json


@command("qc")
def qc(
    sweeps: list[Path] = typer.Argument(..., metavar="SWEEPS", help="PLUS sequence files, "
                                        "one per sweep, neighbours in order; or one sweeps "
                                        "folder (sweepK.igs.mha, labelsK.igs.mha, "
                                        "calibration.xml)."),
    config: Path = typer.Option(None, "--config", help="PLUS configuration XML (default: the "
                                "folder's calibration.xml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    out: Path = typer.Option(None, "--out", help="Write an HTML report here."),
    hits: Path = typer.Option(None, "--hits", help="Write the hit-count map (uint32 volume)."),
    figure: Path = typer.Option(None, "--figure", help="Write the coverage figure (PNG)."),
    spacing: float = typer.Option(1.0, "--spacing-mm", "--spacing",
                                  help="QC grid spacing in mm (0: the configuration's)."),
    bridge_mm: float = typer.Option(None, help="Distance hole filling bridges, mm (default: "
                                    "two voxels of the configuration's spacing)."),
    gap_mm: float = typer.Option(2.0, help="Flag successive frames further apart, mm."),
    max_speed: float = typer.Option(50.0, help="Flag faster probe motion, mm/s."),
    jump_speed: float = typer.Option(150.0, help="A tracking jump moves faster, mm/s."),
    jump_turn: float = typer.Option(90.0, help="A tracking jump turns faster, degrees/s."),
    ncc_min: float = typer.Option(0.3, help="Flag neighbour bands with a lower NCC."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary on screen."),
) -> None:
    """Check tracked sweeps: per sweep frames, invalid frames, frame spacing, probe speed,
    gaps, tracking jumps and fast stretches; over all sweeps the coverage of the output
    grid (hit counts, holes hole filling cannot bridge) and the agreement (NCC) of
    neighbouring sweeps. Exits 1 when it finds something.

    Example: leg3dus qc P001/sweeps --out qc.html --figure qc.png
    """
    from ....compound.batch import CONFIG_NAME, IMAGE_GLOBS, LABEL_GLOBS, sequence_files
    from ....core.atomic import check_not_input
    from ....core.errors import InputFileError, OptionError
    from ....core.volume import Volume
    from ....core.volume_io import write_volume
    from ....sweep import read_config, read_sequence
    from ....sweep.qc import QcLimits
    from ....sweep.qc_report import qc_figure, report_json, run_qc, summary_line, write_qc_html

    labels = []
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
    if spacing < 0:
        raise OptionError(f"--spacing must be >= 0, found {spacing}")
    for path in (out, hits, figure):
        if path is not None:
            check_not_input(path, [*sweeps, *labels, config])
    cfg = read_config(config) if config else None
    seqs = [(s.name.split(".")[0], read_sequence(s)) for s in sweeps]
    lab = [read_sequence(s) for s in labels] if len(labels) == len(sweeps) else None
    limits = QcLimits(gap_mm, max_speed, jump_speed, jump_turn)
    report = run_qc(seqs, cfg, limits, spacing or None, bridge_mm, ncc_min,
                    label_sweeps=lab)
    if hits is not None:
        g = report["grid"]
        write_volume(Volume(report["hits"], g["spacing_zyx"], g["origin_zyx"]), hits)
    if figure is not None:
        qc_figure(report, figure)
    if out is not None:
        write_qc_html(report, out)
    if as_json:
        emit_json(report_json(report))
    elif not quiet:
        console().print(summary_line(report))
        for line in report["findings"]:
            console().print(f"  {line}")
    if not report["ok"]:
        raise typer.Exit(EXIT_FINDINGS)
