"""Voxel-based nearest neighbour (``vnn``) as vectorised torch: a few large launches per
slab of z slices, the same volume as the numba kernel (:mod:`leg3dus.compound.vnn`).

Design (made for a GPU, and run on torch's CPU device in tests):

- The grid is worked through in slabs of z slices. For one slab, every (frame, z) pair
  that can reach it gets the range of rows the numba kernel would visit (computed on the
  host, a few thousand pairs, with the kernel's own float64 expressions), every such
  (frame, z, y) row gets the kernel's conservative x range (on the device, all rows at
  once), and every (frame, voxel) candidate of those ranges is evaluated at once: plane
  distance ``|w|``, pixel column and row, clip and fan test, pixel value. Candidates go
  through the device in chunks of at most ``budget`` (memory is bounded by the slab
  and the chunk, not by the grid).
- The numba kernel keeps, per voxel, the first frame (in frame order) whose ``|w|`` is
  strictly smaller than every earlier one: the lexicographic minimum of (``|w|``,
  frame). That is two ``scatter_reduce`` minima: ``|w|`` first, then the frame index
  among the candidates that reach it; no per-frame or per-voxel Python loop, and the
  result does not depend on the order in which candidates are reduced.
- Every value goes through the same float64 expressions, in the same order, as the
  numba kernel (separate multiply and add launches, so no fused multiply-add), which is
  what makes the volume identical rather than close.
"""

from __future__ import annotations

import numpy as np


def _row_ranges(a, boxes, frames_idx, s0, s1, oy, oz, sy, sz, maxd):
    """Host: the (frame, z) pairs of slab [s0, s1] with the rows [ylo, yhi] the numba
    kernel visits, and the per-pair constants bu, bv, bw."""
    b = boxes[frames_idx]
    z0 = np.maximum(b[:, 0], s0)
    z1 = np.minimum(b[:, 1], s1)
    nzs = np.maximum(z1 - z0 + 1, 0)
    f = np.repeat(frames_idx, nzs)
    first = np.repeat(np.cumsum(nzs) - nzs, nzs)
    z = np.repeat(z0, nzs) + (np.arange(f.size) - first)
    m = a[f]
    pz = oz + z * sz
    bu = m[:, 0, 3] + m[:, 0, 2] * pz
    bv = m[:, 1, 3] + m[:, 1, 2] * pz
    bw = m[:, 2, 3] + m[:, 2, 2] * pz
    bx = boxes[f]
    dw = m[:, 2, 0]
    base = bw + m[:, 2, 1] * oy
    wx0 = base + np.minimum(bx[:, 4] * dw, bx[:, 5] * dw)
    wx1 = base + np.maximum(bx[:, 4] * dw, bx[:, 5] * dw)
    cy = m[:, 2, 1] * sy
    ylo, yhi = bx[:, 2].copy(), bx[:, 3].copy()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pos, neg = cy > 0, cy < 0
        lo_p = np.floor((-maxd - wx1) / cy) - 1
        hi_p = np.ceil((maxd - wx0) / cy) + 1
        lo_n = np.floor((maxd - wx0) / cy) - 1
        hi_n = np.ceil((-maxd - wx1) / cy) + 1
    lo = np.where(pos, lo_p, np.where(neg, lo_n, -np.inf))
    hi = np.where(pos, hi_p, np.where(neg, hi_n, np.inf))
    ylo = np.maximum(ylo, np.clip(lo, -2**62, 2**62)).astype(np.int64)
    yhi = np.minimum(yhi, np.clip(hi, -2**62, 2**62)).astype(np.int64)
    flat = (cy == 0) & ((wx0 > maxd) | (wx1 < -maxd))
    yhi[flat] = ylo[flat] - 1
    return f, z, ylo, yhi, np.stack([bu, bv, bw], axis=1)


