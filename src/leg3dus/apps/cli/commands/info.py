"""``leg3dus info``: one row per subject with its grid, voxel type, size and muscle volumes."""

from __future__ import annotations

from pathlib import Path

import typer

from ....dataset.info import summary_line
from ..app import (
    command,
    console,
    emit_json,
    flat_option,
    image_name_option,
    label_name_option,
    label_values_option,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..output import exit_if_failed, say, warn
from ..progress import batch_runner
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
    from ....dataset.info import describe_paths

    result = describe_paths(data, image_name=image_name, label_name=label_name,
                            label_values=label_values, flat=flat,
                            runner=batch_runner(scheduler, workers, "reading", quiet))
    rows = result["subjects"]
    if as_json:
        emit_json({"subjects": rows, "summary": result["summary"]})
    else:
        console().print(info_table(rows))
        say(*("volumes from " + c for c in result["conventions"]),
            summary_line(result["summary"]))
    for r in rows:
        if "label_warning" in r:
            warn(r["label_warning"])
    exit_if_failed(result["failed"])
