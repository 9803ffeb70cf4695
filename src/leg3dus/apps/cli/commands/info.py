"""``leg3dus info``: one row per subject with its grid, voxel type, size and muscle volumes."""

from __future__ import annotations

from pathlib import Path

import typer

from ....core.layout import list_subjects, single_volume_roles
from ....dataset.info import describe_subject, summarise, summary_line
from ..app import (
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
from ..output import exit_if_failed, say, warn
from ..tables import info_table


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
    import functools

    from ....core.label_values import LabelConvention, from_option

    subjects = single_volume_roles(list_subjects(data, image_name, label_name, flat), data,
                                   label_name)
    job = functools.partial(describe_subject, label_values=from_option(label_values))
    results = run_batch(job, subjects, scheduler, workers, "reading", quiet)
    rows = [r.value if r.ok else {"split": r.item.split, "id": r.item.id, "file_mb": 0.0,
                                  "error": r.error} for r in results]
    summary = summarise(rows)
    if as_json:
        emit_json({"subjects": rows, "summary": summary})
    else:
        console().print(info_table(rows))
        say(*dict.fromkeys("volumes from " + LabelConvention.from_json(
            r["label_convention"]).describe() for r in rows if "label_convention" in r),
            summary_line(summary))
    for r in rows:
        if "label_warning" in r:
            warn(r["label_warning"])
    exit_if_failed((f"{r['split']}/{r['id']}" if r["split"] else r["id"], r["error"])
                   for r in rows if "error" in r)
