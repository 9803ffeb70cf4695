"""``leg3dus validate``: check a dataset tree; exit 0 clean, 1 findings, 2 usage error."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import (
    EXIT_FINDINGS,
    command,
    emit_json,
    flat_option,
    image_name_option,
    label_name_option,
    label_values_option,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..progress import batch_runner
from ..tables import print_validation


@command("validate")
def validate(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree, a folder of subjects, or a volume."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    fix_stray: str = typer.Option(
        None, "--fix-stray", metavar="background|nearest",
        help="Write a complete copy of the dataset with stray label values set to "
             "background or to the nearest scheme value (needs --out; inputs are never "
             "modified)."),
    out: Path = typer.Option(None, "--out", help="Folder for the cleaned dataset."),
    rtol: float = typer.Option(1e-4, help="Relative tolerance of spacing and direction."),
    atol_mm: float = typer.Option(1e-3, "--atol-mm", help="Origin tolerance in mm."),
    iso_tol: float = typer.Option(0.05, help="Allowed relative spread of the spacing."),
    max_outside: float = typer.Option(0.05, "--max-outside", metavar="FRACTION",
                                      help="Largest fraction of a muscle's voxels allowed "
                                           "where the image has no data (0 in and around "
                                           "the voxel)."),
    image_name: str = image_name_option(),
    label_name: str = label_name_option(),
    label_values: str = label_values_option(),
    flat: bool = flat_option(),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Check that every image has its labels and the reverse, that each pair shares its
    grid, that label values are 0/100/150/200 (stray values counted), that SOL, GM and GL
    are present, that spacing is near-isotropic, that labels lie where the image has data
    and that no subject id is in two splits.
    Unreadable or truncated files are reported and the rest is still checked.

    Exit code: 0 no findings, 1 findings, 2 usage or input error.

    Example: leg3dus validate LEG-3D-US --fix-stray nearest --out LEG-3D-US-clean
    """
    from ....dataset.validate import CheckOptions, validate_paths

    options = CheckOptions(rtol=rtol, atol_mm=atol_mm, iso_tol=iso_tol, fix_stray=fix_stray,
                           out=out, root=data, max_outside=max_outside,
                           label_values=label_values)
    report = validate_paths(data, options, image_name=image_name, label_name=label_name,
                            flat=flat, runner=batch_runner(scheduler, workers, "checking",
                                                           quiet))
    if as_json:
        emit_json(report)
    else:
        print_validation(report)
    if report["findings"]:
        raise typer.Exit(EXIT_FINDINGS)
