"""The LEG-3D-US label scheme and checks of label volumes.

Values in the released masks: 0 background, 100 soleus (SOL), 150 gastrocnemius
medialis (GM), 200 gastrocnemius lateralis (GL). Networks and exports use the classes
0..3 in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import LabelError


@dataclass(frozen=True)
class Muscle:
    """One labelled structure: its value in the masks, class index, names and colour."""

    value: int
    index: int
    name: str
    long_name: str
    color: tuple[int, int, int]


MUSCLES: tuple[Muscle, ...] = (
    Muscle(100, 1, "SOL", "soleus", (230, 159, 0)),
    Muscle(150, 2, "GM", "gastrocnemius medialis", (86, 180, 233)),
    Muscle(200, 3, "GL", "gastrocnemius lateralis", (0, 158, 115)),
)
BACKGROUND = 0
VALUES: tuple[int, ...] = (BACKGROUND,) + tuple(m.value for m in MUSCLES)
NAMES: dict[int, str] = {BACKGROUND: "background", **{m.value: m.name for m in MUSCLES}}
BY_NAME: dict[str, Muscle] = {m.name: m for m in MUSCLES}
BY_VALUE: dict[int, Muscle] = {m.value: m for m in MUSCLES}

_TO_INDEX = np.zeros(256, dtype=np.uint8)
for _m in MUSCLES:
    _TO_INDEX[_m.value] = _m.index
_TO_VALUE = np.array([BACKGROUND] + [m.value for m in MUSCLES], dtype=np.uint8)

_IS_STRAY = np.ones(256, dtype=np.uint8)
_IS_STRAY[list(VALUES)] = 0

_KERNELS: dict = {}


def _kernels() -> dict:
    # numba is imported on first use so that `leg3dus --help` stays fast. numpy's
    # bincount would cast a full-size uint8 volume to int64 (4 GB), and a uint8 lookup
    # table indexing takes ~2 s; these loops take ~0.2 s in constant memory.
    if not _KERNELS:
        import numba

        @numba.njit(cache=True, nogil=True)
        def counts_u8(flat):
            c = np.zeros((4, 256), np.int64)
            n = flat.size
            i = 0
            while i + 4 <= n:
                c[0, flat[i]] += 1
                c[1, flat[i + 1]] += 1
                c[2, flat[i + 2]] += 1
                c[3, flat[i + 3]] += 1
                i += 4
            while i < n:
                c[0, flat[i]] += 1
                i += 1
            return c.sum(0)

        @numba.njit(cache=True, nogil=True)
        def lut_u8(flat, table, out):
            for i in range(flat.size):
                out[i] = table[flat[i]]

        _KERNELS.update(counts=counts_u8, lut=lut_u8)
    return _KERNELS


def _flat(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1)


def apply_lut_u8(labels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``table[labels]`` for a uint8 array and a 256-entry uint8 table, without temporaries."""
    out = np.empty(labels.shape, np.uint8)
    _kernels()["lut"](_flat(labels), np.ascontiguousarray(table, np.uint8), out.reshape(-1))
    return out


def muscle(key: str | int) -> Muscle:
    """The muscle named ``key`` (``"SOL"``, ``"GM"``, ``"GL"``) or with mask value ``key``."""
    found = BY_NAME.get(str(key).upper()) if isinstance(key, str) else BY_VALUE.get(int(key))
    if found is None:
        raise LabelError(f"unknown muscle {key!r}; expected one of SOL, GM, GL or 100, 150, 200")
    return found


def value_counts(labels: np.ndarray) -> dict[int, int]:
    """Voxel count of every value present in ``labels``, in increasing value order."""
    if labels.dtype == np.uint8:
        counts = _kernels()["counts"](_flat(labels)) if labels.size else np.zeros(256, int)
        return {int(v): int(counts[v]) for v in np.flatnonzero(counts)}
    values, counts = np.unique(labels, return_counts=True)
    return {int(v) if float(v).is_integer() else float(v): int(c)
            for v, c in zip(values, counts, strict=True)}


def stray_values(labels: np.ndarray, counts: dict | None = None) -> dict[int, int]:
    """Values outside the scheme {0, 100, 150, 200} with their voxel counts."""
    counts = value_counts(labels) if counts is None else counts
    return {v: c for v, c in counts.items() if v not in VALUES}


