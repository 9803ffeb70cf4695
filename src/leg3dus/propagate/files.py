"""Propagating label files, as ``leg3dus propagate`` does: one sparse label file, or every
subject's label file in a dataset tree (the output folder mirrors its layout).

A batch fills every subject it can and writes its output; a subject that fails is a
``failed`` row with its error, and the others are still written.
"""

from __future__ import annotations

import functools
import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path

from ..core.annotated import parse_annotated
from ..core.errors import InputFileError, Leg3dusError, OptionError
from ..core.layout import LABEL_NAME
from .common import check_sparse

PathLike = str | os.PathLike


def check_options(method: str, options: dict) -> dict:
    """The ``options`` that were given (not None), checked against ``method``'s parameters;
    :class:`OptionError` names the flags that do not apply.

    >>> check_options("zoi", {"sigma_mm": 0.5, "align": None})
    {'sigma_mm': 0.5}
    """
    from . import METHODS

    if method not in METHODS:
        raise OptionError(f"unknown --method {method!r}; expected one of {', '.join(METHODS)}")
    given = {k: v for k, v in options.items() if v is not None}
    accepted = inspect.signature(METHODS[method]).parameters
    bad = [k for k in given if k not in accepted]
    if bad:
        flags = ", ".join("--" + k.replace("_", "-") for k in bad)
        raise OptionError(f"{flags} do(es) not apply to --method {method}")
    return given


def propagate_file(paths: tuple[Path, Path], method: str, axis: int, annotated, options: dict,
                   compress: bool = True, label_values=None) -> dict:
    """Read sparse labels from ``paths[0]``, fill them, write ``paths[1]``; a summary row.

    ``label_values`` (or the file's label table) maps the sparse labels to the scheme
    (:func:`leg3dus.core.label_values.read_labels`); the output holds 0/100/150/200. A
    module-level function, so that Dask workers can run it.
    """
    from ..core.atomic import check_not_input
    from ..core.label_values import read_labels
    from ..core.labels import muscle_volumes_cm3, value_counts
    from ..core.volume_io import write_volume
    from . import propagate

    src, dst = paths
    check_not_input(dst, [src])
    vol, convention = read_labels(src, label_values)
    wanted = parse_annotated(annotated)
    try:
        idx, _ = check_sparse(vol.array, wanted, axis)
        start = time.perf_counter()
        out = propagate(vol, method, axis=axis, annotated=idx, **options)
    except Leg3dusError as exc:
        raise type(exc)(f"{src}: {exc}") from None
    seconds = time.perf_counter() - start
    write_volume(out, dst, compress=compress)
    return {"input": str(src), "output": str(dst), "method": method, "axis": axis,
            "annotated": len(idx), "first": int(idx[0]), "last": int(idx[-1]),
            "seconds": round(seconds, 3), "label_values": convention.as_json(),
            "volumes_cm3": muscle_volumes_cm3(out.array, out.spacing, value_counts(out.array))}


def file_pairs(sparse: PathLike, output: PathLike, label_name: str = LABEL_NAME
               ) -> list[tuple[Path, Path]]:
    """``(input, output)`` label files: ``sparse`` itself, or every subject's
    ``label_name`` under the tree ``sparse``, written at the same place under ``output``."""
    from ..core.layout import find_subjects

    sparse, output = Path(sparse), Path(output)
    if sparse.is_file() or not sparse.exists():
        return [(sparse, output)]
    subjects = [s for s in find_subjects(sparse, label_name=label_name) if s.label is not None]
    if not subjects:
        raise InputFileError(f"{sparse}: no label files named {label_name!r} found; expected "
                             f"<split>/<subject>/{label_name}")
    return [(s.label, output / s.label.relative_to(sparse)) for s in subjects]


def propagate_paths(
    sparse: PathLike,
    output: PathLike,
    method: str = "sdf",
    *,
    axis: int = 0,
    annotated: str | None = None,
    options: dict | None = None,
    label_name: str = LABEL_NAME,
    label_values=None,
    runner: Callable | None = None,
) -> dict:
    """Fill one sparse label file, or every subject's label file of a dataset tree.

    Parameters
    ----------
    sparse, output
        A label file and the output file, or a tree and the output folder.
    method, axis, options
        As :func:`leg3dus.propagate.propagate` (``options`` given as None are left out;
        :func:`check_options`).
    annotated
        A text file of slice indices, or ``"0,20,40"`` / ``"0:1443:20"``; None takes
        every slice holding a label (:func:`parse_annotated`).
    label_name, label_values
        The label file name in a tree, and the label convention (a ``--label-values``
        text or a :class:`~leg3dus.core.label_values.LabelConvention`).
    runner
        ``runner(fn, items)`` returning :class:`~leg3dus.core.parallel.JobResult` records
        (default :func:`leg3dus.core.parallel.map_subjects` in this process).

    Returns ``{"results": [rows], "failed": [{"input", "error"}]}``. A single file that
    fails raises its error; in a tree every subject runs and the failures are listed.

    Examples
    --------
    >>> propagate_paths("sparse.mha", "dense.mha", "zoi", options={"sigma_mm": 1.0})
    ... # doctest: +SKIP
    """
    from ..core.atomic import check_outputs
    from ..core.label_values import LabelConvention, from_option
    from ..core.parallel import map_subjects

    options = check_options(method, options or {})
    listed = []
    if annotated is not None:
        if Path(annotated).is_file():
            listed = [annotated]
        else:
            parse_annotated(annotated)  # fail early on a malformed list
    if label_values is not None and not isinstance(label_values, LabelConvention):
        label_values = from_option(label_values)
    pairs = file_pairs(sparse, output, label_name)
    check_outputs([dst for _, dst in pairs], [sparse, *listed, *(src for src, _ in pairs)])
    job = functools.partial(propagate_file, method=method, axis=axis, annotated=annotated,
                            options=options, label_values=label_values)
    if len(pairs) == 1 and Path(sparse) == pairs[0][0]:
        return {"results": [job(pairs[0])], "failed": []}
    results = (runner or map_subjects)(job, pairs)
    return {"results": [r.value for r in results if r.ok],
            "failed": [{"input": str(r.item[0]), "error": r.error}
                       for r in results if not r.ok]}

