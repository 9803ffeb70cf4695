"""Gaussian hole filling (:func:`leg3dus.compound.fill.fill_gaussian`) as vectorised torch,
the same volume as the numba kernels.

Design: z chunks with a halo, as the numba version; the value and the weight of a chunk
are stacked in one float32 tensor, and each of the three separable passes adds its taps
in ascending order into slices of an accumulator (``acc[dst] += tap * src[src]``): one
multiply and one add launch per tap and axis over the whole chunk, no padded copies.
The sums are formed in the numba kernels' order (zero, then each tap's product added,
out-of-range terms skipped), so every float32 rounding is the same.
"""

from __future__ import annotations


def _pass(torch, t, taps, axis):
    # t is (2, z, y, x); axis counts in (z, y, x)
    acc = torch.zeros_like(t)
    r = len(taps) // 2
    n = t.shape[axis + 1]
    for k in range(len(taps)):
        o = k - r
        if abs(o) >= n:
            continue
        dst = [slice(None)] * 4
        src = [slice(None)] * 4
        dst[axis + 1] = slice(max(0, -o), n - max(0, o))
        src[axis + 1] = slice(max(0, o), n - max(0, -o))
        acc[tuple(dst)] += t[tuple(src)] * taps[k]
    return acc


def fill_gaussian_device(volume, hit, size_vox=5, sigma_vox=1.0, chunk=64):
    """Fill voxels where ``hit`` is 0 (uint8 ``volume`` and ``hit`` tensors, z, y, x, on
    one device); returns a new uint8 tensor on that device.

    >>> import torch
    >>> vol = torch.zeros((1, 1, 5), dtype=torch.uint8); hit = torch.zeros_like(vol)
    >>> vol[0, 0, ::2] = 90; hit[0, 0, ::2] = 1
    >>> fill_gaussian_device(vol, hit, size_vox=3)[0, 0].tolist()
    [90, 90, 90, 90, 90]
    """
    import torch

    from ..core.arrays import gaussian_taps
    from .fill import _chunks

    dev = volume.device
    taps = torch.as_tensor(gaussian_taps(sigma_vox, size=size_vox), device=dev)
    taps = [taps[k] for k in range(taps.numel())]
    halo = size_vox // 2
    out = torch.empty_like(volume)
    for z0, z1, h0, h1 in _chunks(volume.shape[0], chunk, halo):
        known = (hit[h0:h1] != 0).to(torch.float32)
        t = torch.stack([volume[h0:h1].to(torch.float32) * known, known])
        for axis in (2, 1, 0):
            t = _pass(torch, t, taps, axis)
        num, den = t[0, z0 - h0: z1 - h0], t[1, z0 - h0: z1 - h0]
        pos = den > 0
        q = torch.where(pos, num, 0.0) / torch.where(pos, den, 1.0)
        v = torch.floor(q + 0.5).clamp(0, 255)
        filled = torch.where(pos, v, 0.0).to(torch.uint8)
        out[z0:z1] = torch.where(hit[z0:z1] != 0, volume[z0:z1], filled)
    return out


def fill_labels_device(labels, hit, size_vox=5, sigma_vox=1.0, chunk=64):
    """:func:`leg3dus.compound.fill.fill_labels` on the device of ``labels`` (uint8 label
    and ``hit`` tensors, z, y, x): each hole takes the label of largest Gaussian-weighted
    vote among the hit voxels (the smallest label on a tie), the same labels as numba.

    >>> import torch
    >>> lab = torch.zeros((1, 1, 5), dtype=torch.uint8); hit = torch.zeros_like(lab)
    >>> lab[0, 0, :2] = 100; lab[0, 0, 3:] = 200; hit[0, 0, [0, 1, 3, 4]] = 1
    >>> fill_labels_device(lab, hit, size_vox=3)[0, 0].tolist()
    [100, 100, 100, 200, 200]
    """
    import torch

    from ..core.arrays import gaussian_taps
    from .fill import _chunks

    dev = labels.device
    taps = torch.as_tensor(gaussian_taps(sigma_vox, size=size_vox), device=dev)
    taps = [taps[k] for k in range(taps.numel())]
    halo = size_vox // 2
    values = torch.unique(labels[hit != 0]).tolist()  # increasing, as numba counts them
    out = labels.clone()
    for z0, z1, h0, h1 in _chunks(labels.shape[0], chunk, halo):
        known = hit[h0:h1] != 0
        best = torch.zeros((z1 - z0,) + tuple(labels.shape[1:]), dtype=torch.float32,
                           device=dev)
        choice = torch.zeros(best.shape, dtype=labels.dtype, device=dev)
        for v in values:
            t = ((labels[h0:h1] == v) & known).to(torch.float32)[None]
            for axis in (2, 1, 0):
                t = _pass(torch, t, taps, axis)
            vote = t[0, z0 - h0: z1 - h0]
            better = vote > best
            best = torch.where(better, vote, best)
            choice = torch.where(better, v, choice)
        holes = hit[z0:z1] == 0
        out[z0:z1] = torch.where(holes, choice, labels[z0:z1])
    return out