def to_index(labels: np.ndarray, strict: bool = True) -> np.ndarray:
    """Map mask values 0/100/150/200 to classes 0/1/2/3 (uint8).

    With ``strict`` a value outside the scheme raises :class:`LabelError` listing the
    stray values and their counts; otherwise stray values become background.

    >>> to_index(np.array([0, 100, 150, 200], np.uint8)).tolist()
    [0, 1, 2, 3]
    """
    if strict:
        stray = stray_values(labels)
        if stray:
            raise LabelError(f"label values outside the scheme {VALUES}: {describe_counts(stray)}")
    if labels.dtype == np.uint8:
        return apply_lut_u8(labels, _TO_INDEX)
    out = np.zeros(labels.shape, dtype=np.uint8)
    for m in MUSCLES:
        out[labels == m.value] = m.index
    return out


def to_value(classes: np.ndarray) -> np.ndarray:
    """Map classes 0/1/2/3 back to mask values 0/100/150/200 (uint8).

    >>> to_value(np.array([0, 1, 2, 3])).tolist()
    [0, 100, 150, 200]
    """
    classes = np.asarray(classes)
    if classes.size and (classes.min() < 0 or classes.max() > len(MUSCLES)):
        raise LabelError(f"class indices must lie in 0..{len(MUSCLES)}, found "
                         f"{int(classes.min())}..{int(classes.max())}")
    return _TO_VALUE[classes]


def describe_counts(counts: dict) -> str:
    """``{7: 12, 99: 3}`` -> ``"7 (12 voxels), 99 (3 voxels)"``."""
    return ", ".join(f"{v} ({c} voxel{'s' if c != 1 else ''})" for v, c in counts.items())


def muscle_volumes_cm3(labels: np.ndarray, spacing, counts: dict | None = None) -> dict[str, float]:
    """Volume of each muscle in cm3 (ml) from voxel counts and the spacing in mm."""
    counts = value_counts(labels) if counts is None else counts
    voxel_mm3 = float(np.prod(spacing))
    return {m.name: counts.get(m.value, 0) * voxel_mm3 / 1000.0 for m in MUSCLES}


def stray_mask(labels: np.ndarray) -> np.ndarray:
    """Boolean mask of the voxels whose value lies outside the scheme {0, 100, 150, 200}."""
    if labels.dtype == np.uint8:
        return apply_lut_u8(labels, _IS_STRAY).view(bool)
    return ~np.isin(labels, VALUES)


def clean_stray(labels: np.ndarray, mode: str = "background") -> np.ndarray:
    """A uint8 copy of ``labels`` with values outside the scheme replaced.

    ``mode="background"`` sets them to 0; ``mode="nearest"`` gives each stray voxel the
    value of the nearest voxel that holds a scheme value (Euclidean distance in voxels;
    ties broken by the distance transform's scan order).

    Examples
    --------
    >>> clean_stray(np.array([[[0, 100, 7, 150]]], np.uint8)).tolist()
    [[[0, 100, 0, 150]]]
    >>> clean_stray(np.array([[[0, 100, 7, 7, 150]]], np.uint8), "nearest").tolist()
    [[[0, 100, 100, 150, 150]]]
    """
    if mode not in ("background", "nearest"):
        raise LabelError(f"unknown stray-value fix {mode!r}; expected 'background' or 'nearest'")
    stray = stray_mask(labels)
    out = labels.copy() if labels.dtype == np.uint8 else np.where(stray, 0, labels).astype(np.uint8)
    if not stray.any():
        return out
    if mode == "background" or stray.all():
        out[stray] = BACKGROUND
        return out
    from scipy import ndimage

    # Only the bounding box of the stray voxels (plus a margin) needs the transform.
    box = []
    for axis in range(3):
        hit = np.flatnonzero(stray.any(axis=tuple(a for a in range(3) if a != axis)))
        box.append(slice(max(int(hit[0]) - 8, 0), min(int(hit[-1]) + 9, labels.shape[axis])))
    box = tuple(box)
    sub_stray = stray[box]
    sub = out[box]
    if sub_stray.all():
        # The margin was clipped at the volume's edges: use the whole volume.
        sub_stray, sub = stray, out
    nearest = ndimage.distance_transform_edt(sub_stray, return_distances=False,
                                             return_indices=True)
    sub[sub_stray] = sub[tuple(n[sub_stray] for n in nearest)]
    return out
