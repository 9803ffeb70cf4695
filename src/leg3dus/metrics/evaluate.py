"""Every metric of a predicted label volume against the truth, per muscle (SOL, GM, GL)
and for their union, in one pass over the volumes.

The volumes are read once by a kernel that counts every (prediction, truth) value pair
and finds each value's bounding box; overlap and volume metrics come from the counts,
and surface distances are computed per structure inside the union of its two bounding
boxes, on surface points only. Nothing the size of a volume is allocated.
"""

from __future__ import annotations

import os

import numpy as np

from ..core.errors import GeometryError, LabelError, OptionError
from ..core.labels import MUSCLES, VALUES, describe_counts
from ..core.volume import Volume
from ..core.volume_io import read_volume
from . import _kernels
from .border import BorderOptions, border_analysis, border_gradient
from .border_protocol import border_scores, check_borders
from .overlap import overlap_from_counts, volume_metrics
from .surface import (
    HD95_MODES,
    check_surface,
    distances_between,
    structure_points,
    surface_metrics,
)

#: Structures evaluated, in output order: each muscle, then the union of all muscles.
STRUCTURES: tuple[str, ...] = tuple(m.name for m in MUSCLES) + ("union",)
#: Metric keys of one structure, in output order.
METRIC_KEYS: tuple[str, ...] = ("dice", "iou", "precision", "recall", "volume_pred_cm3",
                                "volume_truth_cm3", "volume_error_percent",
                                "abs_volume_error_percent", "hd", "hd95", "assd", "masd",
                                "nsd")


def _member(name: str) -> np.ndarray:
    table = np.zeros(256, bool)
    values = [m.value for m in MUSCLES] if name == "union" else \
        [m.value for m in MUSCLES if m.name == name]
    table[values] = True
    return table


