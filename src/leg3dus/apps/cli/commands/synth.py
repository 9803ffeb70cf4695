"""``leg3dus synth``: write a synthetic calf cohort in the LEG-3D-US layout."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import (
    command,
    console,
    emit_json,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..output import exit_if_failed
from ..progress import batch_runner
from ..tables import synth_table


@command("synth")
def synth(
    out: Path = typer.Argument(..., help="Output folder (new, empty or a previous synth output)."),
    subjects: int = typer.Option(44, "--subjects", "-n", min=1, help="Number of subjects."),
    spacing: float = typer.Option(1.0, "--spacing-mm", "--spacing", help="Isotropic voxel "
                                  "size in mm (0.277 gives the dataset's full size)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the cohort (same seed, same files)."),
    fractions: tuple[float, float, float] = typer.Option(
        (0.7, 0.15, 0.15), "--fractions", metavar="TRAIN VAL TEST",
        help="Split fractions, summing to 1."),
    frequency: float = typer.Option(7.5, "--frequency", help="Probe frequency in MHz."),
    max_depth: float = typer.Option(90.0, "--max-depth-mm", "--max-depth",
                                    help="Imaging depth in mm."),
    compression_level: int = typer.Option(1, "--compression-level",
                                          help="zlib level of the .mha files (0 = none)."),
    as_json: bool = typer.Option(False, "--json", help="Print the cohort rows as JSON."),
    quiet: bool = quiet_option(),
    sweeps: bool = typer.Option(False, "--sweeps", help="Also write tracked sweeps (PLUS "
                                "sequence files + calibration) in <subject>/sweeps."),
    borders: bool = typer.Option(False, "--borders", help="Also write the true border "
                                 "volumes distinct_border_label.mha and "
                                 "completed_border_label.mha (border analysis)."),
    second: bool = typer.Option(False, "--second-acquisition",
                                help="Also write x2.mha (5 MHz, another field of view, a known "
                                     "rigid offset), masksX2.mha and x2_true.tfm for some "
                                     "subjects."),
    second_count: int = typer.Option(None, "--second-acquisition-subjects", min=0,
                                     help="How many subjects get one, spread over the cohort "
                                          "(default 15 of every 44)."),
    sparse_every_mm: float = typer.Option(None, "--sparse-every-mm", help="Also write "
                                          "simulated sparse annotations (sparseX1.mha, "
                                          "sparseX1_slices.txt) every this many mm."),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Write OUT/{train,val,test}/<subject>/x1.mha (B-mode) and masksX1.mha (labels
    0/100/150/200), and OUT/cohort.csv with each subject's parameters and true muscle
    volumes (cm3). A 44-subject cohort has 22 F / 22 M and 20 left / 24 right legs.

    Example: leg3dus synth synthetic --subjects 8 --spacing 1.0 --seed 0
    """
    from ....phantom.bmode import Probe
    from ....phantom.synth import synthesise

    done = synthesise(out, subjects, spacing_mm=spacing, seed=seed, fractions=fractions,
                      probe=Probe(frequency_mhz=frequency, max_depth_mm=max_depth),
                      compression_level=compression_level, sweeps=sweeps, borders=borders,
                      second=second, second_count=second_count,
                      sparse_every_mm=sparse_every_mm,
                      runner=batch_runner(scheduler, workers, quiet=quiet))
    rows = done.rows
    exit_if_failed(done.failed)
    if as_json:
        emit_json({"out": str(out), "subjects": rows})
        return
    if quiet:
        return
    con = console()
    con.print(synth_table(rows))
    con.print(f"{len(rows)} subjects written to {out} (cohort.csv holds their parameters)")
