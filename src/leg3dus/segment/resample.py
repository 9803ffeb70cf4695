"""Applying a model at its own spacing: the image resampled to it (area averaging when
shrinking, linear when growing) and the class scores interpolated back to the input grid
before the argmax, slab by slab (torch's interpolation), on the CPU or on the model's
device (a GPU): there the coarse image and its scores never leave the device and only
uint8 classes come back."""

from __future__ import annotations

import warnings

import numpy as np

from . import require_seg


def _resize(t, size):
    import torch.nn.functional as F

    shrink = all(s <= n for s, n in zip(size, t.shape[2:], strict=True))
    if shrink:
        return F.interpolate(t, size=size, mode="area")
    mode = "bilinear" if len(size) == 2 else "linear"
    return F.interpolate(t, size=size, mode=mode, align_corners=False)


def resample_image(array, shape, slab: int = 32, device=None):
    """``array`` (uint8, (z, y, x)) on a grid of ``shape``: area averaging when shrinking,
    linear interpolation when growing; in-plane slab by slab, then along axis 0.

    A numpy array gives a numpy array, computed on the CPU; with ``device`` (or a tensor
    ``array``) the work and the result (a uint8 tensor) stay on that device.

    >>> resample_image(np.full((4, 4, 4), 7, np.uint8), (2, 2, 2)).tolist()[0]
    [[7, 7], [7, 7]]
    """
    torch, _ = require_seg()
    as_numpy = device is None and not isinstance(array, torch.Tensor)
    if device is None:
        device = array.device if isinstance(array, torch.Tensor) else "cpu"
    nz = array.shape[0]
    plane = torch.empty((nz, shape[1], shape[2]), dtype=torch.float32, device=device)
    for a in range(0, nz, slab):
        part = array[a:a + slab]
        if not isinstance(part, torch.Tensor):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # a read-only array is only read
                part = torch.from_numpy(np.ascontiguousarray(part))
        t = part
        t = t.to(device).to(torch.float32)[None]
        plane[a:a + slab] = _resize(t, tuple(shape[1:]))[0]
    t = plane.reshape(nz, -1).T.contiguous()[None]  # (1, y*x, z)
    del plane
    out = _resize(t, (shape[0],))[0].T.reshape(tuple(shape))
    out = torch.clamp(torch.round(out), 0, 255).to(torch.uint8)
    return out.numpy() if as_numpy else out


def upsample_argmax(scores, shape, slab: int = 16) -> np.ndarray:
    """Argmax (uint8, numpy) on a grid of ``shape`` of class scores (K, z', y', x'),
    interpolated linearly (voxel centres aligned), slab by slab along axis 0, on the
    device of ``scores`` (a numpy array or a tensor).

    >>> s = np.zeros((2, 1, 2, 2), np.float32); s[1, :, :, 1] = 1; s[0] = 1 - s[1]
    >>> upsample_argmax(s, (2, 2, 4))[0].tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1]]
    """
    torch, _ = require_seg()
    import torch.nn.functional as F

    if not isinstance(scores, torch.Tensor):
        scores = torch.from_numpy(np.asarray(scores, np.float32))
    dev = scores.device
    nzc = scores.shape[1]
    out = np.empty(tuple(shape), np.uint8)
    for a in range(0, shape[0], slab):
        z = np.arange(a, min(a + slab, shape[0]))
        zc = np.clip((z + 0.5) * nzc / shape[0] - 0.5, 0, nzc - 1)
        z0 = np.floor(zc).astype(np.int64)
        z1 = np.minimum(z0 + 1, nzc - 1)
        w = torch.from_numpy((zc - z0).astype(np.float32)[:, None, None, None]).to(dev)
        z0, z1 = torch.from_numpy(z0).to(dev), torch.from_numpy(z1).to(dev)
        s = (1 - w) * scores[:, z0].transpose(0, 1) + w * scores[:, z1].transpose(0, 1)
        t = F.interpolate(s.contiguous(), size=tuple(shape[1:]), mode="bilinear",
                          align_corners=False)
        out[z[0]:z[-1] + 1] = t.argmax(1).to(torch.uint8).cpu().numpy()
    return out
