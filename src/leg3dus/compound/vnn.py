"""Voxel-based nearest neighbour (``vnn``): each voxel takes the nearest pixel of the
nearest frame, if that frame's plane is within ``max_distance_mm`` mm.

The grid is processed one z slice at a time (slices in parallel), each slice keeping its
own best-distance buffer, so memory beyond the output is one float64 slice per thread.
Every voxel test uses the same floating-point expression as the torch path
(:mod:`leg3dus.compound.torch_path`), which therefore gives the same volume.
"""

from __future__ import annotations

import numba
import numpy as np


def voxel_to_frame(img_to_ref: np.ndarray, origin_xyz, spacing_xyz) -> np.ndarray:
    """Per-frame (n, 3, 4) affine maps from voxel-centre mm (x, y, z, 1) to (col, row, w).

    ``col``/``row`` are continuous pixel coordinates in the frame's plane and ``w`` the
    signed distance (mm) from the plane. The x column of the map is pre-multiplied by the
    x spacing and the x origin folded into the constant, so that col = c0 + x * dcol.
    """
    m = np.asarray(img_to_ref, np.float64)
    c0, c1, t = m[:, :3, 0], m[:, :3, 1], m[:, :3, 3]
    normal = np.cross(c0, c1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    basis = np.stack([c0, c1, normal], axis=2)  # columns: per col, per row, normal
    inv = np.linalg.inv(basis)                  # (u, v, w) = inv @ (p - t)
    out = np.zeros((m.shape[0], 3, 4))
    out[:, :, :3] = inv
    out[:, :, 3] = -np.einsum("nij,nj->ni", inv, t)
    ox, oy, oz = origin_xyz
    sx = spacing_xyz[0]
    out[:, :, 3] += out[:, :, 0] * ox
    out[:, :, 0] *= sx
    return out


def frame_slabs(a: np.ndarray, frame_shape, max_distance_mm: float, origin_xyz, spacing_xyz,
                dims_xyz) -> np.ndarray:
    """Per frame, the inclusive voxel box its slab (plane +- max_distance_mm) touches.

    Returns (n, 6) int64: z0, z1, y0, y1, x0, x1 (a box around the slab, one voxel wider).
    """
    h, w = frame_shape
    n = a.shape[0]
    ranges = np.zeros((n, 6), np.int64)
    if n == 0:
        return ranges
    # Corners of the frame rectangle, offset by +-max_distance_mm along the normal.
    cols = np.tile([-0.5, w - 0.5, -0.5, w - 0.5], 2)
    rows = np.tile([-0.5, -0.5, h - 0.5, h - 0.5], 2)
    wvs = np.repeat([-max_distance_mm, max_distance_mm], 4)
    uvw = np.stack([cols, rows, wvs])                          # (3, 8)
    lin = np.array(a[:, :, :3], np.float64)
    lin[:, :, 0] /= spacing_xyz[0]
    const = a[:, :, 3] - lin[:, :, 0] * origin_xyz[0]         # (n, 3)
    inv = np.linalg.inv(lin)                                   # every frame at once
    xyz = inv @ (uvw[None] - const[:, :, None])                # (n, 3, 8), mm
    for k, ax in enumerate((2, 1, 0)):
        q = (xyz[:, ax] - origin_xyz[ax]) / spacing_xyz[ax]
        ranges[:, 2 * k] = np.maximum(0, np.floor(q.min(axis=1)).astype(np.int64) - 1)
        ranges[:, 2 * k + 1] = np.minimum(dims_xyz[ax] - 1,
                                          np.ceil(q.max(axis=1)).astype(np.int64) + 1)
    return ranges


@numba.njit(parallel=True, cache=True)
def _vnn(frames, a, seg, zr, out, hit, oy, oz, sy, sz, maxd):
    nz, ny, nx = out.shape
    nf, h, w = frames.shape
    for z in numba.prange(nz):
        best = np.full((ny, nx), np.inf)
        pz = oz + z * sz
        for f in range(nf):
            if z < zr[f, 0] or z > zr[f, 1]:
                continue
            du, dv, dw = a[f, 0, 0], a[f, 1, 0], a[f, 2, 0]
            bu = a[f, 0, 3] + a[f, 0, 2] * pz
            bv = a[f, 1, 3] + a[f, 1, 2] * pz
            bw = a[f, 2, 3] + a[f, 2, 2] * pz
            # rows whose |w| can be <= maxd somewhere in the frame's x range (padded)
            ylo, yhi = zr[f, 2], zr[f, 3]
            cy = a[f, 2, 1] * sy
            wx0 = bw + a[f, 2, 1] * oy + min(zr[f, 4] * dw, zr[f, 5] * dw)
            wx1 = bw + a[f, 2, 1] * oy + max(zr[f, 4] * dw, zr[f, 5] * dw)
            if cy > 0:
                ylo = max(ylo, int(np.floor((-maxd - wx1) / cy)) - 1)
                yhi = min(yhi, int(np.ceil((maxd - wx0) / cy)) + 1)
            elif cy < 0:
                ylo = max(ylo, int(np.floor((maxd - wx0) / cy)) - 1)
                yhi = min(yhi, int(np.ceil((-maxd - wx1) / cy)) + 1)
            elif wx0 > maxd or wx1 < -maxd:
                continue
            for y in range(ylo, yhi + 1):
                py = oy + y * sy
                u0 = bu + a[f, 0, 1] * py
                v0 = bv + a[f, 1, 1] * py
                w0 = bw + a[f, 2, 1] * py
                lo, hi = np.float64(zr[f, 4]), np.float64(zr[f, 5])
                # conservative x range from |w| <= maxd, -0.5 <= u, v <= size - 0.5
                for c0, d, vmin, vmax in ((w0, dw, -maxd, maxd), (u0, du, -0.5, w - 0.5),
                                          (v0, dv, -0.5, h - 0.5)):
                    if d == 0.0:
                        if c0 < vmin - 1e-9 or c0 > vmax + 1e-9:
                            lo, hi = 1.0, 0.0
                    else:
                        t0 = (vmin - c0) / d
                        t1 = (vmax - c0) / d
                        if t0 > t1:
                            t0, t1 = t1, t0
                        lo = max(lo, t0 - 1.0)
                        hi = min(hi, t1 + 1.0)
                if lo > hi:
                    continue
                for x in range(max(0, int(np.floor(lo))), min(nx - 1, int(np.ceil(hi))) + 1):
                    wv = w0 + x * dw
                    aw = abs(wv)
                    if aw > maxd or aw >= best[y, x]:
                        continue
                    col = np.int64(np.floor(u0 + x * du + 0.5))
                    row = np.int64(np.floor(v0 + x * dv + 0.5))
                    if row < 0 or row >= h or col < seg[row, 0] or col > seg[row, 1]:
                        continue
                    if seg[row, 2] <= col <= seg[row, 3]:
                        continue
                    best[y, x] = aw
                    out[z, y, x] = frames[f, row, col]
                    hit[z, y, x] = 1


def vnn_insert(frames: np.ndarray, a: np.ndarray, seg: np.ndarray, slabs: np.ndarray,
               out: np.ndarray, hit: np.ndarray, origin_xyz, spacing_xyz,
               max_distance_mm: float) -> None:
    """Fill ``out`` (z, y, x) and ``hit`` in place from ``frames`` with maps ``a``."""
    _vnn(frames, a, seg, slabs, out, hit, float(origin_xyz[1]), float(origin_xyz[2]),
         float(spacing_xyz[1]), float(spacing_xyz[2]), float(max_distance_mm))
