"""Muscle morphology of one label volume: volume, length, cross-sectional area profile
along the leg, maximum cross-section and where it lies, centroid path.

Definitions (array axis order (z, y, x), axis 0 along the leg, knee to ankle):

- **volume** (cm3): voxel count times the voxel volume.
- **cross-sectional area** of slice ``k`` (cm2): the muscle's voxel count in the
  transverse slice ``labels[k]`` times ``spacing[1] * spacing[2]``; the anatomical
  cross-section, perpendicular to axis 0.
- **length** (mm): the extent of the muscle along axis 0, from the first to the last
  slice that holds it, both counted whole: ``(last - first + 1) * spacing[0]``.
- **leg extent**: the reference for positions in % of leg length. ``"labels"`` (default)
  is the extent along axis 0 of all muscles together (first to last slice holding any
  scheme label), so 0 % is the knee end of the labelled calf and 100 % its ankle end;
  ``"volume"`` is the whole imaged grid along axis 0. A slice's position is its centre:
  ``(k + 0.5 - start) * spacing[0]`` mm from the start of the extent.
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
  last slice is the first or last slice of the scanned data along the leg (the whole
  grid, or the slices where the image holds data when ``scanned`` is given). Its length
  and volume are then lower bounds; ``fov_clipped`` says at which end: ``"first"``
  (knee side, slice 0), ``"last"``, ``"both"`` or ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core import labels as lab
from ..core.errors import OptionError
from ..core.volume import Geometry, Volume
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
    """Morphology of every muscle of one label volume, with the leg extent used."""

    spacing: tuple[float, float, float]
    leg_extent: str
    leg_start: int | None
    leg_stop: int | None
    muscles: dict[str, MuscleMorphology]
    stray: dict[int, int] = field(default_factory=dict)

    @property
    def leg_length_mm(self) -> float:
        """Length of the leg extent along axis 0 (mm); 0 when nothing is labelled."""
        if self.leg_start is None:
            return 0.0
        return (self.leg_stop - self.leg_start) * self.spacing[0]

    def position_pct(self, slices: np.ndarray) -> np.ndarray:
        """Positions of slice centres in % of the leg extent (NaN without an extent)."""
        slices = np.asarray(slices, dtype=np.float64)
        if not self.leg_length_mm:
            return np.full(slices.shape, np.nan)
        return 100.0 * (slices + 0.5 - self.leg_start) * self.spacing[0] / self.leg_length_mm

    def slice_at(self, pct) -> np.ndarray:
        """Fractional slice indices whose centres lie at ``pct`` % of the leg extent."""
        pct = np.asarray(pct, dtype=np.float64)
        if not self.leg_length_mm:
            return np.full(pct.shape, np.nan)
        return self.leg_start - 0.5 + pct / 100.0 * self.leg_length_mm / self.spacing[0]

    def csa_at(self, name: str, pct) -> np.ndarray:
        """CSA (cm2) of muscle ``name`` at positions ``pct`` (% of the leg extent),
        interpolated linearly between slice centres; NaN without a leg extent."""
        csa = self.muscles[name].csa_cm2
        where = np.clip(self.slice_at(pct), self.leg_start, self.leg_stop - 1) \
            if self.leg_length_mm else self.slice_at(pct)
        return np.interp(where, np.arange(csa.size), csa, left=np.nan, right=np.nan)


def slice_statistics(labels: np.ndarray, values=None, chunk: int = _CHUNK):
    """Per slice along axis 0 and per label value: voxel count and sums of y and x indices.

    Returns ``{value: (counts, sum_y, sum_x)}``, arrays of length ``labels.shape[0]``
    (int64, float64, float64). uint8 labels take one parallel pass (numba); other types
    are read ``chunk`` slices at a time. Either way only a few MB are needed beside the
    volume.
    """
    values = [m.value for m in lab.MUSCLES] if values is None else list(values)
    if labels.dtype == np.uint8 and all(0 < int(v) < 256 for v in values):
        counts, sum_y, sum_x = _stats_u8(labels)
        return {v: (counts[:, v].copy(), sum_y[:, v].copy(), sum_x[:, v].copy())
                for v in values}
    nz, ny, nx = labels.shape
    ys = np.arange(ny, dtype=np.float64)
    xs = np.arange(nx, dtype=np.float64)
    out = {v: (np.zeros(nz, np.int64), np.zeros(nz), np.zeros(nz)) for v in values}
    for start in range(0, nz, chunk):
        block = labels[start:start + chunk]
        for v in values:
            mask = block == v
            per_row = mask.sum(axis=2, dtype=np.int64)  # (k, ny)
            counts, sum_y, sum_x = out[v]
            counts[start:start + len(block)] = per_row.sum(axis=1)
            sum_y[start:start + len(block)] = per_row @ ys
            sum_x[start:start + len(block)] = mask.sum(axis=1, dtype=np.int64) @ xs
    return out


def _stats_u8(labels: np.ndarray):
    from ._kernels import slice_sums_u8

    return slice_sums_u8(labels)


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
) -> Morphology:
    """Measure every muscle of a label volume (values 0/100/150/200), axis order (z, y, x).

    Parameters
    ----------
    labels
        The label array, or a :class:`~leg3dus.core.volume.Volume` (its geometry is used and
        ``spacing``, ``origin``, ``direction`` are ignored).
    spacing, origin, direction
        Geometry in (z, y, x) order, mm; origin and direction only place the centroids.
    leg_extent
        ``"labels"`` or ``"volume"``: what 100 % of leg length means (module docstring).
    csa_at
        Positions in % of the leg extent (0..100) where each muscle's CSA is reported.
    scanned
        Optional boolean per slice along axis 0: where the image holds data. The field
        of view then ends at its first and last True slice instead of the grid's ends.

    Values outside the label scheme are not measured; they are listed in ``stray``.

    Examples
    --------
    >>> a = np.zeros((10, 4, 4), np.uint8); a[2:6, :2, :2] = 100
    >>> m = measure(a, spacing=(2.0, 1.0, 1.0))
    >>> m.muscles["SOL"].length_mm, m.muscles["SOL"].max_csa_cm2
    (8.0, 0.04)
    >>> measure(a, csa_at=[50]).muscles["SOL"].csa_at_cm2, m.muscles["SOL"].fov_clipped
    ({50.0: 0.04}, '')
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
    sz, sy, sx = geometry.spacing
    stats = slice_statistics(labels)
    counts_all = sum(c for c, _, _ in stats.values())
    if leg_extent == "volume":
        leg_start, leg_stop = 0, labels.shape[0]
    else:
        leg_start, leg_stop = _extent(counts_all > 0)
    pcts = _check_pcts(csa_at)
    fov = _fov(scanned, labels.shape[0])
    result = Morphology(geometry.spacing, leg_extent, leg_start, leg_stop, {},
                        lab.stray_values(labels))
    for m in lab.MUSCLES:
        counts, sum_y, sum_x = stats[m.value]
        muscle = _one_muscle(m, counts, sum_y, sum_x, geometry, result)
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


