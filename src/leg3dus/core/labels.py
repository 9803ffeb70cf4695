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

        @numba.njit(cache=True, nogil=True)
        def min_max(flat):
            lo = hi = flat[0]
            for i in range(1, flat.size):
                v = flat[i]
                if v < lo:
                    lo = v
                elif v > hi:
                    hi = v
            return lo, hi

        @numba.njit(cache=True, nogil=True)
        def counts_offset(flat, lo, n_bins):
            # values lie in lo..lo + n_bins - 1, so v - lo cannot overflow
            c = np.zeros(n_bins, np.int64)
            for i in range(flat.size):
                c[np.int64(flat[i] - lo)] += 1
            return c

        @numba.njit(cache=True, nogil=True)
        def counts_hash(flat, keys, used, counts):
            # Open addressing on int64 keys; returns False when the table is over half
            # full (the caller retries with a larger one). Runs of one value skip the hash.
            mask = keys.size - 1
            n_used = 0
            last_slot = -1
            last = np.int64(0)
            for i in range(flat.size):
                v = np.int64(flat[i])
                if last_slot >= 0 and v == last:
                    counts[last_slot] += 1
                    continue
                h = (np.uint64(v) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)
                slot = np.int64(h & np.uint64(mask))
                while used[slot] and keys[slot] != v:
                    slot = (slot + 1) & mask
                if not used[slot]:
                    used[slot] = True
                    keys[slot] = v
                    n_used += 1
                    if 2 * n_used > keys.size:
                        return False
                counts[slot] += 1
                last, last_slot = v, slot
            return True

        _KERNELS.update(counts=counts_u8, lut=lut_u8, min_max=min_max,
                        counts_offset=counts_offset, counts_hash=counts_hash)
    return _KERNELS


def _flat(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).reshape(-1)


def apply_lut_u8(labels: np.ndarray, table: np.ndarray,
                 out: np.ndarray | None = None) -> np.ndarray:
    """``table[labels]`` for a uint8 array and a 256-entry uint8 table, without temporaries;
    into ``out`` (a C-contiguous uint8 array of the same shape, ``labels`` itself allowed)
    when given."""
    if out is None:
        out = np.empty(labels.shape, np.uint8)
    elif out.shape != labels.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous uint8 array of shape {labels.shape}")
    _kernels()["lut"](_flat(labels), np.ascontiguousarray(table, np.uint8), out.reshape(-1))
    return out


def muscle(key: str | int) -> Muscle:
    """The muscle named ``key`` (``"SOL"``, ``"GM"``, ``"GL"``) or with mask value ``key``."""
    found = BY_NAME.get(str(key).upper()) if isinstance(key, str) else BY_VALUE.get(int(key))
    if found is None:
        raise LabelError(f"unknown muscle {key!r}; expected one of SOL, GM, GL or 100, 150, 200")
    return found


def value_counts(labels: np.ndarray) -> dict[int, int]:
    """Voxel count of every value present in ``labels``, in increasing value order.

    Integer (and boolean) volumes are counted in one pass without sorting and without a
    copy: a table of counts over the value range when it is small (every 8- and 16-bit
    type, and wider types whose values span at most a few million), a hash table
    otherwise. Floating-point volumes go through ``np.unique``.

    >>> value_counts(np.array([[[-3, 200, 200, 70000]]], np.int32))
    {-3: 1, 200: 2, 70000: 1}
    """
    flat = _flat(labels)
    if flat.dtype == bool:
        flat = flat.view(np.uint8)
    if flat.dtype.kind not in "iu":
        values, counts = np.unique(labels, return_counts=True)
        return {int(v) if float(v).is_integer() else float(v): int(c)
                for v, c in zip(values, counts, strict=True)}
    if not flat.size:
        return {}
    k = _kernels()
    if flat.dtype.itemsize == 1:
        counts = k["counts"](flat.view(np.uint8))
        lo = -128 if flat.dtype.kind == "i" else 0
        if lo:  # int8 viewed as uint8: 128..255 hold -128..-1
            counts = np.roll(counts, 128)
        return {int(v) + lo: int(counts[v]) for v in np.flatnonzero(counts)}
    lo, hi = (int(v) for v in k["min_max"](flat))
    n_bins = hi - lo + 1
    if n_bins <= max(1 << 16, min(flat.size, 1 << 24)):
        counts = k["counts_offset"](flat, flat.dtype.type(lo), n_bins)
        return {int(v) + lo: int(counts[v]) for v in np.flatnonzero(counts)}
    size = 1 << 10
    while True:
        keys, used = np.zeros(size, np.int64), np.zeros(size, bool)
        counts = np.zeros(size, np.int64)
        if k["counts_hash"](flat, keys, used, counts):
            break
        size *= 4
    found = keys[used]
    if flat.dtype == np.uint64:
        found = found.view(np.uint64)
    order = np.argsort(found)  # the distinct values only
    return {int(v): int(c) for v, c in zip(found[order], counts[used][order], strict=True)}


