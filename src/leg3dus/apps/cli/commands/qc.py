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
    from ....sweep.qc import QcLimits
    from ....sweep.qc_files import qc_paths
    from ....sweep.qc_report import report_json, summary_line

    report = qc_paths(sweeps, config=config, out=out, hits=hits, figure=figure,
                      spacing_mm=spacing, bridge_mm=bridge_mm, ncc_min=ncc_min,
                      limits=QcLimits(gap_mm, max_speed, jump_speed, jump_turn))
    if as_json:
        emit_json(report_json(report))
    elif not quiet:
        console().print(summary_line(report))
        for line in report["findings"]:
            console().print(f"  {line}")
    if not report["ok"]:
        raise typer.Exit(EXIT_FINDINGS)
