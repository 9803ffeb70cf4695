"""Lazy access to training volumes and balanced patch sampling with ultrasound augmentation.

Each subject is read once and cached as two uncompressed ``.npy`` files that later runs
memory-map: the image (uint8) cropped to the box of its non-zero voxels and the classes
(0..3, uint8) cropped to the box of the muscles, zero outside, as a patch or a sliding
window sees them. A cohort of 0.5 GB volumes trains on a machine that holds only the
patches in memory, and a full-size subject takes well under 0.6 GB of disk, not 1 GB.
Patches are centred on voxels of a class drawn uniformly among background and the
muscles present, so small muscles (GL) are seen as often as large ones.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.arrays import bounding_box
from ..core.atomic import atomic_path
from ..core.errors import GeometryError, InputFileError
from ..core.label_values import read_labels, resolve
from ..core.volume_io import read_volume

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


def cache_subject(subject_id: str, image_path, label_path, cache_dir,
                  label_values=None) -> CachedSubject:
    """Read one subject once into ``cache_dir`` and return it memory-mapped.

    The cache entry is keyed by the files' paths, sizes and modification times (and the
    label convention when it is not the scheme), so an edited file is read again. Labels
    are read in the convention of ``label_values`` or the file's label table
    (:func:`leg3dus.core.label_values.read_labels`), checked against the scheme (stray values
    raise :class:`leg3dus.core.errors.LabelError`) and mapped to classes 0..3.

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
        del labels
        entry.mkdir(parents=True, exist_ok=True)
        samples = _class_samples(image.array, classes)
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


def as_uint8(array: np.ndarray, source="image", slab: int = 64) -> np.ndarray:
    """A B-mode volume as uint8: uint8 as is, any other integer or float type when all its
    values lie in 0..255 (floats rounded to the nearest integer), else
    :class:`InputFileError` naming ``source`` (the file) and the values found.

    >>> as_uint8(np.array([[[0.0, 127.6, 255.0]]], np.float32)).tolist()
    [[[0, 128, 255]]]
    """
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    kind = array.dtype.kind
    if kind in "iuf" and array.size:
        lo, hi = array.min(), array.max()
        if np.isfinite(lo) and np.isfinite(hi) and lo >= 0 and hi <= 255:
            if kind != "f":
                return array.astype(np.uint8)
            out = np.empty(array.shape, np.uint8)
            for a in range(0, max(array.shape[0], 1), slab):
                np.rint(array[a:a + slab], out=out[a:a + slab], casting="unsafe")
            return out
        found = f"{array.dtype} with values {lo}..{hi}"
    else:
        found = f"{array.dtype} values" if array.size else "an empty array"
    raise InputFileError(f"{source}: expected a B-mode image with values 0..255 (uint8, or "
                         f"another number type within that range), found {found}")


def extract(array: np.ndarray, start, size, context: int = 0) -> np.ndarray:
    """The box ``array[start : start + size]`` (z, y, x), zero outside the array.

    With ``context > 0`` (2.5D), ``size[0]`` must be 1 and the result has
    ``2 * context + 1`` slices centred on ``start[0]``, indices clamped at the ends (edge
    slices repeat), as the 2D model sees them.

    >>> a = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)
    >>> extract(a, (1, 1, 1), (2, 2, 2))[0].tolist()
    [[7, 0], [0, 0]]
    """
    start = [int(s) for s in start]
    size = [int(s) for s in size]
    if context:
        zs = np.clip(np.arange(start[0] - context, start[0] + context + 1), 0,
                     array.shape[0] - 1)
        out_shape = (len(zs), size[1], size[2])
    else:
        out_shape = tuple(size)
    out = np.zeros(out_shape, dtype=array.dtype)
    src, dst = [], []
    axes = (1, 2) if context else (0, 1, 2)
    for ax in axes:
        lo, hi = max(start[ax], 0), min(start[ax] + size[ax], array.shape[ax])
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - start[ax], hi - start[ax]))
    if context:
        out[:, dst[0], dst[1]] = np.stack([array[z, src[0], src[1]] for z in zs])
    else:
        out[tuple(dst)] = array[tuple(src)]
    return out


