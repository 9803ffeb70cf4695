"""``leg3dus morphology``: muscle volumes, lengths and cross-section profiles of a cohort."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from ...atomic import check_outputs
from ...dataset import IMAGE_NAME
from ...dataset.info import list_subjects, subject_files
from ...errors import InputFileError
from ..app import (
    command,
    console,
    emit_json,
    flat_option,
    label_name_option,
    quiet_option,
    run_batch,
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
                                     "(all, by sex, by side) to this CSV."),
    participants: Path = typer.Option(None, "--participants", help="CSV/TSV with a subject id "
                                      "column and sex/side columns; default: DATA/cohort.csv "
                                      "or DATA/participants.tsv when present."),
    leg_extent: str = typer.Option("labels", help="100 % of leg length: 'labels' (extent of "
                                   "all muscles along axis 0) or 'volume' (the whole grid)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with profiles) instead of "
                                 "tables."),
    label_name: str = label_name_option(),
    flat: bool = flat_option(),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Per subject and muscle: volume (cm3), length along the leg (mm), cross-sectional
    area profile (cm2 per slice), maximum cross-section and its position (% of leg
    length), centroid path; then a cohort summary split by sex and side when a
    participants table gives them. Exit 1 when a subject could not be measured.

    Example: leg3dus morphology LEG-3D-US -o morphology.csv --profiles csa.csv
    """
    from ...morphology import (
        cohort_rows,
        find_participants,
        measure_subject,
        profile_rows,
        read_participants,
        summarise,
        write_csv,
    )
    from ...morphology.cohort import check_leg_extent, group_label

    check_leg_extent(leg_extent)
    table_path = participants or find_participants(data)
    subjects = list_subjects(data, IMAGE_NAME, label_name, flat)
    check_outputs((out, profiles, summary_csv), [data, table_path, *subject_files(subjects)])
    people = read_participants(table_path) if table_path else {}
    if Path(data).is_file():
        subjects = [replace(s, image=None, label=s.image) for s in subjects]
    if not subjects:
        raise InputFileError(f"{data}: no subjects found (expected <split>/<id>/{label_name})")
    job = functools.partial(measure_subject, leg_extent=leg_extent)
    results = run_batch(job, subjects, scheduler, workers, "measuring", quiet)
    done = [r.value for r in results if r.ok]
    failed = [{"split": r.item.split, "id": r.item.id, "error": r.error}
              for r in results if not r.ok]
    rows = cohort_rows(done, people)
    summary = summarise(rows)
    if out:
        write_csv(rows, out)
    if profiles:
        write_csv(profile_rows(done), profiles)
    if summary_csv:
        write_csv(summary, summary_csv)
    if as_json:
        emit_json({"participants": str(table_path) if table_path else None,
                   "subjects": [_subject_json(r) for r in done], "rows": rows,
                   "summary": summary, "errors": failed})
    else:
        _print_tables(rows, summary, failed, table_path, group_label)
    if failed:
        raise typer.Exit(1)


def _subject_json(r: dict) -> dict:
    morph = r["morphology"]
    muscles = {}
    for name, m in morph.muscles.items():
        entry = m.row()
        if m.present:
            ks = list(range(m.first_slice, m.last_slice + 1))
            entry["profile"] = {"slice": ks, "position_pct": morph.position_pct(ks),
                                "csa_cm2": m.csa_cm2[ks], "centroid_mm": m.centroids_mm[ks]}
        muscles[name] = entry
    return {"split": r["split"], "id": r["id"], "label": r["label"], "shape": r["shape"],
            "spacing": r["spacing"], "leg_extent": morph.leg_extent,
            "leg_length_mm": morph.leg_length_mm, "stray_values": r["stray"],
            "muscles": muscles}


def _print_tables(rows, summary, failed, table_path, group_label) -> None:
    out = console()
    table = Table(box=None, pad_edge=False)
    for col in ("split", "subject", "sex", "side", "muscle", "cm3", "length mm",
                "max CSA cm2", "at %"):
        table.add_column(col, justify="right" if col[0].isdigit() or " " in col or col in
                         ("cm3", "at %") else "left")
    for r in rows:
        table.add_row(r["split"] or "-", r["id"], r["sex"] or "-", r["side"] or "-",
                      r["muscle"], f"{r['volume_cm3']:.1f}", f"{r['length_mm']:.1f}",
                      f"{r['max_csa_cm2']:.2f}", f"{r['max_csa_position_pct']:.0f}")
    out.print(table)
    if table_path:
        out.print(f"participants: {table_path}")
    stats = Table(box=None, pad_edge=False, title="summary (mean +- sd)")
    for col in ("group", "muscle", "n", "volume cm3", "length mm", "max CSA cm2", "at %"):
        stats.add_column(col)
    for s in summary:
        if not s["n"]:
            continue
        stats.add_row(group_label(s), s["muscle"], str(s["n"]),
                      *(f"{s[f'{k}_mean']:.{d}f} +- {s[f'{k}_sd']:.{d}f}" for k, d in
                        (("volume_cm3", 1), ("length_mm", 1), ("max_csa_cm2", 2),
                         ("max_csa_position_pct", 0))))
    out.print(stats)
    for f in failed:
        out.print(f"{f['split'] or '-'}/{f['id']}: {f['error']}")
