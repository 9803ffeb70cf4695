"""Balanced patch sampling with ultrasound augmentation, from the cached subjects of
:mod:`.cache`. Patches are centred on voxels of a class drawn uniformly among background and the
muscles present, so small muscles (GL) are seen as often as large ones.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InputFileError


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
        :class:`~leg3dus.segment.cache.CachedSubject` records.
    spec
        The model spec (``kind``, ``patch``, ``context``).

    Examples
    --------
    >>> sampler = PatchSampler(subjects, spec)                      # doctest: +SKIP
    >>> x, y = sampler.batch(8, np.random.default_rng(0))          # doctest: +SKIP
    >>> x.shape, y.shape                                           # doctest: +SKIP
    ((8, 5, 128, 128), (8, 1, 128, 128))
    """

    def __init__(self, subjects: list, spec: dict):
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
    """Random ultrasound-style augmentation of a batch of torch tensors, one draw per patch
    from ``rng`` (noise included), as :mod:`leg3dus.segment.augment` describes.

    ``image`` is (B, C, y, x) for 2d and (B, 1, z, y, x) for 3d, in [0, 1]; ``classes``
    has one channel and the same spatial size. Returns new tensors. Training draws its
    parameters per epoch instead (:func:`leg3dus.segment.augment.draw_params`).
    """
    import torch

    from .augment import apply_params

    n, dims = image.shape[0], image.dim() - 2
    turn = rng.random(n) < 0.5
    angle = np.where(turn, rng.uniform(-1, 1, n) * np.deg2rad(10), 0.0)
    scale = np.where(turn, rng.uniform(0.9, 1.1, n), 1.0)
    warp = rng.random(n) < 0.2
    field = (rng.normal(0, 1, (n, dims, *[max(2, s // 16) for s in image.shape[2:]]))
             if warp.any() else None)

    def draw(p, lo, hi, neutral):
        on = rng.random(n) < p
        return np.where(on, rng.uniform(lo, hi, n), neutral)

    params = {"cos": np.cos(angle) / scale, "sin": np.sin(angle) / scale,
              "inv_scale": 1.0 / scale, "warp": warp, "field": field,
              "gain": draw(0.5, 0.8, 1.2, 1.0), "offset": draw(0.3, -0.05, 0.05, 0.0),
              "gamma": draw(0.5, 0.7, 1.5, 1.0)}
    params = {k: None if v is None else np.asarray(v, np.float32) for k, v in params.items()}
    noise = torch.from_numpy(rng.normal(0, 0.03, image.shape).astype(np.float32))
    params["noise_on"] = (rng.random(n) < 0.3).astype(np.float32)
    return apply_params(image, classes, params, noise.to(image.device), noise_sd=1.0)