class PatchSampler:
    """Draw training patches from cached subjects, balanced over classes.

    Parameters
    ----------
    subjects
        :class:`CachedSubject` records.
    spec
        The model spec (``kind``, ``patch``, ``context``).

    Examples
    --------
    >>> sampler = PatchSampler(subjects, spec)                      # doctest: +SKIP
    >>> x, y = sampler.batch(8, np.random.default_rng(0))          # doctest: +SKIP
    >>> x.shape, y.shape                                           # doctest: +SKIP
    ((8, 5, 128, 128), (8, 1, 128, 128))
    """

    def __init__(self, subjects: list[CachedSubject], spec: dict):
        if not subjects:
            raise InputFileError("no training subjects with both an image and labels")
        self.subjects = subjects
        self.spec = spec

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One (image float32 (C, *spatial), classes int64 (1, *spatial)) pair."""
        subject = self.subjects[rng.integers(len(self.subjects))]
        present = sorted(subject.samples)
        coords = subject.samples[present[rng.integers(len(present))]]
        centre = coords[rng.integers(len(coords))]
        size = np.asarray(self.spec["patch"])
        jitter = rng.integers(-(size // 4), size // 4 + 1)
        start = centre - size // 2 + jitter
        if self.spec["kind"] == "2d":
            start[0] = centre[0]
            c = self.spec["context"]
            image = extract(subject.image, start, size, context=c)
            classes = extract(subject.classes, start, size)[0][None]
        else:
            image = extract(subject.image, start, size)[None]
            classes = extract(subject.classes, start, size)[None]
        return image.astype(np.float32) / 255.0, classes.astype(np.int64)

    def batch(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples stacked: image (n, C, *spatial), classes (n, 1, *spatial)."""
        pairs = [self.sample(rng) for _ in range(n)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def augment_batch(image, classes, rng: np.random.Generator, kind: str):
    """Random ultrasound-style augmentation of a batch of torch tensors, one draw per patch.

    Geometry (image and classes together, one resampling): with probability 0.5 a
    rotation about axis 0 (+-10 degrees, in the transverse plane) and a scaling
    (+-10 %); with probability 0.2 a smooth elastic displacement (about 2 voxels).
    Intensity (image only): gain x0.8..1.2 (p 0.5), offset +-0.05 (p 0.3), gamma
    0.7..1.5 (p 0.5, changes of dynamic range), Gaussian noise sd 0.03 (p 0.3). Depth
    (axis 1) is never flipped: attenuation makes it asymmetric.

    ``image`` is (B, C, y, x) for 2d and (B, 1, z, y, x) for 3d, in [0, 1]; ``classes``
    has one channel and the same spatial size. Returns new tensors.
    """
    import torch
    import torch.nn.functional as F

    n, dims = image.shape[0], image.dim() - 2
    eye = torch.eye(dims, dims + 1).repeat(n, 1, 1)
    turn = rng.random(n) < 0.5
    angle = np.where(turn, rng.uniform(-1, 1, n) * np.deg2rad(10), 0.0)
    scale = np.where(turn, rng.uniform(0.9, 1.1, n), 1.0)
    cos = torch.tensor(np.cos(angle) / scale, dtype=torch.float32)
    sin = torch.tensor(np.sin(angle) / scale, dtype=torch.float32)
    theta = eye.clone()  # rows and columns ordered (x, y[, z]): turn in the (x, y) plane
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    if dims == 3:
        theta[:, 2, 2] = torch.tensor(1.0 / scale, dtype=torch.float32)
    size = image.shape
    grid = F.affine_grid(theta, list(size), align_corners=False)
    warp = rng.random(n) < 0.2
    if warp.any():
        coarse = [max(2, s // 16) for s in size[2:]]
        field = torch.from_numpy(rng.normal(0, 1, (n, dims, *coarse)).astype(np.float32))
        field *= torch.from_numpy(warp.astype(np.float32)).view(n, *([1] * (dims + 1)))
        mode = "bilinear" if dims == 2 else "trilinear"
        field = F.interpolate(field, size=list(size[2:]), mode=mode, align_corners=False)
        # 2 voxels in normalised coordinates, per grid axis (x, y[, z]).
        per_axis = torch.tensor([2.0 * 2.0 / s for s in size[2:][::-1]])
        grid = grid + field.movedim(1, -1) * per_axis
    image = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    classes = F.grid_sample(classes.float(), grid, mode="nearest", padding_mode="zeros",
                            align_corners=False).long()
    shape = (n,) + (1,) * (dims + 1)

    def draw(p, lo, hi, neutral):
        on = rng.random(n) < p
        v = np.where(on, rng.uniform(lo, hi, n), neutral).astype(np.float32)
        return torch.from_numpy(v).view(shape)

    image = image * draw(0.5, 0.8, 1.2, 1.0) + draw(0.3, -0.05, 0.05, 0.0)
    image = image.clamp(0, 1) ** draw(0.5, 0.7, 1.5, 1.0)
    noise = torch.from_numpy(rng.normal(0, 0.03, image.shape).astype(np.float32))
    image = image + noise * torch.from_numpy((rng.random(n) < 0.3).astype(np.float32)).view(shape)
    return image, classes


def cache_dir_for(run: os.PathLike, config: dict) -> Path:
    """The cache folder of a run: ``config["cache_dir"]`` or ``RUN/cache``."""
    return Path(config.get("cache_dir") or Path(run) / "cache")
