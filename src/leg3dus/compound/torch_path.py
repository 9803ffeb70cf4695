"""The torch path: voxel-based nearest neighbour and Gaussian hole filling on a torch
device (``cpu`` or ``cuda``), computing every voxel with the same floating-point
expressions as the numba kernels, so both give the same volume."""

from __future__ import annotations

import numpy as np


def _device(name: str):
    import torch

    from ..core.errors import OptionError

    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("device cuda asked for, but torch sees no CUDA device here")
    return torch.device(name)


def vnn_torch(frames, a, seg, boxes, shape, origin_xyz, spacing_xyz, max_distance_mm, device,
              slab=32):
    """Voxel-based nearest neighbour on ``device``; returns (volume, hit) numpy uint8.

    Works through slabs of ``slab`` z slices, each with its own float64 best-distance
    buffer, so no full-size float array is made.
    """
    import torch

    dev = _device(device)
    f64 = torch.float64
    out = np.zeros(shape, np.uint8)
    hit = np.zeros(shape, np.uint8)
    ox, oy, oz = (float(v) for v in origin_xyz)
    sx, sy, sz = (float(v) for v in spacing_xyz)
    h, w = frames.shape[1:]
    seg_t = torch.as_tensor(seg, device=dev)
    at = torch.as_tensor(a, dtype=f64, device=dev)
    maxd = float(max_distance_mm)
    for s0 in range(0, shape[0], slab):
        s1 = min(shape[0], s0 + slab) - 1
        todo = np.flatnonzero((boxes[:, 0] <= s1) & (boxes[:, 1] >= s0))
        if todo.size == 0:
            continue
        n = s1 - s0 + 1
        o_t = torch.zeros((n,) + tuple(shape[1:]), dtype=torch.uint8, device=dev)
        h_t = torch.zeros_like(o_t)
        best = torch.full(o_t.shape, float("inf"), dtype=f64, device=dev)
        for f in todo:
            z0, z1 = max(int(boxes[f, 0]), s0), min(int(boxes[f, 1]), s1)
            y0, y1, x0, x1 = (int(v) for v in boxes[f, 2:])
            if z0 > z1 or y0 > y1 or x0 > x1:
                continue
            img = torch.as_tensor(frames[f], device=dev)
            zi = torch.arange(z0, z1 + 1, device=dev, dtype=torch.int64).to(f64)
            yi = torch.arange(y0, y1 + 1, device=dev, dtype=torch.int64).to(f64)
            xi = torch.arange(x0, x1 + 1, device=dev, dtype=torch.int64).to(f64)
            pz = (oz + zi * sz)[:, None, None]
            py = (oy + yi * sy)[None, :, None]
            xs = xi[None, None, :]
            m = at[f]
            # the same expressions, in the same order, as the numba kernel
            u = (m[0, 3] + m[0, 2] * pz + m[0, 1] * py) + xs * m[0, 0]
            v = (m[1, 3] + m[1, 2] * pz + m[1, 1] * py) + xs * m[1, 0]
            wv = (m[2, 3] + m[2, 2] * pz + m[2, 1] * py) + xs * m[2, 0]
            aw = wv.abs()
            blk = (slice(z0 - s0, z1 - s0 + 1), slice(y0, y1 + 1), slice(x0, x1 + 1))
            col = torch.floor(u + 0.5).to(torch.int64)
            row = torch.floor(v + 0.5).to(torch.int64)
            rc = row.clamp(0, h - 1)
            sg = seg_t[rc]
            ok = (aw <= maxd) & (aw < best[blk]) & (row >= 0) & (row < h)
            ok &= (col >= sg[..., 0]) & (col <= sg[..., 1])
            ok &= ~((col >= sg[..., 2]) & (col <= sg[..., 3]))
            vals = img[rc, col.clamp(0, w - 1)]
            best[blk] = torch.where(ok, aw, best[blk])
            o_t[blk] = torch.where(ok, vals, o_t[blk])
            h_t[blk] = torch.where(ok, torch.ones_like(vals), h_t[blk])
        out[s0:s1 + 1] = o_t.cpu().numpy()
        hit[s0:s1 + 1] = h_t.cpu().numpy()
    return out, hit


def _pass(t, taps, axis):
    import torch

    acc = torch.zeros_like(t)
    r = len(taps) // 2
    n = t.shape[axis]
    for k, wk in enumerate(taps):
        o = k - r
        if abs(o) >= n:
            continue
        src = torch.zeros_like(t)
        dst_sl = [slice(None)] * 3
        src_sl = [slice(None)] * 3
        dst_sl[axis] = slice(max(0, -o), n - max(0, o))
        src_sl[axis] = slice(max(0, o), n - max(0, -o))
        src[tuple(dst_sl)] = t[tuple(src_sl)]
        acc = acc + wk * src
    return acc


def fill_gaussian_torch(volume, hit, size_vox=5, sigma_vox=1.0, device="cpu", chunk=64):
    """:func:`leg3dus.compound.fill.fill_gaussian` on a torch device (same result): a
    cube of ``size_vox`` voxels, a Gaussian of ``sigma_vox`` voxels."""
    import torch

    from ..core.arrays import gaussian_taps
    from .fill import _chunks

    dev = _device(device)
    taps = torch.as_tensor(gaussian_taps(sigma_vox, size=size_vox), device=dev)
    halo = size_vox // 2
    out = np.empty_like(volume)
    for z0, z1, h0, h1 in _chunks(volume.shape[0], chunk, halo):
        known = torch.as_tensor(hit[h0:h1], device=dev).to(torch.float32)
        vol = torch.as_tensor(volume[h0:h1], device=dev).to(torch.float32)
        num, den = vol * known, known
        for axis in (2, 1, 0):
            num = _pass(num, taps, axis)
            den = _pass(den, taps, axis)
        num, den = num[z0 - h0: z1 - h0], den[z0 - h0: z1 - h0]
        v = torch.floor(num / den.clamp_min(1e-30) + 0.5).clamp(0, 255)
        filled = torch.where(den > 0, v, torch.zeros_like(v)).to(torch.uint8)
        part = torch.as_tensor(hit[z0:z1], device=dev).bool()
        res = torch.where(part, torch.as_tensor(volume[z0:z1], device=dev), filled)
        out[z0:z1] = res.cpu().numpy()
    return out
