"""The training cache: each subject read once into two uncompressed ``.npy`` files that
later runs memory-map: the image (uint8) cropped to the box of its non-zero voxels and the
classes (0..3, uint8; :data:`IGNORE` where sparse annotations say nothing) cropped to the
box of the muscles, zero outside, as a patch or a sliding window sees them. A cohort of
0.5 GB volumes trains on a machine that holds only the patches in memory, and a full-size
subject takes well under 0.6 GB of disk, not 1 GB.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.annotated import annotated_indices
from ..core.arrays import bounding_box
from ..core.atomic import atomic_path
from ..core.errors import GeometryError, InputFileError, OptionError
from ..core.label_values import read_labels, resolve
from ..core.volume_io import read_volume
from .data import as_uint8

#: The class of voxels without annotation (unannotated slices of sparse labels): the loss
#: skips them.
IGNORE = 255
#: Sample coordinates kept per class and subject (a sparse grid, not every voxel).
SAMPLE_GRID_POINTS = 4_000_000


#: Version of the cache layout, part of each entry's name (older entries are not read).
CACHE_FORMAT = "c2"


class Cropped:
    """A (z, y, x) volume held as the box of its non-zero voxels: zero elsewhere.

    ``data`` is the box (a memory-mapped array in the cache) and ``offset`` its first
    voxel in the volume of ``shape``. Indexing with integers and slices, or slices and
    one integer array, gives what the full array would; ``np.asarray`` builds the full
    array.

    Examples
    --------
    >>> c = Cropped(np.array([[[5, 6]]], np.uint8), (1, 0, 1), (2, 1, 4))
    >>> c[:, 0].tolist(), c.shape
    ([[0, 0, 0, 0], [0, 5, 6, 0]], (2, 1, 4))
    >>> np.asarray(c)[1, 0, 2].item()
    6
    """

    def __init__(self, data: np.ndarray, offset, shape):
        self.data = data
        self.offset = tuple(int(v) for v in offset)
        self.shape = tuple(int(v) for v in shape)

    @classmethod
    def of(cls, array: np.ndarray) -> Cropped:
        """The box of the non-zero voxels of ``array`` (a view, not a copy)."""
        box = bounding_box(array)
        if box is None:
            box = (slice(0, 0),) * array.ndim
        return cls(array[box], [b.start for b in box], array.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __array__(self, dtype=None, copy=None):
        out = np.zeros(self.shape, dtype or self.dtype)
        out[tuple(slice(o, o + n) for o, n in zip(self.offset, self.data.shape,
                                                  strict=True))] = self.data
        return out

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        if len(key) > self.ndim or any(k is Ellipsis or k is None for k in key):
            raise IndexError(f"index {key!r}: expected integers, slices or one integer "
                             f"array for each of the {self.ndim} axes")
        key = key + (slice(None),) * (self.ndim - len(key))
        pick, src, dst, out_shape, inside, arrays = [], [], [], [], True, 0
        for k, n, off, m in zip(key, self.shape, self.offset, self.data.shape, strict=True):
            if isinstance(k, (int, np.integer)):
                i = int(k) + n if k < 0 else int(k)
                if not 0 <= i < n:
                    raise IndexError(f"index {int(k)} is out of bounds for size {n}")
                inside &= off <= i < off + m
                pick.append(i - off)
                continue
            pick.append(slice(None))
            idx = range(n)[k] if isinstance(k, slice) else np.arange(n)[np.asarray(k)]
            out_shape.append(len(idx))
            if isinstance(idx, range):  # a slice stays a slice: its hits are a run
                j0, j1 = _run_inside(idx, off, off + m)
                inside &= j1 > j0
                end = idx.start + (j1 - 1) * idx.step - off + idx.step
                src.append(slice(idx.start + j0 * idx.step - off, end if end >= 0 else None,
                                 idx.step) if j1 > j0 else slice(0, 0))
                dst.append(slice(j0, j1))
                continue
            idx = np.asarray(idx)
            arrays += 1
            if idx.ndim != 1 or arrays > 1 or any(isinstance(k, (int, np.integer))
                                                  for k in key):
                raise IndexError("expected at most one one-dimensional integer array index, "
                                 "and no integer index with it")
            hit = (idx >= off) & (idx < off + m)
            src.append(idx[hit] - off)
            dst.append(np.flatnonzero(hit))
        out = np.zeros(out_shape, self.dtype)
        if inside:
            # integers first, so that an array index keeps its place as in ``out``
            out[tuple(dst)] = self.data[tuple(pick)][tuple(src)]
        return out


def _run_inside(r: range, lo: int, hi: int) -> tuple[int, int]:
    """Positions ``j0:j1`` of the values of ``r`` that lie in ``lo..hi-1``."""
    n, start, step = len(r), r.start, r.step
    if step > 0:
        j0, j1 = -((start - lo) // step), -((start - hi) // step)
    else:
        j0, j1 = (start - hi) // -step + 1, (start - lo) // -step + 1
    return max(j0, 0), min(max(j1, 0), n)


@dataclass
class CachedSubject:
    """A subject's image and classes, (z, y, x): arrays or :class:`Cropped` volumes of
    memory-mapped boxes, indexed like the full arrays."""

    id: str
    image: np.ndarray | Cropped
    classes: np.ndarray | Cropped
    spacing: tuple[float, float, float]
    samples: dict[int, np.ndarray] = field(default_factory=dict)


def _cache_key(image: Path, label: Path) -> str:
    parts = []
    for p in (image, label):
        st = p.stat()
        parts.append(f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _class_samples(image: np.ndarray, classes: np.ndarray) -> dict[int, np.ndarray]:
    # A regular sub-grid keeps the cost bounded on full-size volumes.
    step = max(1, round((classes.size / SAMPLE_GRID_POINTS) ** (1 / 3)))
    sub = classes[::step, ::step, ::step]
    inside = image[::step, ::step, ::step] > 0
    out = {}
    for k in range(len(lab.MUSCLES) + 1):
        mask = (sub == k) & inside if k == 0 else sub == k
        idx = np.argwhere(mask).astype(np.int32) * step
        if len(idx):
            out[k] = idx
    return out


def _slice_samples(image: np.ndarray, classes: np.ndarray,
                   idx: np.ndarray) -> dict[int, np.ndarray]:
    """Sample coordinates of each class on the slices ``idx`` only (sparse annotations):
    a regular in-plane sub-grid, background only inside the scanned region."""
    plane = classes.shape[1] * classes.shape[2]
    step = max(1, round((len(idx) * plane / SAMPLE_GRID_POINTS) ** 0.5))
    sub = classes[idx, ::step, ::step]
    inside = image[idx, ::step, ::step] > 0
    out = {}
    for k in range(len(lab.MUSCLES) + 1):
        where = np.argwhere((sub == k) & inside if k == 0 else sub == k)
        if len(where):
            where[:, 1:] *= step
            where[:, 0] = idx[where[:, 0]]
            out[k] = where.astype(np.int32)
    return out


def cache_subject(subject_id: str, image_path, label_path, cache_dir,
                  label_values=None, annotated=None) -> CachedSubject:
    """Read one subject once into ``cache_dir`` and return it memory-mapped.

    The cache entry is keyed by the files' paths, sizes and modification times (and the
    label convention when it is not the scheme), so an edited file is read again. Labels
    are read in the convention of ``label_values`` or the file's label table
    (:func:`leg3dus.core.label_values.read_labels`), checked against the scheme (stray values
    raise :class:`leg3dus.core.errors.LabelError`) and mapped to classes 0..3.

    With ``annotated`` (slice indices along axis 0, or ``"labels"``: the slices that
    hold labels), the labels are sparse annotations: the other slices become
    :data:`IGNORE` and patch centres lie on the annotated slices only.

    >>> s = cache_subject("S01", "train/S01/x1.mha", "train/S01/masksX1.mha",
    ...                   "run/cache")  # doctest: +SKIP
    >>> s.image.shape, s.classes.dtype  # doctest: +SKIP
    ((400, 175, 156), dtype('uint8'))
    """
    image_path, label_path = Path(image_path), Path(label_path)
    for p, what in ((image_path, "image"), (label_path, "label")):
        if not p.is_file():
            raise InputFileError(f"{p}: no such {what} file for subject {subject_id}")
    convention = resolve(label_path, label_values)
    suffix = "" if convention.is_scheme else \
        "-" + hashlib.sha1(convention.describe().encode()).hexdigest()[:8]
    key = _cache_key(image_path, label_path)
    if annotated is not None:
        suffix += "-s" + hashlib.sha1(str(annotated).encode()).hexdigest()[:8]
    entry = Path(cache_dir) / f"{subject_id}-{key}{suffix}-{CACHE_FORMAT}"
    meta_path = entry / "meta.json"
    if not meta_path.exists():
        image = read_volume(image_path)
        image = image.with_array(as_uint8(image.array, image_path))
        labels, _ = read_labels(label_path, convention, allow_stray=True)
        if labels.shape != image.shape:
            raise GeometryError(f"{label_path}: label grid {labels.shape} differs from the "
                                f"image grid {image.shape} of {image_path}")
        try:
            classes = lab.to_index(labels.array, in_place=True)
        except lab.LabelError as exc:
            raise lab.LabelError(f"{label_path}: {exc}") from None
        if annotated is not None:
            try:
                idx = annotated_indices(labels.array,
                                        None if annotated == "labels" else annotated)
            except (lab.LabelError, OptionError) as exc:
                raise type(exc)(f"{label_path}: {exc}") from None
            keep = np.zeros(classes.shape[0], bool)
            keep[idx] = True
            classes[~keep] = IGNORE
        del labels
        entry.mkdir(parents=True, exist_ok=True)
        samples = (_class_samples(image.array, classes) if annotated is None
                   else _slice_samples(image.array, classes, np.flatnonzero(keep)))
        boxes = {}
        for name, arr in (("image", image.array), ("classes", classes)):
            box = Cropped.of(arr)  # patches and windows see zeros outside it anyway
            boxes[name] = list(box.offset)
            with atomic_path(entry / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
                np.save(fh, box.data)
        with atomic_path(entry / "samples.npz") as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **{str(k): v for k, v in samples.items()})
        meta = {"id": subject_id, "image": str(image_path), "label": str(label_path),
                "shape": list(image.shape), "spacing": list(image.spacing),
                "offset": boxes}
        with atomic_path(meta_path) as tmp:
            tmp.write_text(json.dumps(meta))
        del image, classes
    meta = json.loads(meta_path.read_text())
    with np.load(entry / "samples.npz") as z:
        samples = {int(k): z[k] for k in z.files}
    image, classes = (Cropped(np.load(entry / f"{name}.npy", mmap_mode="r"),
                              meta["offset"][name], meta["shape"])
                      for name in ("image", "classes"))
    return CachedSubject(subject_id, image, classes, tuple(meta["spacing"]), samples)


def cache_dir_for(run: os.PathLike, config: dict) -> Path:
    """The cache folder of a run: ``config["cache_dir"]`` or ``RUN/cache``."""
    return Path(config.get("cache_dir") or Path(run) / "cache")
