"""``leg3dus info``: one row per subject with its grid, voxel type, size and muscle volumes."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from ....dataset.info import (
    describe_subject,
    list_subjects,
    single_volume_roles,
    summarise,
    summary_line,
)
from ..app import (
    EXIT_USAGE,
    command,
    console,
    emit_json,
    flat_option,
    image_name_option,
    label_name_option,
    label_values_option,
    quiet_option,
    run_batch,
    scheduler_option,
    workers_option,
)


@command("info")
def info(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree, a folder of subjects, or a volume."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    image_name: str = image_name_option(),
    label_name: str = label_name_option(),
    label_values: str = label_values_option(),
    flat: bool = flat_option(),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Describe every subject: split, shape, spacing, voxel type, file size, label values
    and muscle volumes (cm3), then a cohort summary line.

    DATA may also be a single volume file (or .zarr folder): its grid is shown, and its
    label values when its name says it holds labels (mask, label, seg).

    A file that cannot be read (truncated, wrong format) is listed with its problem and
    the other subjects are still described; the exit code is then 2 (input error).

    Example: leg3dus info LEG-3D-US --json
    """
    subjects = single_volume_roles(list_subjects(data, image_name, label_name, flat), data,
                                   label_name)
    import functools

    from ....core.label_values import LabelConvention, from_option

    job = functools.partial(describe_subject, label_values=from_option(label_values))
    results = run_batch(job, subjects, scheduler, workers, "reading", quiet)
    rows = [r.value if r.ok else {"split": r.item.split, "id": r.item.id, "file_mb": 0.0,
                                  "error": r.error} for r in results]
    summary = summarise(rows)
    if as_json:
        emit_json({"subjects": rows, "summary": summary})
    else:
        out = console()
        out.print(_table(rows))
        for line in dict.fromkeys(LabelConvention.from_json(r["label_convention"]).describe()
                                  for r in rows if "label_convention" in r):
            out.print(f"volumes from {line}", markup=False)
        out.print(summary_line(summary), markup=False)
    for r in rows:
        if "label_warning" in r:
            print(f"warning: {' '.join(r['label_warning'].split())}", file=sys.stderr)
    failed = [r for r in rows if "error" in r]
    for r in failed:
        where = f"{r['split']}/{r['id']}" if r["split"] else r["id"]
        print(f"error: {where}: {' '.join(r['error'].split())}", file=sys.stderr)
    if failed:
        raise typer.Exit(EXIT_USAGE)


def _spacing(spacing) -> str:
    # One number when isotropic (the dataset's case) keeps the table within 80 columns.
    if max(spacing) <= min(spacing) * 1.005:
        return f"{spacing[0]:.3f}"
    return "/".join(f"{s:.3g}" for s in spacing)


def _table(rows: list[dict]) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0),
                  caption="spacing in mm (z/y/x when not isotropic), muscle volumes in cm3",
                  caption_justify="left")
    for col in ("split", "subject", "shape z,y,x", "spacing", "dtype", "MB", "labels",
                "SOL", "GM", "GL"):
        table.add_column(col, justify="right" if col in ("MB", "SOL", "GM", "GL") else "left",
                         overflow="fold")
    for r in rows:
        vols = r.get("volumes_cm3") or {}
        table.add_row(
            r["split"] or "-", r["id"],
            "x".join(str(n) for n in r["shape"]) if r.get("shape") else "?",
            _spacing(r["spacing"]) if r.get("spacing") else "?",
            r.get("dtype") or "?", f"{r['file_mb']:.1f}",
            ",".join(str(v) for v in r.get("label_values") or []) or "-",
            *(f"{vols[m]:.1f}" if m in vols else "-" for m in ("SOL", "GM", "GL")),
        )
    return table