def _x_ranges(torch, m, base, bxx, y, nx, h, w, oy, sy, maxd):
    """Device: per (frame, z, y) row, the kernel's x range [xa, xb] and u0, v0, w0."""
    py = oy + y.to(torch.float64) * sy
    u0 = base[:, 0] + m[:, 0, 1] * py
    v0 = base[:, 1] + m[:, 1, 1] * py
    w0 = base[:, 2] + m[:, 2, 1] * py
    lo = bxx[:, 0].to(torch.float64)
    hi = bxx[:, 1].to(torch.float64)
    for c0, d, vmin, vmax in ((w0, m[:, 2, 0], -maxd, maxd), (u0, m[:, 0, 0], -0.5, w - 0.5),
                              (v0, m[:, 1, 0], -0.5, h - 0.5)):
        t0 = (vmin - c0) / d
        t1 = (vmax - c0) / d
        swap = t0 > t1
        t0, t1 = torch.where(swap, t1, t0), torch.where(swap, t0, t1)
        zero = d == 0.0
        out = (c0 < vmin - 1e-9) | (c0 > vmax + 1e-9)
        lo = torch.where(zero, torch.where(out, 1.0, lo), torch.maximum(lo, t0 - 1.0))
        hi = torch.where(zero, torch.where(out, 0.0, hi), torch.minimum(hi, t1 + 1.0))
    xa = torch.floor(lo).clamp_min(0).to(torch.int64)
    xb = torch.ceil(hi).clamp_max(nx - 1).to(torch.int64)
    n = torch.where(lo > hi, 0, (xb - xa + 1).clamp_min(0))
    return xa, n, u0, v0, w0


def _candidates(torch, rows, counts, s0, ny, nx, frames_t, seg_t, maxd, h, w):
    """Device: every (frame, voxel) candidate of a chunk of rows that passes the kernel's
    tests; returns slab voxel index, |w|, frame index and pixel value."""
    f, z, y, xa, u0, v0, w0, du, dv, dw = rows
    total = int(counts.sum())
    r = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts,
                                output_size=total)
    first = torch.cumsum(counts, 0) - counts
    # index_select / gather / masked_select: one plain kernel each on any device
    def at(t, i):
        return t.index_select(0, i)

    x = at(xa, r) + (torch.arange(total, device=counts.device) - at(first, r))
    xf = x.to(torch.float64)
    aw = (at(w0, r) + xf * at(dw, r)).abs()
    keep = aw <= maxd
    r, x, xf, aw = (t.masked_select(keep) for t in (r, x, xf, aw))
    col = torch.floor(at(u0, r) + xf * at(du, r) + 0.5).to(torch.int64)
    row = torch.floor(at(v0, r) + xf * at(dv, r) + 0.5).to(torch.int64)
    sg = at(seg_t, row.clamp(0, h - 1))
    ok = (row >= 0) & (row < h) & (col >= sg[:, 0]) & (col <= sg[:, 1])
    ok &= ~((col >= sg[:, 2]) & (col <= sg[:, 3]))
    r, x, aw, col, row = (t.masked_select(ok) for t in (r, x, aw, col, row))
    fr = at(f, r)
    vox = ((at(z, r) - s0) * ny + at(y, r)) * nx + x
    val = frames_t.view(-1).gather(0, (fr * h + row) * w + col)
    return vox, aw, fr, val


