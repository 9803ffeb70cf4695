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


def muscle(key: str | int) -> Muscle:
    """The muscle named ``key`` (``"SOL"``, ``"GM"``, ``"GL"``) or with mask value ``key``."""
    found = BY_NAME.get(str(key).upper()) if isinstance(key, str) else BY_VALUE.get(int(key))
    if found is None:
        raise LabelError(f"unknown muscle {key!r}; expected one of SOL, GM, GL or 100, 150, 200")
    return found


def value_counts(labels: np.ndarray) -> dict[int, int]:
    """Voxel count of every value present in ``labels``, in increasing value order."""
    if labels.dtype == np.uint8:
        counts = np.bincount(labels.ravel(), minlength=256)
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
        return _TO_INDEX[labels]
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


def clean_stray(labels: np.ndarray, mode: str = "background") -> np.ndarray:
    """A copy of ``labels`` with values outside the scheme replaced.

    ``mode="background"`` sets them to 0; ``mode="nearest"`` gives each stray voxel the
    value of the nearest voxel that holds a scheme value (Euclidean, in voxels).
    """
    stray_mask = ~np.isin(labels, VALUES)
    out = labels.astype(np.uint8, copy=True) if labels.dtype != np.uint8 else labels.copy()
    if not stray_mask.any():
        return out
    if mode == "background":
        out[stray_mask] = BACKGROUND
    elif mode == "nearest":
        from scipy import ndimage

        # Only the bounding box of the stray voxels (plus a margin) needs the transform.
        idx = np.argwhere(stray_mask)
        lo = np.maximum(idx.min(0) - 8, 0)
        hi = np.minimum(idx.max(0) + 9, labels.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        sub_stray = stray_mask[box]
        if sub_stray.all():
            out[box][sub_stray] = BACKGROUND
            return out
        _, nearest = ndimage.distance_transform_edt(sub_stray, return_indices=True)
        sub = out[box]
        sub[sub_stray] = sub[tuple(n[sub_stray] for n in nearest)]
    else:
        raise LabelError(f"unknown stray-value fix {mode!r}; expected 'background' or 'nearest'")
    return out