def _as_labels(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 3:
        raise GeometryError(f"{what}: expected a 3D label volume, found shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise LabelError(f"{what}: expected integer labels 0/100/150/200, found "
                         f"voxel type {array.dtype}")
    lo, hi = int(array.min()), int(array.max())
    if lo < 0 or hi > 255:
        raise LabelError(f"{what}: label values must lie in 0..255, found {lo}..{hi}")
    return array.astype(np.uint8)


def _check_values(counts: np.ndarray, what: str) -> None:
    stray = {int(v): int(counts[v]) for v in np.flatnonzero(counts) if v not in VALUES}
    if stray:
        hint = " (class indices? map them with leg3dus.core.labels.to_value)" \
            if set(stray) <= {1, 2, 3} else ""
        raise LabelError(f"{what}: label values outside the scheme {VALUES}: "
                         f"{describe_counts(stray)}{hint}")


def _box(box_p, box_t, values):
    rows = [b for v in values for b in (box_p[v], box_t[v]) if b[3] >= 0]
    if not rows:
        return np.zeros(3, np.int64), np.zeros(3, np.int64)
    rows = np.array(rows)
    return rows[:, :3].min(0), rows[:, 3:].max(0)


def _gradients(surfels, spacing, image, border: BorderOptions) -> dict[str, np.ndarray]:
    """The grey-level gradient at the truth points of every structure, from one smoothing
    of the image over all of them."""
    if image is None or border.rule == "aponeurosis":
        return {}
    names = list(surfels)
    points = np.concatenate([surfels[n].truth_points for n in names])
    codes = np.concatenate([surfels[n].truth_codes for n in names])
    grad = border_gradient(image, points, codes, spacing, border.sigma_mm)
    ends = np.cumsum([len(surfels[n].truth_points) for n in names])
    return dict(zip(names, np.split(grad, ends[:-1]), strict=True))


def evaluate(pred: np.ndarray, truth: np.ndarray, spacing=(1.0, 1.0, 1.0),
             image: np.ndarray | None = None, tolerance_mm: float = 1.0,
             hd95_mode: str = "max", surface: str = "surfel",
             border: BorderOptions | None = None,
             borders: dict | None = None) -> dict[str, dict[str, float]]:
    """All metrics of ``pred`` against ``truth`` per muscle and for their union.

    Parameters
    ----------
    pred, truth
        Label volumes (z, y, x) with values 0/100/150/200, same shape (uint8 is used
        as is; other integer types are converted); or two :class:`Volume` objects,
        whose grids are checked and whose spacing is used.
    spacing
        Voxel size (z, y, x) in mm (ignored for Volumes).
    image
        The ultrasound volume on the same grid; adds the keys of leg3dus's border
        estimator (``estimated_*``, :mod:`leg3dus.metrics.border`).
    tolerance_mm
        Tolerance of NSD and of the border analysis.
    hd95_mode
        ``"max"`` (larger directed 95th percentile; DeepMind, MONAI) or ``"pooled"``
        (95th percentile of both directions together; medpy).
    surface
        ``"surfel"`` (DeepMind surface elements) or ``"voxel"`` (border voxels).
    border
        What the estimator counts as a distinct border (:class:`BorderOptions`); with
        ``rule="aponeurosis"`` the estimator runs without an image.
    borders
        The published border analysis (:mod:`leg3dus.metrics.border_protocol`):
        ``{"distinct": D, "completed": C}``, each a border label volume on the truth's
        grid (all muscles) or ``{muscle: volume}`` (single muscles); either may be
        left out. Adds the keys ``distinct_*`` and ``completed_*``.

    Returns
    -------
    dict
        ``{"SOL": {...}, "GM": {...}, "GL": {...}, "union": {...}}``, each holding
        :data:`METRIC_KEYS` (and the border keys when analysed), plus
        ``worst_slices``: the range of slices (axis 0, first and last index) that holds
        the surface points farther than the structure's HD95 (None when there are
        none).

    Examples
    --------
    >>> t = np.zeros((10, 10, 10), np.uint8); t[2:8, 2:8, 2:5] = 100; t[2:8, 2:8, 5:8] = 150
    >>> r = evaluate(t, t, spacing=(0.5, 0.5, 0.5))
    >>> r["SOL"]["dice"], r["GL"]["dice"], r["union"]["hd95"]
    (1.0, 1.0, 0.0)
    """
    if isinstance(pred, Volume) or isinstance(truth, Volume):
        if not (isinstance(pred, Volume) and isinstance(truth, Volume)):
            raise OptionError("give the prediction and the truth both as arrays or both as "
                              "Volumes")
        if image is not None and not isinstance(image, Volume):
            image = truth.with_array(np.asarray(image))
        return evaluate_volumes(pred, truth, image, tolerance_mm=tolerance_mm,
                                hd95_mode=hd95_mode, surface=surface, border=border,
                                borders=borders)
    check_surface(surface)
    if hd95_mode not in HD95_MODES:
        raise OptionError(f"unknown HD95 mode {hd95_mode!r}; expected one of "
                          f"{', '.join(HD95_MODES)}")
    if tolerance_mm < 0:
        raise OptionError(f"tolerance must be >= 0 mm, found {tolerance_mm}")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or min(spacing) <= 0:
        raise GeometryError(f"spacing must be three positive numbers, found {spacing}")
    pred = _as_labels(pred, "prediction")
    truth = _as_labels(truth, "truth")
    if pred.shape != truth.shape:
        raise GeometryError(f"prediction shape {pred.shape} differs from truth {truth.shape}")
    if image is not None and np.shape(image) != truth.shape:
        raise GeometryError(f"image shape {np.shape(image)} differs from truth {truth.shape}")
    pred, truth = np.ascontiguousarray(pred), np.ascontiguousarray(truth)
    hist, box_p, box_t = _kernels.joint_stats(pred, truth)
    _check_values(hist.sum(1), "prediction")
    _check_values(hist.sum(0), "truth")
    if image is None and border is not None and border.rule == "gradient":
        raise OptionError("the gradient rule of border analysis needs the ultrasound image")
    analyse = image is not None or (border is not None and border.rule == "aponeurosis")
    border = border or BorderOptions()
    members = [_member(name) for name in STRUCTURES]
    lo, hi = _box(box_p, box_t, np.flatnonzero(_member("union")))
    truth_pts = structure_points(truth, members, lo, hi, spacing, surface)
    pred_pts = structure_points(pred, members, lo, hi, spacing, surface)
    if borders is not None:
        tables = check_borders(borders, truth.shape, STRUCTURES)
        if surface == "voxel":
            truth_vox, pred_vox = truth_pts, pred_pts
        else:
            truth_vox = structure_points(truth, members, lo, hi, spacing, "voxel")
            pred_vox = structure_points(pred, members, lo, hi, spacing, "voxel")
    if analyse and surface != "surfel":
        truth_surfels = structure_points(truth, members, lo, hi, spacing, "surfel")
        pred_surfels = structure_points(pred, members, lo, hi, spacing, "surfel")
    results: dict[str, dict[str, float]] = {}
    surfels: dict[str, object] = {}
    for k, (name, member) in enumerate(zip(STRUCTURES, members, strict=True)):
        values = np.flatnonzero(member)
        tp = int(hist[np.ix_(values, values)].sum())
        n_pred, n_truth = int(hist[values].sum()), int(hist[:, values].sum())
        row = overlap_from_counts(tp, n_pred - tp, n_truth - tp)
        row.update(volume_metrics(n_pred, n_truth, spacing))
        sd = distances_between(truth_pts[k], pred_pts[k], spacing, surface)
        row.update(surface_metrics(sd, tolerance_mm, hd95_mode))
        results[name] = {key: row[key] for key in METRIC_KEYS}
        results[name]["worst_slices"] = worst_slices(sd, results[name]["hd95"])
        if borders is not None:
            results[name].update(border_scores(
                sd, {p: t[name] for p, t in tables.items() if name in t}, spacing,
                tolerance_mm, hd95_mode, (truth_vox[k], pred_vox[k])))
        if analyse:
            surfels[name] = sd if surface == "surfel" else \
                distances_between(truth_surfels[k], pred_surfels[k], spacing, "surfel")
    if analyse:
        gradients = _gradients(surfels, spacing, image, border)
        for name in STRUCTURES:
            others = [surfels[o].truth_points for o in STRUCTURES
                      if o not in (name, "union") and name != "union"]
            other_points = np.concatenate(others) if others else None
            results[name].update(border_analysis(surfels[name], spacing, image,
                                                 other_points, tolerance_mm, border,
                                                 gradients.get(name)))
    return results


def worst_slices(sd, hd95: float) -> list[int] | None:
    """First and last slice (axis 0) of the surface points of either surface whose
    distance to the other surface exceeds ``hd95``: where the worst distances lie.
    None when no point does (or a surface is empty).

    >>> from leg3dus.metrics import surface_distances
    >>> t = np.zeros((20, 8, 8), bool); t[2:12, 2:6, 2:6] = True
    >>> p = t.copy(); p[12:16, 3:5, 3:5] = True       # a spill past the end at slice 12
    >>> sd = surface_distances(p, t)
    >>> worst_slices(sd, 1.0)   # surfel corners: corner k lies before slice k
    [14, 16]
    """
    if sd.truth_empty or sd.pred_empty or not np.isfinite(hd95):
        return None
    z = [pts[d > hd95, 0] for pts, d in ((sd.truth_points, sd.truth_to_pred),
                                         (sd.pred_points, sd.pred_to_truth))
         if pts is not None]
    z = np.concatenate(z) if z else np.zeros(0)
    if z.size == 0:
        return None
    return [int(z.min()), int(z.max())]


def check_same_grid(pred: Volume, truth: Volume, pred_name="prediction", truth_name="truth"):
    """Raise :class:`GeometryError` unless two volumes lie on the same grid."""
    problems = pred.geometry.matches(truth.geometry)
    if problems:
        raise GeometryError(f"{pred_name} and {truth_name} lie on different grids: "
                            f"{'; '.join(problems)}; resample the prediction first")


def _border_items(borders):
    """(part, muscle or None, value) of each border volume of ``borders``."""
    for part, given in (borders or {}).items():
        if isinstance(given, dict):
            yield from ((part, m, v) for m, v in given.items())
        elif given is not None:
            yield part, None, given


def nest_border_items(items) -> dict:
    """Border volumes from ``(part, muscle or None, value)`` items: ``{part: value}`` for
    all muscles, ``{part: {muscle: value}}`` for single ones.

    >>> nest_border_items([("distinct", None, 1), ("completed", "GM", 2)])
    {'distinct': 1, 'completed': {'GM': 2}}
    """
    out: dict = {}
    for part, muscle, value in items:
        if muscle is None:
            out[part] = value
        else:
            out.setdefault(part, {})[muscle] = value
    return out


def evaluate_volumes(pred: Volume, truth: Volume, image: Volume | None = None,
                     names=("prediction", "truth", "image"), **options):
    """:func:`evaluate` of two :class:`Volume` objects after checking that they (and the
    image, and the border volumes in ``borders``) share one grid; the spacing comes from
    the truth."""
    check_same_grid(pred, truth, names[0], names[1])
    if image is not None:
        check_same_grid(image, truth, names[2], names[1])
    if options.get("borders") is not None:
        items = []
        for part, muscle, vol in _border_items(options["borders"]):
            if isinstance(vol, Volume):
                label = f"{part} border" + (f" of {muscle}" if muscle else "")
                check_same_grid(vol, truth, label, names[1])
                vol = vol.array
            items.append((part, muscle, vol))
        options = {**options, "borders": nest_border_items(items)}
    return evaluate(pred.array, truth.array, truth.spacing,
                    None if image is None else image.array, **options)


def evaluate_files(pred: str | os.PathLike, truth: str | os.PathLike,
                   image: str | os.PathLike | None = None, *, pred_label_values=None,
                   truth_label_values=None, **options):
    """:func:`evaluate_volumes` of volume files; errors name the files. ``borders``
    holds file paths (``{"distinct": path, "completed": {"GM": path}}``).
    ``pred_label_values`` / ``truth_label_values`` (``--label-values`` text or a
    :class:`~leg3dus.core.label_values.LabelConvention`; default: the file's label table, else
    the scheme) map each file's values to the scheme
    (:func:`leg3dus.core.label_values.read_labels`).

    >>> evaluate_files("pred/S01.mha", "test/S01/masksX1.mha")["GM"]["hd95"]  # doctest: +SKIP
    1.2
    """
    from ..core.label_values import read_labels
    from ..core.volume_io import read_header

    items = list(_border_items(options.get("borders")))
    paths = [pred, truth, image] + [p for _, _, p in items]
    headers = [read_header(p) for p in paths if p is not None]
    # Compare grids before reading the voxels so a mismatch fails fast.
    for h in headers[:1] + headers[2:]:
        problems = h.geometry.matches(headers[1].geometry)
        if problems:
            raise GeometryError(f"{h.path} and {headers[1].path} lie on different grids: "
                                f"{'; '.join(problems)}; resample the prediction first")
    pred_vol, _ = read_labels(pred, pred_label_values, allow_stray=True)
    truth_vol, _ = read_labels(truth, truth_label_values, allow_stray=True)
    image_vol = read_volume(image) if image is not None else None
    roles = [("prediction", pred), ("truth", truth)]
    if items:
        options = {**options, "borders": nest_border_items((part, m, read_volume(p))
                                                  for part, m, p in items)}
        roles += [(f"{part} border" + (f" of {m}" if m else ""), p) for part, m, p in items]
    try:
        return evaluate_volumes(pred_vol, truth_vol, image_vol,
                                names=(str(pred), str(truth), str(image)), **options)
    except LabelError as exc:
        msg = str(exc)
        for role, path in roles:
            if msg.startswith(role + ":"):
                raise LabelError(f"{path}: {msg[len(role) + 2:]}") from None
        raise