def vnn_device(frames_t, a, seg, boxes, shape, origin_xyz, spacing_xyz, max_distance_mm,
               slab=64, budget=1 << 24):
    """vnn on the device of ``frames_t`` (n, h, w); returns (volume, hit) uint8 tensors
    there. ``a``, ``seg``, ``boxes`` are the numba kernel's inputs (numpy)."""
    import torch

    dev = frames_t.device
    f64 = torch.float64
    nz, ny, nx = (int(s) for s in shape)
    h, w = frames_t.shape[1:]
    oy, oz = float(origin_xyz[1]), float(origin_xyz[2])
    sy, sz = float(spacing_xyz[1]), float(spacing_xyz[2])
    maxd = float(max_distance_mm)
    a = np.asarray(a, np.float64)
    boxes = np.asarray(boxes, np.int64)
    out = torch.zeros((nz, ny, nx), dtype=torch.uint8, device=dev)
    hit = torch.zeros_like(out)
    seg_t = torch.as_tensor(np.asarray(seg, np.int64), device=dev)
    a_t = torch.as_tensor(a, device=dev)
    for s0 in range(0, nz, slab):
        s1 = min(nz, s0 + slab) - 1
        todo = np.flatnonzero((boxes[:, 0] <= s1) & (boxes[:, 1] >= s0)
                              & (boxes[:, 2] <= boxes[:, 3]) & (boxes[:, 4] <= boxes[:, 5]))
        if todo.size == 0:
            continue
        f, z, ylo, yhi, base = _row_ranges(a, boxes, todo, s0, s1, oy, oz, sy, sz, maxd)
        ny_pair = np.maximum(yhi - ylo + 1, 0)
        if ny_pair.sum() == 0:
            continue
        # rows (frame, z, y), expanded on the device from the pairs
        pn = torch.as_tensor(ny_pair, device=dev)
        pi = torch.repeat_interleave(torch.arange(f.size, device=dev), pn,
                                     output_size=int(ny_pair.sum()))
        pstart = torch.cumsum(pn, 0) - pn
        y = torch.as_tensor(ylo, device=dev)[pi] + (torch.arange(pi.numel(), device=dev)
                                                    - pstart[pi])
        ft = torch.as_tensor(f, device=dev)[pi]
        m = a_t[ft]
        bxx = torch.as_tensor(boxes[:, 4:6], device=dev)[ft]
        xa, cnt, u0, v0, w0 = _x_ranges(torch, m, torch.as_tensor(base, device=dev)[pi], bxx,
                                        y, nx, h, w, oy, sy, maxd)
        rows = (ft, torch.as_tensor(z, device=dev)[pi], y, xa, u0, v0, w0,
                m[:, 0, 0], m[:, 1, 0], m[:, 2, 0])
        # chunks of rows holding at most ``budget`` candidates each (a row is never split)
        cum = torch.cumsum(cnt, 0)
        total = int(cum[-1])
        if total == 0:
            continue
        cuts = [0, cnt.numel()]
        if total > budget:
            marks = torch.arange(budget, total, budget, device=dev, dtype=cum.dtype)
            cuts[1:1] = torch.searchsorted(cum, marks, right=True).tolist()
        nvox = (s1 - s0 + 1) * ny * nx
        best = torch.full((nvox,), float("inf"), dtype=f64, device=dev)
        parts = []
        for c0, c1 in zip(cuts[:-1], cuts[1:], strict=True):
            if c1 <= c0:
                continue
            sub = tuple(t[c0:c1] for t in rows)
            vox, aw, fr, val = _candidates(torch, sub, cnt[c0:c1], s0, ny, nx, frames_t,
                                           seg_t, maxd, h, w)
            best.scatter_reduce_(0, vox, aw, "amin")
            parts.append((vox, aw, fr, val))
        vox, aw, fr, val = (torch.cat(t) for t in zip(*parts, strict=True))
        # among the candidates at the smallest |w|, the first frame wins (numba's '<')
        tie = aw == best.gather(0, vox)
        vox, fr, val = (t.masked_select(tie) for t in (vox, fr, val))
        first = torch.full((nvox,), np.iinfo(np.int64).max, dtype=torch.int64, device=dev)
        first.scatter_reduce_(0, vox, fr, "amin")
        win = fr == first.gather(0, vox)
        vox, val = vox.masked_select(win), val.masked_select(win)
        out[s0:s1 + 1].view(-1).scatter_(0, vox, val)
        hit[s0:s1 + 1].view(-1).scatter_(0, vox, torch.ones_like(val))
    return out, hit