def _fov(scanned, nz: int) -> tuple[int, int]:
    if scanned is None:
        return 0, nz - 1
    scanned = np.asarray(scanned, bool)
    if scanned.shape != (nz,):
        raise OptionError(f"scanned slices: expected {nz} values along axis 0, found "
                          f"shape {scanned.shape}")
    first, stop = _extent(scanned)
    return (0, nz - 1) if first is None else (first, stop - 1)


def _clipped(first: int, last: int, fov: tuple[int, int]) -> str:
    at_first, at_last = first <= fov[0], last >= fov[1]
    return "both" if at_first and at_last else "first" if at_first else \
        "last" if at_last else ""


def _one_muscle(m, counts, sum_y, sum_x, geometry: Geometry, result: Morphology):
    sz, sy, sx = geometry.spacing
    nz = counts.size
    csa = counts * (sy * sx / 100.0)
    voxels = int(counts.sum())
    centroids = np.full((nz, 3), np.nan)
    first, last = _extent(counts > 0)
    if first is None:
        return MuscleMorphology(m.name, m.value, 0, 0.0, 0.0, None, None, 0.0, None,
                                float("nan"), float("nan"), 0.0, csa, centroids)
    rows = np.flatnonzero(counts)
    index = np.stack([rows.astype(np.float64), sum_y[rows] / counts[rows],
                      sum_x[rows] / counts[rows]], axis=1)
    centroids[rows] = geometry.index_to_physical(index)
    path = centroid_path_length_mm(centroids, csa, (last - first) * sz, sz)
    k = int(np.argmax(csa))
    pos_mm = (k + 0.5 - result.leg_start) * sz
    return MuscleMorphology(
        m.name, m.value, voxels, voxels * geometry.voxel_volume_mm3 / 1000.0,
        (last - first) * sz, first, last - 1, float(csa[k]), k, pos_mm,
        float(result.position_pct(np.array([k]))[0]), path, csa, centroids)
