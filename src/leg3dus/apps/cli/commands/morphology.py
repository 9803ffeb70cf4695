"""``leg3dus morphology``: muscle volumes, lengths and cross-section profiles of a cohort."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from ....morphology import AXIS_CHOICES, LEG_EXTENTS, measure_cohort
from ..app import (
    EXIT_USAGE,
    command,
    console,
    emit_json,
    flat_option,
    label_name_option,
    label_values_option,
    progress_callback,
    quiet_option,
    scheduler_option,
    workers_option,
)


@command("morphology")
def morphology(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree, a folder of subjects, or a "
                                "label volume."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the cohort table (one row per "
                             "subject and muscle) to this CSV."),
    profiles: Path = typer.Option(None, "--profiles", help="Write the cross-section "
                                  "profiles (one row per subject, muscle and slice) to this CSV."),
    summary_csv: Path = typer.Option(None, "--summary", help="Write the cohort summary "
                                     "(all, by sex, by side; failed subjects) to this CSV."),
    participants: Path = typer.Option(None, "--participants", help="CSV/TSV with a subject id "
                                      "column and sex/side columns; default: DATA/cohort.csv "
                                      "or DATA/participants.tsv when present."),
    leg_extent: str = typer.Option("labels", metavar="|".join(LEG_EXTENTS), help="100 % of "
                                   "leg length: 'labels' (extent of all muscles along the leg "
                                   "axis) or 'volume' (the whole grid)."),
    axis: str = typer.Option("auto", "--axis", metavar="|".join(AXIS_CHOICES), help="The leg "
                             "axis: 'auto' (the array axis closest to the superior-inferior "
                             "axis by the direction matrix) or array axis 0, 1, 2 (z, y, x)."),
    csa_at: str = typer.Option(None, "--csa-at", metavar="PCT,PCT", help="Also report each "
                               "muscle's CSA at these positions in % of leg length (e.g. "
                               "30,50,70), interpolated between slice centres."),
    with_image: bool = typer.Option(False, "--with-image", help="Read each subject's "
                                    "ultrasound too: the field of view along the leg ends "
                                    "where the image holds data, not at the grid's ends."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with profiles) instead of "
                                 "tables."),
    label_name: str = label_name_option(),
    label_values: str = label_values_option(),
    flat: bool = flat_option(),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Per subject and muscle: volume (cm3), length along the leg (mm), cross-sectional
    area profile (cm2 per slice), maximum cross-section and its position (% of leg
    length), centroid path; then a cohort summary split by sex and side when a
    participants table gives them. Cross-sections are perpendicular to the leg axis
    (--axis); an axis more than 5 degrees off the superior-inferior axis is measured
    anyway, with a warning and its angle (axis_oblique_deg). A muscle at an end of the
    field of view is flagged (fov_clipped). Label values that are not SOL/GM/GL are an
    error, never 0. Exit 2 when a subject failed (the others are measured and written).

    Example: leg3dus morphology LEG-3D-US -o morphology.csv --profiles csa.csv
    """
    with progress_callback(quiet) as update:
        result = measure_cohort(
            data, out=out, profiles=profiles, summary=summary_csv, participants=participants,
            leg_extent=leg_extent, csa_at=csa_at, with_image=with_image,
            label_values=label_values, label_name=label_name, flat=flat, axis=axis,
            scheduler=scheduler, workers=workers, progress=update)
    if as_json:
        emit_json(result.as_json())
    else:
        _print_tables(result)
        for line in result.notes():
            console().print(line, markup=False)
    for line in result.warnings():
        print(f"warning: {line}", file=sys.stderr)
    for line in result.failure_lines():
        print(f"error: {line}", file=sys.stderr)
    if result.failed:
        raise typer.Exit(EXIT_USAGE)


def _print_tables(result) -> None:
    from ....morphology.cohort import group_label

    out = console()
    table = Table(box=None, pad_edge=False)
    for col in ("split", "subject", "sex", "side", "muscle"):
        table.add_column(col)
    for col in ("cm3", "length mm", "max CSA cm2", "at %"):
        table.add_column(col, justify="right")
    for r in result.rows:
        table.add_row(r["split"] or "-", r["id"], r["sex"] or "-", r["side"] or "-",
                      r["muscle"], f"{r['volume_cm3']:.1f}", f"{r['length_mm']:.1f}",
                      f"{r['max_csa_cm2']:.2f}", f"{r['max_csa_position_pct']:.0f}")
    out.print(table)
    if result.participants:
        out.print(f"participants: {result.participants}")
    stats = Table(box=None, pad_edge=False, title="summary (mean +- sd)")
    for col in ("group", "muscle", "n", "absent", "failed", "volume cm3", "length mm",
                "max CSA cm2", "at %"):
        stats.add_column(col)
    for s in result.summary:
        if s["group"] == "failed" or not (s["n"] or s["n_absent"] or s["n_failed"]):
            continue
        stats.add_row(group_label(s), s["muscle"], str(s["n"]), str(s["n_absent"]),
                      str(s["n_failed"]),
                      *(f"{s[f'{k}_mean']:.{d}f} +- {s[f'{k}_sd']:.{d}f}" for k, d in
                        (("volume_cm3", 1), ("length_mm", 1), ("max_csa_cm2", 2),
                         ("max_csa_position_pct", 0))))
    out.print(stats)
