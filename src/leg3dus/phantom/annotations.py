"""Sparse 2D annotations made from dense labels, as an expert would draw them.

An annotator draws every ``every`` slices (or every ``every_mm`` mm) along an axis, from
the first slice that holds a muscle to the last (``ends=True`` adds the last one). With
``jitter_mm`` > 0 each drawn boundary moves in or out by a smooth random displacement:
part of it (``systematic``) is one draw per muscle for the whole annotator (some draw
tight, some loose), the rest varies along the boundary with correlation length
``correlation_mm``. At 0.3-1 mm this gives the few-percent volume differences reported
between experts; :func:`annotator_volume_spread` measures it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..core.annotated import annotated_slices, check_axis
from ..core.arrays import bbox_2d, signed_distance_2d
from ..core.errors import OptionError
from ..core.labels import BACKGROUND


def annotation_indices(
    labels: np.ndarray,
    *,
    every: int | None = None,
    every_mm: float | None = None,
    spacing=(1.0, 1.0, 1.0),
    axis: int = 0,
    ends: bool = True,
) -> np.ndarray:
    """Indices of the slices an annotator draws: regular steps over the labelled range.

    Give ``every`` (slices) or ``every_mm`` (mm, rounded to the nearest slice each time).

    Examples
    --------
    >>> a = np.zeros((50, 2, 2), np.uint8); a[5:46] = 100
    >>> annotation_indices(a, every=20).tolist()
    [5, 25, 45]
    """
    axis = check_axis(axis)
    if (every is None) == (every_mm is None):
        raise OptionError("give exactly one of every (slices) and every_mm (mm)")
    step = float(every) if every is not None else float(every_mm) / float(spacing[axis])
    if not np.isfinite(step) or step < 1:
        raise OptionError(f"annotation step must be at least one slice, found {step:.3g}")
    present = annotated_slices(labels, axis)
    if present.size == 0:
        raise OptionError("the dense labels hold no muscle to annotate")
    first, last = int(present[0]), int(present[-1])
    idx = np.unique(np.round(first + step * np.arange(int((last - first) / step) + 1)))
    idx = idx.astype(np.int64)
    if ends and idx[-1] != last:
        idx = np.append(idx, last)
    return idx


def sparse_annotations(
    labels: np.ndarray,
    *,
    every: int | None = None,
    every_mm: float | None = None,
    spacing=(1.0, 1.0, 1.0),
    axis: int = 0,
    ends: bool = True,
    jitter_mm: float = 0.0,
    systematic: float = 0.5,
    correlation_mm: float = 5.0,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the annotated slices of dense ``labels`` (z, y, x), optionally jittered.

    Returns ``(sparse, indices)``: a label volume of the same shape and dtype holding
    labels only on the slices ``indices`` along ``axis``.

    ``jitter_mm`` is the standard deviation of the boundary displacement in mm;
    ``systematic`` (0..1) the share of its variance that is one draw per muscle for the
    whole annotator; ``correlation_mm`` the smoothness along the boundary. Each muscle's
    signed distance is displaced and every voxel takes the muscle it lies deepest in, so
    no voxel gets two labels.

    Examples
    --------
    >>> a = np.zeros((9, 6, 6), np.uint8); a[:, 1:5, 1:5] = 100
    >>> sparse, idx = sparse_annotations(a, every=4)
    >>> idx.tolist(), int(sparse[1].sum())
    ([0, 4, 8], 0)
    """
    if not 0 <= systematic <= 1:
        raise OptionError(f"systematic must lie in 0..1, found {systematic}")
    if jitter_mm < 0 or correlation_mm <= 0:
        raise OptionError("jitter_mm must be >= 0 and correlation_mm > 0")
    axis = check_axis(axis)
    idx = annotation_indices(labels, every=every, every_mm=every_mm, spacing=spacing,
                             axis=axis, ends=ends)
    out = np.zeros_like(labels)
    src, dst = np.moveaxis(labels, axis, 0), np.moveaxis(out, axis, 0)
    if jitter_mm == 0:
        dst[idx] = src[idx]
        return out, idx
    rng = np.random.default_rng(seed)
    plane_sp = np.delete(np.asarray(spacing, dtype=np.float64), axis)
    values = [int(v) for v in np.unique(src[idx]) if v != BACKGROUND]
    bias = {v: rng.standard_normal() for v in values}
    for k in idx:
        dst[k] = jitter_slice(src[k], plane_sp, jitter_mm, systematic, correlation_mm,
                              bias, rng)
    return out, idx


