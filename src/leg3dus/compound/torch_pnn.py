"""Pixel-based reconstruction (``pnn``) as vectorised torch: the same volume and
accumulation buffer as :func:`leg3dus.compound.pnn.paste_frames`.

Design (made for a GPU, and run on torch's CPU device in tests): frames go to the
device in chunks; for a chunk, every pixel's position is computed at once on the (frame,
row, column) grid with PLUS's arithmetic for the optimisation level (FULL: the matrix in
fixed point, 14 fractional bits; PARTIAL: doubles along the row; NONE: the whole matrix
per pixel), the kept pixels (clip rectangle, fan, pixel rejection, inside the grid) are
gathered in insertion order, and their voxel writes (one for nearest, up to eight
trilinear corners for linear) are applied by :func:`.torch_rounds.apply_in_rounds`, which
reproduces the order-dependent running mean exactly. Memory: the output and its
accumulation buffer, plus one chunk of at most ``budget`` contributions.

Not on this path (refused by :func:`check_supported`): IMPORTANCE_MASK compounding with
nearest neighbour at Optimization FULL or PARTIAL, whose PLUS kernels read later pixels
from shifted positions depending on the volume's state (see :mod:`.pnn_nn`).
"""

from __future__ import annotations

import numpy as np

from .pnn import to_fixed
from .torch_rounds import (
    IMPORTANCE,
    LATEST,
    MAXIMUM,
    MODES_BY_NAME,
    apply_in_rounds,
    apply_last,
    fixed_linear_step,
    linear_step,
    nn_step,
    plus_floor,
    plus_round,
    state_dtype,
)

_HALF = 1 << 13


def check_supported(interpolation: str, compounding: str, optimization: str) -> None:
    """Raise :class:`OptionError` for what the torch path does not reproduce.

    >>> check_supported("linear", "importance_mask", "FULL")   # fine: no error
    >>> check_supported("nearest", "importance_mask", "FULL")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.OptionError: the torch path (device cpu or cuda) does not run ...
    """
    from ..core.errors import OptionError

    if (interpolation == "nearest" and compounding == "importance_mask"
            and optimization in ("FULL", "PARTIAL")):
        raise OptionError("the torch path (device cpu or cuda) does not run IMPORTANCE_MASK "
                          f"compounding with nearest neighbour at Optimization {optimization} "
                          "(PLUS's kernel there depends on the order of every pixel); use "
                          "device numba, or Optimization NONE, or LINEAR interpolation")


def _keep(torch, fr, seg_t, mask_t, optimization, reject, thr):
    """Per (frame, row, col) of a chunk: kept by clip/fan (or the NONE mask) and rejection."""
    k, h, w = fr.shape
    if optimization == "NONE":
        keep = mask_t.expand(k, h, w).clone() if mask_t.dim() == 2 else mask_t.clone()
    else:
        s = seg_t if seg_t.dim() == 3 else seg_t[None]
        cols = torch.arange(w, device=fr.device)[None, None, :]
        keep = (cols >= s[..., 0:1]) & (cols <= s[..., 1:2])
        keep &= ~((cols >= s[..., 2:3]) & (cols <= s[..., 3:4]))
        keep = keep.expand(k, h, w).clone()
    if reject:
        keep &= ~(fr.to(torch.float64) < thr)
    return keep


def _positions(torch, dm, fm, optimization, h, w, fixed_linear):
    """Continuous voxel indices (x, y, z) of every pixel of a chunk, (k, h, w) each:
    int64 (FULL, still in fixed point when ``fixed_linear``) or float64."""
    dev = dm.device
    row = torch.arange(h, device=dev)[None, :, None]
    col = torch.arange(w, device=dev)[None, None, :]
    if optimization == "FULL":
        p = [fm[:, i, 3, None, None] + row * fm[:, i, 1, None, None]
             + col * fm[:, i, 0, None, None] for i in range(3)]
        return p if fixed_linear else [(q + _HALF) >> 14 for q in p]
    x, y = col.to(torch.float64), row.to(torch.float64)
    d = [[dm[:, i, j, None, None] for j in range(4)] for i in range(4)]
    if optimization == "PARTIAL":
        return [((d[i][3] + 0.0 * d[i][2]) + y * d[i][1]) + x * d[i][0] for i in range(3)]
    p = [((d[i][0] * x + d[i][1] * y) + d[i][2] * 0.0) + d[i][3] for i in range(4)]
    return [q / p[3] for q in p[:3]]


