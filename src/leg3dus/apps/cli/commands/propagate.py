"""``leg3dus propagate``: dense 3D labels from sparse 2D annotations (ZOI, sdf, morph)."""

from __future__ import annotations

from pathlib import Path

import typer

from ....propagate import METHODS
from ..app import (
    batch_runner,
    command,
    console,
    emit_json,
    label_values_option,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..output import exit_if_failed


@command("propagate")
def propagate_cmd(
    sparse: Path = typer.Argument(..., help="Sparse label volume, or a dataset tree of them."),
    output: Path = typer.Option(..., "-o", "--output",
                                help="Output volume, or output folder for a tree."),
    method: str = typer.Option("sdf", "--method", "-m", help=", ".join(METHODS) + "."),
    axis: int = typer.Option(0, "--axis", help="Axis of the annotated slices (0 z, 1 y, 2 x)."),
    annotated: str = typer.Option(
        None, "--annotated", metavar="FILE|INDICES",
        help="Annotated slices: a text file or '0,20,40' / '0:1443:20'. Default: every "
             "slice holding a label."),
    sigma_mm: float = typer.Option(None, "--sigma-mm", help="zoi: Gaussian sigma in mm "
                                                            "(default 1; 0 = pure zero-order)."),
    one_side: str = typer.Option(
        None, "--one-side", help="A label on one side of a gap only: stop, half, copy "
                                 "(zoi default stop) or taper (sdf only, its default)."),
    equal_area: str = typer.Option(None, "--equal-area",
                                   help="zoi: mask copied when both have equal size: lower "
                                        "or upper slice (default lower)."),
    ties: str = typer.Option(None, "--ties", help="zoi: exact background/label ties go to "
                                                  "'background' (default) or 'label'."),
    keep_annotated: bool = typer.Option(None, "--keep-annotated/--smooth-annotated",
                                        help="zoi: put annotated slices back after smoothing "
                                             "(default: smooth them too, as the datasheet)."),
    align: bool = typer.Option(None, "--align/--no-align",
                               help="sdf: move shapes along their centroid path."),
    label_name: str = typer.Option("masksX1.mha", help="Label file name in a tree."),
    label_values: str = label_values_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Fill the slices between annotated ones: ZOI (zero-order copy of the smaller mask,
    then Gaussian smoothing), sdf (signed-distance shape interpolation) or morph (ITK's
    morphological contour interpolation). Output keeps the input's geometry and holds
    0/100/150/200: sparse labels in another convention (e.g. drawn as 1/2/3) are mapped
    by --label-values or their label table. In a tree every subject is filled; any that
    fails is listed (one error line each) and the command exits 2.

    Example: leg3dus propagate sparse.mha -o dense.mha --method zoi --sigma-mm 1
    """
    from ....core.label_values import LabelConvention
    from ....propagate import propagate_paths

    options = {"sigma_mm": sigma_mm, "one_side": one_side, "equal_area": equal_area,
               "ties": ties, "keep_annotated": keep_annotated, "align": align}
    done = propagate_paths(sparse, output, method, axis=axis, annotated=annotated,
                           options=options, label_name=label_name, label_values=label_values,
                           runner=batch_runner(scheduler, workers, "propagating", quiet))
    if as_json:
        emit_json(done)
    else:
        out = console()
        for r in done["results"]:
            vols = ", ".join(f"{k} {v:.2f}" for k, v in r["volumes_cm3"].items())
            out.print(f"{r['output']}: {r['method']} from {r['annotated']} slices "
                      f"({r['first']}..{r['last']}) in {r['seconds']:.1f} s; cm3: {vols}")
            out.print(f"  read as {LabelConvention.from_json(r['label_values']).describe()}",
                      markup=False)
    exit_if_failed((f["input"], f["error"]) for f in done["failed"])