def jitter_slice(mask2d, plane_spacing, jitter_mm, systematic, correlation_mm, bias, rng):
    """One slice's labels with each boundary displaced (see :func:`sparse_annotations`)."""
    out = np.zeros_like(mask2d)
    best = np.zeros(mask2d.shape, np.float32)
    margin = int(np.ceil(4 * jitter_mm / min(plane_spacing))) + 2
    corr = correlation_mm / np.asarray(plane_spacing)
    for v in sorted(bias):
        m = mask2d == v
        box = bbox_2d(m, margin_vox=margin)
        if box is None:
            continue
        d = signed_distance_2d(m[box], plane_spacing)
        field = ndimage.gaussian_filter(rng.standard_normal(d.shape).astype(np.float32), corr)
        field /= max(float(field.std()), 1e-6)
        shift = np.sqrt(systematic) * bias[v] + np.sqrt(1 - systematic) * field
        d = d + np.float32(jitter_mm) * shift.astype(np.float32)
        cur = best[box]
        win = d < cur
        cur[win] = d[win]
        out[box][win] = v
    return out


def annotator_volume_spread(labels, spacing, *, every=1, jitter_mm=0.5, annotators=4,
                            seed=0, **kw) -> dict[int, float]:
    """Relative spread (std / mean of the annotated voxel count) per label between
    ``annotators`` simulated annotators with independent noise."""
    counts: dict[int, list[int]] = {}
    rng = np.random.default_rng(seed)
    for _ in range(annotators):
        sparse, _idx = sparse_annotations(labels, every=every, spacing=spacing,
                                          jitter_mm=jitter_mm, seed=rng, **kw)
        for v, c in zip(*np.unique(sparse, return_counts=True), strict=True):
            if v != BACKGROUND:
                counts.setdefault(int(v), []).append(int(c))
    return {v: float(np.std(c) / np.mean(c)) for v, c in counts.items() if len(c) == annotators}


def write_subject_sparse(job, every_mm: float, jitter_mm: float = 0.0) -> dict:
    """Write a cohort subject's simulated sparse annotations beside its labels: the labels
    of every ``every_mm`` along the leg (ends included) as ``sparseX1.mha`` and their
    indices as ``sparseX1_slices.txt``, the files ``leg3dus annotate`` saves (a
    :class:`~leg3dus.phantom.cohort.SubjectJob`, seeded by its subject)."""
    from ..core.atomic import atomic_path
    from ..core.layout import LABEL_NAME, SLICES_NAME, SPARSE_NAME, subject_folder
    from ..core.volume_io import read_volume, write_volume

    folder = subject_folder(job.out, job.split, job.id)
    truth = read_volume(folder / LABEL_NAME)
    sparse, idx = sparse_annotations(truth.array, every_mm=every_mm, spacing=truth.spacing,
                                     jitter_mm=jitter_mm, seed=job.params.shape_seed)
    write_volume(truth.with_array(sparse), folder / SPARSE_NAME)
    with atomic_path(folder / SLICES_NAME) as tmp:
        tmp.write_text(f"# slices along axis 0 annotated every {every_mm:g} mm\n"
                       + "".join(f"{int(i)}\n" for i in idx))
    return {"id": job.id, "annotated": len(idx)}