def _inside(ix, iy, iz, nz, ny, nx):
    return (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny) & (iz >= 0) & (iz < nz)


def _corners(torch, px, py, pz, fixed, shape):
    """Trilinear corners of kept pixels, (P, 8) each in the kernels' order j = 7 .. 0:
    voxel index and weight; pixels with a corner outside the grid come back invalid."""
    nz, ny, nx = shape
    if fixed:
        i0 = [q >> 14 for q in (px, py, pz)]
        fr = [q - (b << 14) for q, b in zip((px, py, pz), i0, strict=True)]
        one = 1 << 14

        def mul(a, b):
            return (a * b + _HALF) >> 14
    else:
        i0 = [plus_floor(q) for q in (px, py, pz)]
        fr = [q - b for q, b in zip((px, py, pz), i0, strict=True)]
        one = 1

        def mul(a, b):
            return a * b
    i1 = [b + (c != 0).to(torch.int64) for b, c in zip(i0, fr, strict=True)]
    ok = (i0[0] >= 0) & (i0[1] >= 0) & (i0[2] >= 0)
    ok &= (i1[0] <= nx - 1) & (i1[1] <= ny - 1) & (i1[2] <= nz - 1)
    fx, fy, fz = fr
    rx, ry, rz = one - fx, one - fy, one - fz
    ryrz, ryfz, fyrz, fyfz = mul(ry, rz), mul(ry, fz), mul(fy, rz), mul(fy, fz)
    fdx = [mul(rx, ryrz), mul(rx, ryfz), mul(rx, fyrz), mul(rx, fyfz),
           mul(fx, ryrz), mul(fx, ryfz), mul(fx, fyrz), mul(fx, fyfz)]
    weights, voxels = [], []
    for j in range(7, -1, -1):
        xx = i1[0] if j >= 4 else i0[0]
        yy = i1[1] if (j & 2) else i0[1]
        zz = i1[2] if (j & 1) else i0[2]
        weights.append(fdx[j])
        voxels.append((zz * ny + yy) * nx + xx)
    return torch.stack(voxels, 1), torch.stack(weights, 1), ok


