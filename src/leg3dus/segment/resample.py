"""Applying a model at its own spacing: the image resampled to it (area averaging when
shrinking, linear when growing) and the class scores interpolated back to the input grid
before the argmax, slab by slab (torch's interpolation)."""

from __future__ import annotations

import numpy as np

from . import require_seg


def resample_image(array: np.ndarray, shape, slab: int = 32) -> np.ndarray:
    """``array`` (uint8, (z, y, x)) on a grid of ``shape``: area averaging when shrinking,
    linear interpolation when growing; in-plane slab by slab, then along axis 0."""
    torch, _ = require_seg()
    import torch.nn.functional as F

    def resize(t, size):
        shrink = all(s <= n for s, n in zip(size, t.shape[2:], strict=True))
        if shrink:
            return F.interpolate(t, size=size, mode="area")
        mode = "bilinear" if len(size) == 2 else "linear"
        return F.interpolate(t, size=size, mode=mode, align_corners=False)

    nz = array.shape[0]
    plane = np.empty((nz, shape[1], shape[2]), np.float32)
    for a in range(0, nz, slab):
        t = torch.from_numpy(np.ascontiguousarray(array[a:a + slab], np.float32))[None]
        plane[a:a + slab] = resize(t, tuple(shape[1:]))[0].numpy()
    t = torch.from_numpy(plane.reshape(nz, -1).T.copy())[None]  # (1, y*x, z)
    out = resize(t, (shape[0],))[0].numpy().T.reshape(shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def upsample_argmax(scores: np.ndarray, shape, slab: int = 16) -> np.ndarray:
    """Argmax (uint8) on a grid of ``shape`` of class scores (K, z', y', x'), interpolated
    linearly (voxel centres aligned), slab by slab along axis 0."""
    torch, _ = require_seg()
    import torch.nn.functional as F

    nzc = scores.shape[1]
    out = np.empty(shape, np.uint8)
    for a in range(0, shape[0], slab):
        z = np.arange(a, min(a + slab, shape[0]))
        zc = np.clip((z + 0.5) * nzc / shape[0] - 0.5, 0, nzc - 1)
        z0 = np.floor(zc).astype(int)
        z1 = np.minimum(z0 + 1, nzc - 1)
        w = (zc - z0).astype(np.float32)[:, None, None, None]
        s = (1 - w) * scores[:, z0].transpose(1, 0, 2, 3) + w * scores[:, z1].transpose(1, 0, 2, 3)
        t = F.interpolate(torch.from_numpy(np.ascontiguousarray(s)), size=tuple(shape[1:]),
                          mode="bilinear", align_corners=False)
        out[z[0]:z[-1] + 1] = t.argmax(1).numpy().astype(np.uint8)
    return out
