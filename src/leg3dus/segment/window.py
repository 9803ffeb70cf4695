"""The sliding-window grid shared by both inference paths: where windows start, their
Gaussian blending weights, the test-time flips, and which windows a slab along axis 0
touches.

Windows lie on one fixed grid over the whole (cropped) volume: along y and x (and z for
the 3d model) they start every ``round(size * (1 - overlap))`` voxels, the last one flush
with the far edge; the 2d model has one window per slice along axis 0. A window larger
than the volume starts at 0 and is padded with zeros.
"""

from __future__ import annotations

import numpy as np


def window_starts(n: int, size: int, overlap: float) -> list[int]:
    """Start indices of windows of ``size`` covering ``0..n`` with the given overlap.

    >>> window_starts(10, 4, 0.5)
    [0, 2, 4, 6]
    >>> window_starts(3, 8, 0.25)
    [0]
    """
    if n <= size:
        return [0]
    step = max(1, int(round(size * (1.0 - overlap))))
    starts = list(range(0, n - size, step))
    return starts + [n - size] if not starts or starts[-1] != n - size else starts


def gaussian_weights(patch) -> np.ndarray:
    """Blending weights of a window (float32, shape ``patch``): MONAI's Gaussian
    importance map (sigma 1/8 of the window per axis, at least 1e-3), computed with numpy
    (equal to MONAI's in tests). A window of depth 1 is a 2D Gaussian.

    >>> w = gaussian_weights((1, 5, 5))
    >>> w.shape, float(w.max()) == float(w[0, 2, 2])
    ((1, 5, 5), True)
    """
    spatial = tuple(patch[1:]) if patch[0] == 1 else tuple(patch)
    w = np.ones((), np.float32)
    for n in spatial:
        x = np.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1, dtype=np.float32)
        g = np.exp(x ** 2 / np.float32(-2 * (n * 0.125) ** 2)).astype(np.float32)
        w = w[..., None] * g
    w = np.maximum(w, max(float(w.min()), 1e-3)).astype(np.float32)
    return w.reshape(patch)


def flips(kind: str, tta: bool) -> list[tuple[int, ...]]:
    """Axes of a batch of windows flipped for test-time augmentation: 2d batches are
    (B, slices, y, x), 3d batches (B, 1, z, y, x); depth (y) is never flipped.

    >>> flips("2d", True)
    [(), (3,), (1,), (1, 3)]
    """
    if not tta:
        return [()]
    return [(), (3,), (1,), (1, 3)] if kind == "2d" else [(), (4,), (2,), (2, 4)]


def unflip(kind: str, dims: tuple[int, ...]) -> tuple[int, ...]:
    """Axes of the class scores (B, K, ...) to flip back: a 2d window's slices (its
    input channels, axis 1) give one output slice, so that flip is not undone.

    >>> unflip("2d", (1, 3)), unflip("3d", (2, 4))
    ((3,), (2, 4))
    """
    return tuple(d for d in dims if d != 1) if kind == "2d" else dims


def z_windows(spec: dict, nz: int, overlap: float, z_indices=None) -> list[int]:
    """Where windows start along axis 0: every slice (or ``z_indices``) for the 2d model,
    :func:`window_starts` for the 3d model.

    >>> z_windows({"kind": "3d", "patch": [4, 8, 8]}, 10, 0.5)
    [0, 2, 4, 6]
    """
    if spec["kind"] == "2d":
        return list(range(nz)) if z_indices is None else sorted(int(z) for z in z_indices)
    return window_starts(nz, int(spec["patch"][0]), overlap)


def slabs_of(nz: int, slab: int | None) -> list[tuple[int, int]]:
    """The slabs ``[a, b)`` along axis 0 (the whole volume when ``slab`` is None or 0).

    >>> slabs_of(10, 4), slabs_of(0, None)
    ([(0, 4), (4, 8), (8, 10)], [])
    """
    slab = max(1, nz if not slab else int(slab))
    return [(a, min(a + slab, nz)) for a in range(0, nz, slab)]


def in_slab(zs: list[int], depth: int, a: int, b: int) -> list[int]:
    """The window starts of ``zs`` (windows ``depth`` slices deep) that touch ``[a, b)``.

    >>> in_slab([0, 2, 4, 6], 4, 4, 6)
    [2, 4]
    """
    return [z for z in zs if z < b and z + depth > a]
