"""``leg3dus propagate``: dense 3D labels from sparse 2D annotations (ZOI, sdf, morph)."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import typer

from ..app import (
    EXIT_FINDINGS,
    command,
    console,
    emit_json,
    label_values_option,
    quiet_option,
    run_batch,
    scheduler_option,
    workers_option,
)

_METHODS = ("zoi", "sdf", "morph")


def propagate_file(paths: tuple[Path, Path], method: str, axis: int, annotated, options: dict,
                   compress: bool = True, label_values=None) -> dict:
    """Read sparse labels from ``paths[0]``, fill them, write ``paths[1]``; a summary.

    ``label_values`` (or the file's label table) maps the sparse labels to the scheme
    (:func:`leg3dus.core.label_values.read_labels`); the output holds 0/100/150/200."""
    from ....core.atomic import check_not_input
    from ....core.label_values import read_labels
    from ....core.labels import muscle_volumes_cm3, value_counts
    from ....core.volume_io import write_volume
    from ....propagate import check_sparse, parse_annotated, propagate

    src, dst = paths
    check_not_input(dst, [src])
    vol, convention = read_labels(src, label_values)
    wanted = parse_annotated(annotated)
    try:
        idx, _ = check_sparse(vol.array, wanted, axis)
        start = time.perf_counter()
        out = propagate(vol, method, axis=axis, annotated=idx, **options)
    except Exception as exc:
        from ....core.errors import Leg3dusError

        if isinstance(exc, Leg3dusError):
            raise type(exc)(f"{src}: {exc}") from None
        raise
    seconds = time.perf_counter() - start
    write_volume(out, dst, compress=compress)
    return {"input": str(src), "output": str(dst), "method": method, "axis": axis,
            "annotated": len(idx), "first": int(idx[0]), "last": int(idx[-1]),
            "seconds": round(seconds, 3), "label_values": convention.as_json(),
            "volumes_cm3": muscle_volumes_cm3(out.array, out.spacing, value_counts(out.array))}


def _pairs(sparse: Path, out: Path, label_name: str) -> list[tuple[Path, Path]]:
    from ....core.errors import InputFileError
    from ....dataset import find_subjects

    if sparse.is_file() or not sparse.exists():
        return [(sparse, out)]
    subjects = [s for s in find_subjects(sparse, label_name=label_name) if s.label is not None]
    if not subjects:
        raise InputFileError(f"{sparse}: no label files named {label_name!r} found; expected "
                             f"<split>/<subject>/{label_name}")
    return [(s.label, out / s.label.relative_to(sparse)) for s in subjects]


@command("propagate")
def propagate_cmd(
    sparse: Path = typer.Argument(..., help="Sparse label volume, or a dataset tree of them."),
    output: Path = typer.Option(..., "-o", "--output",
                                help="Output volume, or output folder for a tree."),
    method: str = typer.Option("sdf", "--method", "-m", help="zoi, sdf or morph."),
    axis: int = typer.Option(0, "--axis", help="Axis of the annotated slices (0 z, 1 y, 2 x)."),
    annotated: str = typer.Option(
        None, "--annotated", metavar="FILE|INDICES",
        help="Annotated slices: a text file or '0,20,40' / '0:1443:20'. Default: every "
             "slice holding a label."),
    sigma: float = typer.Option(None, "--sigma", help="zoi: Gaussian sigma in mm (default 1; "
                                                      "0 = pure zero-order)."),
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
    by --label-values or their label table.

    Example: leg3dus propagate sparse.mha -o dense.mha --method zoi --sigma 1
    """
    import inspect

    from ....core.errors import OptionError
    from ....core.label_values import LabelConvention, from_option
    from ....propagate import METHODS

    if method not in _METHODS:
        raise OptionError(f"unknown --method {method!r}; expected one of {', '.join(_METHODS)}")
    given = {"sigma": sigma, "one_side": one_side, "equal_area": equal_area, "ties": ties,
             "keep_annotated": keep_annotated, "align": align}
    options = {k: v for k, v in given.items() if v is not None}
    accepted = inspect.signature(METHODS[method]).parameters
    bad = [k for k in options if k not in accepted]
    if bad:
        flags = ", ".join("--" + k.replace("_", "-") for k in bad)
        raise OptionError(f"{flags} do(es) not apply to --method {method}")
    if annotated is not None and not Path(annotated).is_file():
        from ....propagate import parse_annotated

        parse_annotated(annotated)  # fail early on a malformed list
    pairs = _pairs(sparse, output, label_name)
    from ....core.atomic import check_outputs

    listed = [annotated] if annotated is not None and Path(annotated).is_file() else []
    check_outputs([dst for _, dst in pairs], [sparse, *listed, *(src for src, _ in pairs)])
    job = functools.partial(propagate_file, method=method, axis=axis, annotated=annotated,
                            options=options, label_values=from_option(label_values))
    if len(pairs) == 1:
        rows = [job(pairs[0])]
        failed = []
    else:
        results = run_batch(job, pairs, scheduler, workers, "propagating", quiet)
        rows = [r.value for r in results if r.ok]
        failed = [{"input": str(r.item[0]), "error": r.error} for r in results if not r.ok]
    if as_json:
        emit_json({"results": rows, "failed": failed})
    else:
        out = console()
        for r in rows:
            vols = ", ".join(f"{k} {v:.2f}" for k, v in r["volumes_cm3"].items())
            out.print(f"{r['output']}: {r['method']} from {r['annotated']} slices "
                      f"({r['first']}..{r['last']}) in {r['seconds']:.1f} s; cm3: {vols}")
            out.print(f"  read as {LabelConvention.from_json(r['label_values']).describe()}",
                      markup=False)
        for f in failed:
            out.print(f"{f['input']}: FAILED: {f['error']}")
    if failed:
        raise typer.Exit(EXIT_FINDINGS if rows else 2)
