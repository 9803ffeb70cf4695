"""Muscle morphology of one label volume: volume, length, cross-sectional area profile
along the leg, maximum cross-section and where it lies, centroid path.

Definitions (array axis order (z, y, x)). Everything is measured along the **leg
axis** ``a``: the array axis closest to the patient's superior-inferior axis by the
direction matrix, or the one given (:mod:`leg3dus.morphology.axis`); axis 0 (knee to
ankle) in the dataset. Slice ``k`` is the grid's slice ``k`` perpendicular to it and
``slice_mm`` its spacing ``spacing[a]``.

- **volume** (cm3): voxel count times the voxel volume.
- **cross-sectional area** of slice ``k`` (cm2): the muscle's voxel count in slice ``k``
  times the product of the two other spacings; the anatomical cross-section,
  perpendicular to the leg axis (oblique to it when the axis is: ``axis_oblique_deg``).
- **length** (mm): the extent of the muscle along the leg axis, from the first to the
  last slice that holds it, both counted whole: ``(last - first + 1) * slice_mm``.
- **leg extent**: the reference for positions in % of leg length. ``"labels"`` (default)
  is the extent along the leg axis of all muscles together (first to last slice holding
  any scheme label), so 0 % is the knee end of the labelled calf and 100 % its ankle end;
  ``"volume"`` is the whole imaged grid along the leg axis. A slice's position is its
  centre: ``(k + 0.5 - start) * slice_mm`` from the start of the extent.
- **maximum cross-section**: the largest slice area and the position of that slice (the
  first one if several tie), in mm and in % of the leg extent.
- **centroid path**: per slice holding the muscle, the centre of its cross-section as a
  physical point (z, y, x) in mm (origin and direction applied); its **path length** (mm)
  follows a curved muscle without the jitter of its tiny end slices: slices under 10 %
  of the maximum cross-section are left out, the centroids are smoothed over 5 mm, and
  the stretch along the leg beyond the kept slices is added straight
  (:mod:`leg3dus.morphology.path`); a straight muscle's path length is its length.
- **CSA at chosen positions** (``csa_at``, % of the leg extent): the cross-sectional
  area interpolated linearly between the two slice centres around the position (the
  nearest slice centre at the ends of the extent); 0 where the muscle is absent.
- **field of view**: a muscle touches the end of the field of view when its first or
  last slice is the first or last slice of the scanned data along the leg axis (the
  whole grid, or the slices where the image holds data when ``scanned`` is given). Its
  length and volume are then lower bounds; ``fov_clipped`` says at which end:
  ``"first"`` (slice 0, the knee side in the dataset), ``"last"``, ``"both"`` or ``""``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..core import labels as lab
from ..core.errors import OptionError
from ..core.volume import Geometry, Volume
from .axis import OBLIQUE_DEG, ObliqueAxisWarning, leg_axis, oblique_note
from .path import centroid_path_length_mm

LEG_EXTENTS = ("labels", "volume")
_CHUNK = 32  # slices per pass: bounded memory on full-size volumes


@dataclass
class MuscleMorphology:
    """Morphology of one muscle in one label volume (see the module docstring)."""

    name: str
    value: int
    voxels: int
    volume_cm3: float
    length_mm: float
    first_slice: int | None
    last_slice: int | None
    max_csa_cm2: float
    max_csa_slice: int | None
    max_csa_position_mm: float
    max_csa_position_pct: float
    path_length_mm: float
    csa_cm2: np.ndarray = field(repr=False)
    centroids_mm: np.ndarray = field(repr=False)
    fov_clipped: str = ""
    csa_at_cm2: dict[float, float] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        return self.voxels > 0

    def row(self) -> dict:
        """The scalar measures as a flat dict (for tables); ``csa_<p>pct_cm2`` columns
        for the positions of ``csa_at``."""
        return {"muscle": self.name, "voxels": self.voxels,
                "volume_cm3": self.volume_cm3, "length_mm": self.length_mm,
                "max_csa_cm2": self.max_csa_cm2,
                "max_csa_position_mm": self.max_csa_position_mm,
                "max_csa_position_pct": self.max_csa_position_pct,
                "path_length_mm": self.path_length_mm,
                **{csa_at_column(p): v for p, v in self.csa_at_cm2.items()},
                "fov_clipped": self.fov_clipped,
                "first_slice": self.first_slice, "last_slice": self.last_slice}


def csa_at_column(pct: float) -> str:
    """Column name of the CSA at ``pct`` % of the leg: ``csa_30pct_cm2``, ``csa_12.5pct_cm2``."""
    return f"csa_{float(pct):g}pct_cm2"


@dataclass
class Morphology:
    """Morphology of every muscle of one label volume, with the leg extent used.

    ``spacing`` is the grid's, (z, y, x) mm; slices run along array axis ``leg_axis``,
    ``axis_oblique_deg`` degrees off the superior-inferior axis.
    """

    spacing: tuple[float, float, float]
    leg_extent: str
    leg_start: int | None
    leg_stop: int | None
    muscles: dict[str, MuscleMorphology]
    stray: dict[int, int] = field(default_factory=dict)
    leg_axis: int = 0
    axis_oblique_deg: float = 0.0

    @property
    def slice_mm(self) -> float:
        """Slice spacing along the leg axis (mm)."""
        return self.spacing[self.leg_axis]

    @property
    def oblique(self) -> bool:
        """True when the leg axis is more than ``OBLIQUE_DEG`` degrees off physical z."""
        return self.axis_oblique_deg > OBLIQUE_DEG

    @property
    def leg_length_mm(self) -> float:
        """Length of the leg extent along the leg axis (mm); 0 when nothing is labelled."""
        if self.leg_start is None:
            return 0.0
        return (self.leg_stop - self.leg_start) * self.slice_mm

    def position_pct(self, slices: np.ndarray) -> np.ndarray:
        """Positions of slice centres in % of the leg extent (NaN without an extent)."""
        slices = np.asarray(slices, dtype=np.float64)
        if not self.leg_length_mm:
            return np.full(slices.shape, np.nan)
        return 100.0 * (slices + 0.5 - self.leg_start) * self.slice_mm / self.leg_length_mm

    def slice_at(self, pct) -> np.ndarray:
        """Fractional slice indices whose centres lie at ``pct`` % of the leg extent."""
        pct = np.asarray(pct, dtype=np.float64)
        if not self.leg_length_mm:
            return np.full(pct.shape, np.nan)
        return self.leg_start - 0.5 + pct / 100.0 * self.leg_length_mm / self.slice_mm

    def csa_at(self, name: str, pct) -> np.ndarray:
        """CSA (cm2) of muscle ``name`` at positions ``pct`` (% of the leg extent),
        interpolated linearly between slice centres; NaN without a leg extent."""
        csa = self.muscles[name].csa_cm2
        where = np.clip(self.slice_at(pct), self.leg_start, self.leg_stop - 1) \
            if self.leg_length_mm else self.slice_at(pct)
        return np.interp(where, np.arange(csa.size), csa, left=np.nan, right=np.nan)


def slice_statistics(labels: np.ndarray, values=None, chunk: int = _CHUNK, axis: int = 0):
    """Per slice along array ``axis`` and per label value: voxel count and sums of the
    indices along the two other axes (in (z, y, x) order: y and x for ``axis=0``).

    Returns ``{value: (counts, sum_a, sum_b)}``, arrays of length ``labels.shape[axis]``
    (int64, float64, float64). uint8 labels take one parallel pass (numba) in memory
    order; other types are read ``chunk`` slices at a time. Either way only a few MB
    are needed beside the volume.

    >>> a = np.zeros((2, 3, 4), np.uint8); a[1, 2, :3] = 100
    >>> counts, sum_z, sum_y = slice_statistics(a, [100], axis=2)[100]
    >>> counts.tolist(), sum_z.tolist(), sum_y.tolist()
    ([1, 1, 1, 0], [1.0, 1.0, 1.0, 0.0], [2.0, 2.0, 2.0, 0.0])
    """
    values = [m.value for m in lab.MUSCLES] if values is None else list(values)
    if axis not in (0, 1, 2):
        raise OptionError(f"axis must be 0, 1 or 2, found {axis!r}")
    if labels.dtype == np.uint8 and all(0 < int(v) < 256 for v in values):
        return _stats_u8(labels, values, axis)
    moved = np.moveaxis(labels, axis, 0)
    nk, na, nb = moved.shape
    ia = np.arange(na, dtype=np.float64)
    ib = np.arange(nb, dtype=np.float64)
    out = {v: (np.zeros(nk, np.int64), np.zeros(nk), np.zeros(nk)) for v in values}
    for start in range(0, nk, chunk):
        block = moved[start:start + chunk]
        for v in values:
            mask = block == v
            per_row = mask.sum(axis=2, dtype=np.int64)  # (k, na)
            counts, sum_a, sum_b = out[v]
            counts[start:start + len(block)] = per_row.sum(axis=1)
            sum_a[start:start + len(block)] = per_row @ ia
            sum_b[start:start + len(block)] = mask.sum(axis=1, dtype=np.int64) @ ib
    return out


def _stats_u8(labels: np.ndarray, values: list, axis: int):
    from ._kernels import slice_sums_u8, slice_sums_u8_along

    if axis == 0:
        counts, sum_a, sum_b = slice_sums_u8(labels)
        return {v: (counts[:, v].copy(), sum_a[:, v].copy(), sum_b[:, v].copy())
                for v in values}
    slot = np.full(256, -1, np.int64)
    for i, v in enumerate(values):
        slot[int(v)] = i
    blocks = max(1, min(labels.shape[0], numba_threads()))
    counts, sum_a, sum_b = slice_sums_u8_along(labels, axis, slot, len(values), blocks)
    return {v: (counts[:, i].copy(), sum_a[:, i].copy(), sum_b[:, i].copy())
            for i, v in enumerate(values)}


def numba_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _extent(present: np.ndarray) -> tuple[int | None, int | None]:
    idx = np.flatnonzero(present)
    if idx.size == 0:
        return None, None
    return int(idx[0]), int(idx[-1]) + 1


def measure(
    labels: np.ndarray | Volume,
    spacing=(1.0, 1.0, 1.0),
    *,
    origin=(0.0, 0.0, 0.0),
    direction=None,
    leg_extent: str = "labels",
    csa_at=(),
    scanned: np.ndarray | None = None,
    axis: int | str = "auto",
) -> Morphology:
    """Measure every muscle of a label volume (values 0/100/150/200), axis order (z, y, x).

    Parameters
    ----------
    labels
        The label array, or a :class:`~leg3dus.core.volume.Volume` (its geometry is used and
        ``spacing``, ``origin``, ``direction`` are ignored).
    spacing, origin, direction
        Geometry in (z, y, x) order, mm; the direction chooses the leg axis (with
        ``axis="auto"``) and, with the origin, places the centroids.
    leg_extent
        ``"labels"`` or ``"volume"``: what 100 % of leg length means (module docstring).
    csa_at
        Positions in % of the leg extent (0..100) where each muscle's CSA is reported.
    scanned
        Optional boolean per slice along the leg axis: where the image holds data. The
        field of view then ends at its first and last True slice instead of the grid's
        ends.
    axis
        ``"auto"`` (the array axis closest to the superior-inferior axis) or 0, 1, 2:
        the leg axis (:mod:`leg3dus.morphology.axis`). When it is more than 5 degrees
        off, an :class:`~leg3dus.morphology.axis.ObliqueAxisWarning` is issued and the
        angle kept in ``axis_oblique_deg``.

    Values outside the label scheme are not measured; they are listed in ``stray``.

    Examples
    --------
    >>> a = np.zeros((10, 4, 4), np.uint8); a[2:6, :2, :2] = 100
    >>> m = measure(a, spacing=(2.0, 1.0, 1.0))
    >>> m.muscles["SOL"].length_mm, m.muscles["SOL"].max_csa_cm2, m.leg_axis
    (8.0, 0.04, 0)
    >>> measure(a, csa_at=[50]).muscles["SOL"].csa_at_cm2, m.muscles["SOL"].fov_clipped
    ({50.0: 0.04}, '')
    >>> d = np.array([[0., 0, 1], [0, 1, 0], [1, 0, 0]])  # the leg along array axis 2
    >>> m2 = measure(a.transpose(2, 1, 0), spacing=(1.0, 1.0, 2.0), direction=d)
    >>> m2.leg_axis, m2.muscles["SOL"].length_mm, m2.muscles["SOL"].max_csa_cm2
    (2, 8.0, 0.04)
    """
    if isinstance(labels, Volume):
        spacing, origin, direction = labels.spacing, labels.origin, labels.direction
        labels = labels.array
    if leg_extent not in LEG_EXTENTS:
        raise OptionError(f"unknown leg extent {leg_extent!r}; expected one of "
                          f"{', '.join(LEG_EXTENTS)}")
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise OptionError(f"expected a 3D label array (z, y, x), found shape {labels.shape}")
    geometry = Geometry(labels.shape, tuple(float(s) for s in spacing),
                        tuple(float(o) for o in origin),
                        np.eye(3) if direction is None else np.asarray(direction))
    along, oblique_deg = leg_axis(geometry.direction, axis)
    note = oblique_note(along, oblique_deg)
    if note:
        warnings.warn(note, ObliqueAxisWarning, stacklevel=2)
    nk = labels.shape[along]
    stats = slice_statistics(labels, axis=along)
    counts_all = sum(c for c, _, _ in stats.values())
    if leg_extent == "volume":
        leg_start, leg_stop = 0, nk
    else:
        leg_start, leg_stop = _extent(counts_all > 0)
    pcts = _check_pcts(csa_at)
    fov = _fov(scanned, nk)
    result = Morphology(geometry.spacing, leg_extent, leg_start, leg_stop, {},
                        lab.stray_values(labels), along, oblique_deg)
    for m in lab.MUSCLES:
        muscle = _one_muscle(m, *stats[m.value], geometry, result)
        if muscle.present:
            muscle.fov_clipped = _clipped(muscle.first_slice, muscle.last_slice, fov)
        result.muscles[m.name] = muscle
    for name, muscle in result.muscles.items():
        muscle.csa_at_cm2 = dict(zip(pcts, (float(v) for v in result.csa_at(name, pcts)),
                                     strict=True))
    return result


def _check_pcts(csa_at) -> list[float]:
    pcts = [float(p) for p in csa_at]
    bad = [p for p in pcts if not 0.0 <= p <= 100.0]
    if bad:
        raise OptionError(f"CSA positions must lie in 0..100 % of the leg, found "
                          f"{', '.join(f'{p:g}' for p in bad)}")
    return list(dict.fromkeys(pcts))


def _fov(scanned, nk: int) -> tuple[int, int]:
    if scanned is None:
        return 0, nk - 1
    scanned = np.asarray(scanned, bool)
    if scanned.shape != (nk,):
        raise OptionError(f"scanned slices: expected {nk} values along the leg axis, found "
                          f"shape {scanned.shape}")
    first, stop = _extent(scanned)
    return (0, nk - 1) if first is None else (first, stop - 1)


def _clipped(first: int, last: int, fov: tuple[int, int]) -> str:
    at_first, at_last = first <= fov[0], last >= fov[1]
    return "both" if at_first and at_last else "first" if at_first else \
        "last" if at_last else ""


def _one_muscle(m, counts, sum_a, sum_b, geometry: Geometry, result: Morphology):
    along = result.leg_axis
    inplane = [a for a in range(3) if a != along]
    slice_mm = result.slice_mm
    nk = counts.size
    csa = counts * (geometry.spacing[inplane[0]] * geometry.spacing[inplane[1]] / 100.0)
    voxels = int(counts.sum())
    centroids = np.full((nk, 3), np.nan)
    first, last = _extent(counts > 0)
    if first is None:
        return MuscleMorphology(m.name, m.value, 0, 0.0, 0.0, None, None, 0.0, None,
                                float("nan"), float("nan"), 0.0, csa, centroids)
    rows = np.flatnonzero(counts)
    index = np.empty((rows.size, 3))  # continuous (z, y, x) voxel indices
    index[:, along] = rows
    index[:, inplane[0]] = sum_a[rows] / counts[rows]
    index[:, inplane[1]] = sum_b[rows] / counts[rows]
    centroids[rows] = geometry.index_to_physical(index)
    path = centroid_path_length_mm(centroids, csa, (last - first) * slice_mm, slice_mm)
    k = int(np.argmax(csa))
    pos_mm = (k + 0.5 - result.leg_start) * slice_mm
    return MuscleMorphology(
        m.name, m.value, voxels, voxels * geometry.voxel_volume_mm3 / 1000.0,
        (last - first) * slice_mm, first, last - 1, float(csa[k]), k, pos_mm,
        float(result.position_pct(np.array([k]))[0]), path, csa, centroids)
