"""``leg3dus morphology``: muscle volumes, lengths and cross-section profiles of a cohort."""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from ....core.atomic import check_outputs
from ....core.errors import InputFileError, Leg3dusError, OptionError
from ....dataset import IMAGE_NAME
from ....dataset.info import list_subjects, subject_files
from ..app import (
    command,
    console,
    emit_json,
    flat_option,
    label_name_option,
    label_values_option,
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
    participants table gives them. A muscle that reaches the first or last slice of the
    field of view is flagged (fov_clipped): its length and volume are lower bounds.
    Label values that are not SOL/GM/GL (e.g. a 0/1/2/3 map without --label-values) are
    an error, never a measurement of 0. Exit 1 when a subject could not be measured.

    Example: leg3dus morphology LEG-3D-US -o morphology.csv --profiles csa.csv
    """
    from ....core.label_values import from_option
    from ....morphology import (
        cohort_rows,
        find_participants,
        measure_subject,
        profile_rows,
        read_participants,
        summarise,
        write_csv,
    )
    from ....morphology.cohort import check_leg_extent, group_label, parse_csa_at

    check_leg_extent(leg_extent)
    pcts = parse_csa_at(csa_at)
    convention = from_option(label_values)
    table_path = participants or find_participants(data)
    subjects = list_subjects(data, IMAGE_NAME, label_name, flat)
    check_outputs((out, profiles, summary_csv), [data, table_path, *subject_files(subjects)])
    people = read_participants(table_path) if table_path else {}
    if Path(data).is_file():
        subjects = [replace(s, image=None, label=s.image) for s in subjects]
    if not subjects:
        raise InputFileError(f"{data}: no subjects found (expected <split>/<id>/{label_name})")
    if with_image and Path(data).is_file():
        raise OptionError("--with-image needs a dataset tree (a subject's image beside its "
                          "labels), not a single label volume")
    job = functools.partial(measure_subject, leg_extent=leg_extent, label_values=convention,
                            csa_at=pcts, with_image=with_image, allow_stray=False)
    results = run_batch(job, subjects, scheduler, workers, "measuring", quiet)
    done = [r.value for r in results if r.ok]
    failed = [{"split": r.item.split, "id": r.item.id, "error": r.error}
              for r in results if not r.ok]
    if not done:
        # Nothing measured: one error line and exit 2, never an empty table that
        # looks like a result (e.g. a 0/1/2/3 label map read as the scheme).
        more = f" (and {len(failed) - 1} more subjects)" if len(failed) > 1 else ""
        raise Leg3dusError(f"{failed[0]['error']}{more}")
    rows = cohort_rows(done, people)
    summary = summarise(rows, n_failed=len(failed))
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
        _print_notes(done, rows)
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
            "label_values": r["label_values"], "muscles": muscles}


def _print_notes(done, rows) -> None:
    """The label convention(s) used and the muscles cut by the field of view."""
    from ....core.label_values import LabelConvention

    out = console()
    used = dict.fromkeys(LabelConvention.from_json(r["label_values"]).describe() for r in done)
    for line in used:
        out.print(line, markup=False)
    groups: dict[tuple, list[str]] = {}
    by_subject: dict[tuple, list[str]] = {}
    for r in rows:
        if r.get("fov_clipped"):
            key = (f"{r['split']}/{r['id']}" if r["split"] else r["id"], r["fov_clipped"])
            by_subject.setdefault(key, []).append(r["muscle"])
    for (subject, end), muscles in by_subject.items():
        groups.setdefault((", ".join(muscles), end), []).append(subject)
    where = {"first": "first slice", "last": "last slice", "both": "first and last slices"}
    for (muscles, end), subjects in groups.items():
        one = "," not in muscles
        who = ", ".join(subjects) if len(subjects) <= 4 else f"{len(subjects)} subjects"
        bound = "its length and volume are" if one else "their lengths and volumes are"
        out.print(f"note: {muscles} reach{'es' if one else ''} the {where[end]} of the field "
                  f"of view in {who}: {bound} lower bounds (column fov_clipped)", markup=False)


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
    for col in ("group", "muscle", "n", "absent", "failed", "volume cm3", "length mm",
                "max CSA cm2", "at %"):
        stats.add_column(col)
    for s in summary:
        if not (s["n"] or s["n_absent"] or s["n_failed"]):
            continue
        stats.add_row(group_label(s), s["muscle"], str(s["n"]), str(s["n_absent"]),
                      str(s["n_failed"]),
                      *(f"{s[f'{k}_mean']:.{d}f} +- {s[f'{k}_sd']:.{d}f}" for k, d in
                        (("volume_cm3", 1), ("length_mm", 1), ("max_csa_cm2", 2),
                         ("max_csa_position_pct", 0))))
    out.print(stats)
    for f in failed:
        out.print(f"{f['split'] or '-'}/{f['id']}: {f['error']}")