def pnn_device(frames, pix_to_index, seg, shape, out_dtype, device, interpolation="nearest",
               compounding="mean", optimization="FULL", importance=None,
               pixel_rejection_threshold=None, mask=None, budget=1 << 22):
    """:func:`leg3dus.compound.pnn.paste_frames` into a new grid of ``shape`` (z, y, x) on
    torch ``device``; returns (out, acc) tensors there (out in :func:`state_dtype`,
    acc in int16 holding the uint16 bits). ``seg`` is (h, 4) or one per frame (n, h, 4);
    ``mask`` (NONE) is (h, w) or (n, h, w)."""
    import torch

    check_supported(interpolation, compounding, optimization)
    mode = MODES_BY_NAME[compounding]
    dev = torch.device(device)
    n, h, w = frames.shape
    nz, ny, nx = (int(s) for s in shape)
    is_float = np.dtype(frames.dtype).kind == "f"
    linear = interpolation == "linear"
    fixed_linear = linear and optimization == "FULL"
    out = torch.zeros((nz, ny, nx), dtype=state_dtype(out_dtype), device=dev)
    acc = torch.zeros((nz, ny, nx), dtype=torch.int16, device=dev)  # uint16 bits
    if linear:
        step = fixed_linear_step(mode) if fixed_linear else linear_step(mode, is_float)
    else:
        step = nn_step(mode, optimization == "NONE", is_float)
    reject = pixel_rejection_threshold is not None
    thr = float(pixel_rejection_threshold) if reject else 0.0
    imp = np.zeros((h, w), np.uint8) if importance is None else importance
    imp_t = torch.as_tensor(np.asarray(imp, np.int64), device=dev)
    seg_t = torch.as_tensor(np.asarray(seg, np.int64), device=dev)
    mask_t = torch.as_tensor(np.ones((h, w), bool) if mask is None else mask, device=dev)
    dm_all = torch.as_tensor(np.ascontiguousarray(pix_to_index, np.float64), device=dev)
    fm_all = torch.as_tensor(to_fixed(pix_to_index), device=dev)
    per_frame = max(1, budget // (h * w * (8 if linear else 1)))
    host = frames.astype(np.int32) if frames.dtype == np.uint16 else frames
    for i0 in range(0, n, per_frame):
        i1 = min(n, i0 + per_frame)
        fr = torch.as_tensor(host[i0:i1], device=dev)
        sg = seg_t[i0:i1] if seg_t.dim() == 3 else seg_t
        mk = mask_t[i0:i1] if mask_t.dim() == 3 else mask_t
        keep = _keep(torch, fr, sg, mk, optimization, reject, thr)
        p = _positions(torch, dm_all[i0:i1], fm_all[i0:i1], optimization, h, w, fixed_linear)
        if not linear:
            if optimization != "FULL":
                p = [plus_round(q) for q in p]
            keep &= _inside(*p, nz, ny, nx)
        elif optimization != "NONE":  # the nearest voxel first, then all eight corners
            near = [(q + _HALF) >> 14 for q in p] if fixed_linear else [plus_round(q) for q in p]
            keep &= _inside(*near, nz, ny, nx)
        # kept pixels in insertion order (frame, row, column), by flat index
        flat = torch.nonzero(keep.view(-1)).squeeze(1)
        v = fr.reshape(-1).gather(0, flat)
        v = v.to(torch.float32) if is_float else v.to(torch.int64)
        wgt = imp_t.view(-1).gather(0, flat % (h * w)) if mode == IMPORTANCE else None
        px, py, pz = (q.expand(keep.shape).reshape(-1).gather(0, flat) for q in p)
        if linear:
            vox, f, ok = _corners(torch, px, py, pz, fixed_linear, (nz, ny, nx))
            good = ok[:, None] & (f != 0)
            pix = torch.nonzero(good, as_tuple=True)[0]
            vox, f = vox.masked_select(good), f.masked_select(good)
            v = v.index_select(0, pix)
            wgt = None if wgt is None else wgt.index_select(0, pix)
        else:
            vox = (pz * ny + py) * nx + px
            f = None
        if mode == LATEST and (linear or optimization != "NONE"):
            # the last write of a voxel decides it (NONE's nearest also counts writes)
            if linear:
                heavy = f >= (2048 if fixed_linear else 0.125)
                vox, v, f = vox.masked_select(heavy), v.masked_select(heavy), f.masked_select(heavy)
                wgt = None if wgt is None else wgt.masked_select(heavy)
            apply_last(out.view(-1), acc.view(-1), vox, v, f, wgt, step)
        elif mode == MAXIMUM and not linear and optimization != "NONE":
            # only the largest value of a voxel can write: order by value, keep the last
            # (NaN first, as it never writes)
            key = torch.where(torch.isnan(v), float("-inf"), v) if is_float else v
            order = torch.sort(key, stable=True).indices
            apply_last(out.view(-1), acc.view(-1), vox.gather(0, order), v.gather(0, order),
                       None, None, step)
        else:
            apply_in_rounds(out.view(-1), acc.view(-1), vox, v, f, wgt, step)
    return out, acc


def to_numpy(out, acc, out_dtype):
    """(out, acc) tensors -> numpy arrays of the output type and uint16."""
    o = out.cpu().numpy()
    return o.astype(out_dtype, copy=False), acc.cpu().numpy().view(np.uint16)
