"""Which slices of a sparse label volume are annotated.

A sparse annotation is a (z, y, x) label volume in which only some slices along an
``axis`` (0 = along the leg) were drawn; an annotated slice may be empty (it says that no
muscle is there), so a list of annotated indices can travel beside the volume.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import LabelError, OptionError
from .labels import BACKGROUND


def check_axis(axis: int, ndim: int = 3) -> int:
    """``axis`` as a non-negative int, or raise :class:`OptionError`."""
    if not -ndim <= int(axis) < ndim:
        raise OptionError(f"axis must be one of 0, 1, 2 (z, y, x), found {axis}")
    return int(axis) % ndim


def annotated_slices(labels: np.ndarray, axis: int = 0) -> np.ndarray:
    """Indices of the slices along ``axis`` that hold any non-background voxel.

    Examples
    --------
    >>> a = np.zeros((5, 2, 2), np.uint8); a[1, 0, 0] = a[4, 1, 1] = 100
    >>> annotated_slices(a).tolist()
    [1, 4]
    """
    axis = check_axis(axis, labels.ndim)
    others = tuple(i for i in range(labels.ndim) if i != axis)
    return np.flatnonzero(np.any(labels != BACKGROUND, axis=others))


def annotated_indices(labels: np.ndarray, annotated: Iterable[int] | None = None,
                      axis: int = 0) -> np.ndarray:
    """The sorted annotated slice indices along ``axis``: ``annotated`` when given (a
    listed slice may be empty: it says that no muscle is there), else the slices that
    hold labels. Raises :class:`OptionError` for indices out of range and
    :class:`LabelError` for labels on slices not listed."""
    axis = check_axis(axis, labels.ndim)
    n = labels.shape[axis]
    with_labels = annotated_slices(labels, axis)
    if annotated is None:
        return with_labels
    idx = np.unique(np.asarray(list(annotated), dtype=np.int64))
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise OptionError(f"annotated slice indices out of range 0..{n - 1} along axis "
                          f"{axis}: {', '.join(map(str, bad[:10].tolist()))}")
    extra = np.setdiff1d(with_labels, idx)
    if extra.size:
        raise LabelError(f"labels found on {extra.size} slice(s) not listed as annotated "
                         f"along axis {axis}, first ones: "
                         f"{', '.join(map(str, extra[:10].tolist()))}")
    return idx


def parse_annotated(spec: str | os.PathLike | Sequence[int] | None) -> list[int] | None:
    """Slice indices from a list, a string or a text file.

    A string holds integers and ``start:stop:step`` ranges separated by commas or blanks
    (``"0,20,40"``, ``"0:1443:20"``); a path names a text file in the same syntax
    (``#`` starts a comment). None stays None (detect annotated slices from the labels).

    Examples
    --------
    >>> parse_annotated("0:50:20, 60")
    [0, 20, 40, 60]
    """
    if spec is None:
        return None
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and Path(spec).is_file()):
        path = Path(spec)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise OptionError(f"{path}: cannot read the annotated slice list: {exc}") from None
        text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        return _parse_text(text, str(path))
    if isinstance(spec, str):
        return _parse_text(spec, "--annotated")
    try:
        return [int(i) for i in spec]
    except (TypeError, ValueError):
        raise OptionError(f"annotated slices must be integers, found {spec!r}") from None


def _parse_text(text: str, where: str) -> list[int]:
    out: list[int] = []
    for token in re.split(r"[\s,;]+", text.strip()):
        if not token:
            continue
        try:
            if ":" in token:
                parts = [int(p) if p else None for p in token.split(":")]
                if len(parts) not in (2, 3) or parts[0] is None or parts[1] is None:
                    raise ValueError
                out.extend(range(*parts))
            else:
                out.append(int(token))
        except ValueError:
            raise OptionError(f"{where}: expected slice indices like '0,20,40' or '0:1443:20', "
                              f"found {token!r}") from None
    if not out:
        raise OptionError(f"{where}: no slice index found")
    return out
