"""``leg3dus info``: one row per subject with its grid, voxel type, size and muscle volumes."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ...dataset import IMAGE_NAME, LABEL_NAME
from ...dataset.info import describe_subject, list_subjects, summarise, summary_line
from ..app import command, console, emit_json, run_batch, scheduler_option, workers_option


@command("info")
def info(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree, a folder of subjects, or a volume."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    image_name: str = typer.Option(IMAGE_NAME, help="Image file name in a subject folder."),
    label_name: str = typer.Option(LABEL_NAME, help="Label file name in a subject folder."),
    flat: bool = typer.Option(False, help="DATA is a flat folder; names are patterns with {id}."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Describe every subject: split, shape, spacing, voxel type, file size, label values
    and muscle volumes (cm3), then a cohort summary line.

    Example: leg3dus info LEG-3D-US --json
    """
    subjects = list_subjects(data, image_name, label_name, flat)
    results = run_batch(describe_subject, subjects, scheduler, workers, "reading", quiet)
    rows = [r.value if r.ok else {"split": r.item.split, "id": r.item.id, "file_mb": 0.0,
                                  "error": r.error} for r in results]
    summary = summarise(rows)
    if as_json:
        emit_json({"subjects": rows, "summary": summary})
        return
    table = Table(box=None, pad_edge=False)
    for col in ("split", "subject", "shape (z,y,x)", "spacing mm", "dtype", "MB",
                "labels", "SOL cm3", "GM cm3", "GL cm3"):
        table.add_column(col, justify="right" if "cm3" in col or col == "MB" else "left")
    for r in rows:
        vols = r.get("volumes_cm3") or {}
        table.add_row(
            r["split"] or "-", r["id"],
            "x".join(str(n) for n in r["shape"]) if r.get("shape") else "?",
            "/".join(f"{s:.3f}" for s in r["spacing"]) if r.get("spacing") else "?",
            r.get("dtype") or "?", f"{r['file_mb']:.1f}",
            " ".join(str(v) for v in r.get("label_values") or []) or "-",
            *(f"{vols[m]:.1f}" if m in vols else "-" for m in ("SOL", "GM", "GL")),
        )
    out = console()
    out.print(table)
    out.print(summary_line(summary))