def stray_values(labels: np.ndarray, counts: dict | None = None) -> dict[int, int]:
    """Values outside the scheme {0, 100, 150, 200} with their voxel counts."""
    counts = value_counts(labels) if counts is None else counts
    return {v: c for v, c in counts.items() if v not in VALUES}


def to_index(labels: np.ndarray, strict: bool = True, in_place: bool = False) -> np.ndarray:
    """Map mask values 0/100/150/200 to classes 0/1/2/3 (uint8).

    With ``strict`` a value outside the scheme raises :class:`LabelError` listing the
    stray values and their counts; otherwise stray values become background.
    ``in_place`` writes the classes over ``labels`` when it is a writable C-contiguous
    uint8 array (no second full-size array) and returns it.

    >>> to_index(np.array([0, 100, 150, 200], np.uint8)).tolist()
    [0, 1, 2, 3]
    """
    if strict:
        stray = stray_values(labels)
        if stray:
            raise LabelError(f"label values outside the scheme {VALUES}: {describe_counts(stray)}")
    if labels.dtype == np.uint8:
        inplace = in_place and labels.flags.c_contiguous and labels.flags.writeable
        return apply_lut_u8(labels, _TO_INDEX, out=labels if inplace else None)
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


def clean_stray(labels: np.ndarray, mode: str = "background", slab: int = 32) -> np.ndarray:
    """A uint8 copy of ``labels`` with values outside the scheme replaced.

    ``mode="background"`` sets them to 0; ``mode="nearest"`` gives each stray voxel the
    value of the nearest voxel that holds a scheme value (Euclidean distance in voxels;
    ties broken by the distance transform's scan order).

    The volume is read ``slab`` planes of axis 0 at a time; nearest values are found in a
    window around the stray voxels of each slab that grows until the value found for
    each voxel is provably the nearest one. Memory is the output and a few slabs (not a
    transform with indices over a full-size volume, ~6 GB) unless strays are very thick.

    Examples
    --------
    >>> clean_stray(np.array([[[0, 100, 7, 150]]], np.uint8)).tolist()
    [[[0, 100, 0, 150]]]
    >>> clean_stray(np.array([[[0, 100, 7, 7, 150]]], np.uint8), "nearest").tolist()
    [[[0, 100, 100, 150, 150]]]
    """
    if mode not in ("background", "nearest"):
        raise LabelError(f"unknown stray-value fix {mode!r}; expected 'background' or 'nearest'")
    out = np.empty(labels.shape, np.uint8)
    todo, n_stray = [], 0
    for a in range(0, labels.shape[0], slab):  # strays to 0, a slab at a time
        part = labels[a:a + slab]
        stray = stray_mask(part)
        n = int(np.count_nonzero(stray))
        out[a:a + slab] = np.where(stray, BACKGROUND, part) if n else part
        n_stray += n
        if n:
            todo.append(a)
    if mode == "background" or n_stray in (0, labels.size):
        return out
    for a in todo:
        _fill_nearest(out, labels, a, min(a + slab, labels.shape[0]))
    return out


def _fill_nearest(out: np.ndarray, labels: np.ndarray, a: int, b: int, margin: int = 8) -> None:
    # Stray voxels of planes a..b take the value of their nearest non-stray voxel, found by
    # a distance transform over a window around them. A voxel outside the window lies at
    # least (distance to the window's edge) away, so a value found nearer than every open
    # edge is the nearest of the whole volume; otherwise the window grows.
    from scipy import ndimage

    from .arrays import bounding_box

    box = bounding_box(stray_mask(labels[a:b]))
    core = [(a + box[0].start, a + box[0].stop)] + [(s.start, s.stop) for s in box[1:]]
    shape = labels.shape
    while True:
        window = tuple(slice(max(lo - margin, 0), min(hi + margin, n))
                       for (lo, hi), n in zip(core, shape, strict=True))
        sub = stray_mask(labels[window])
        whole = all(w.start == 0 and w.stop == n for w, n in zip(window, shape, strict=True))
        if sub.all():
            margin *= 2
            continue
        nearest = ndimage.distance_transform_edt(sub, return_distances=False,
                                                 return_indices=True)
        inner = tuple(slice(lo - w.start, hi - w.start)
                      for (lo, hi), w in zip(core, window, strict=True))
        pts = np.nonzero(sub[inner])
        pts = tuple(p + s.start for p, s in zip(pts, inner, strict=True))
        found = tuple(n[pts] for n in nearest)
        d = np.sqrt(sum((f - p).astype(np.float64) ** 2 for f, p in zip(found, pts, strict=True)))
        if not whole:
            bound = np.full(d.shape, np.inf)
            for p, w, n in zip(pts, window, shape, strict=True):
                if w.start > 0:
                    np.minimum(bound, p + 1, out=bound)
                if w.stop < n:
                    np.minimum(bound, (w.stop - w.start) - p, out=bound)
            if (d > bound).any():
                margin *= 2
                continue
        sub_out = out[window]
        sub_out[pts] = sub_out[found]
        return
