"""Coverage and consistency of several sweeps on one output grid (acquisition QC).

* hit counts: how many pixels of all sweeps fall into each voxel (nearest voxel, the
  clip rectangle and fan applied);
* coverage: the fraction of the scanned region that is hit, and the holes larger than
  hole filling can bridge (voxels further than ``bridge_mm`` from any hit voxel, grouped
  into connected holes, each placed along the Reference z axis);
* consistency: the normalised cross-correlation of neighbouring sweeps where both hit,
  overall and in bands along the leg (low values flag probe pressure or motion).

The scanned region is a given mask (e.g. the muscles of a label volume on the same
grid) or, per slice along z, the bounding box of the hit voxels widened to the widest
within ``window_mm`` along z, between the first and last hit slice.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import ndimage

from .config import ReconParams


def pixel_mask(height: int, width: int, p: ReconParams) -> np.ndarray:
    """Pixels inside the clip rectangle and the fan (h, w) bool.

    Examples
    --------
    >>> pixel_mask(2, 3, ReconParams(clip_rectangle_origin=(1, 0),
    ...                              clip_rectangle_size=(1, 1))).astype(int)
    array([[0, 1, 1],
           [0, 1, 1]])
    """
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    keep = np.ones((height, width), bool)
    if p.clip_rectangle_size[0] > 0 and p.clip_rectangle_size[1] > 0:
        (ox, oy), (sx, sy) = p.clip_rectangle_origin, p.clip_rectangle_size
        keep &= (cols >= math.ceil(ox)) & (cols <= math.floor(ox + sx))
        keep &= (rows >= math.ceil(oy)) & (rows <= math.floor(oy + sy))
    if p.fan_angles_deg != (0.0, 0.0):
        x, y = cols - p.fan_origin_pixel[0], rows - p.fan_origin_pixel[1]
        ang = np.degrees(np.arctan2(x, y))
        r = np.hypot(x, y)
        lo, hi = sorted(p.fan_angles_deg)
        keep &= (y >= 0) & (ang >= lo) & (ang <= hi)
        keep &= (r >= p.fan_radius_start_pixel) & (r <= p.fan_radius_stop_pixel)
    return keep


def qc_grid(mats: list[np.ndarray], frame_shape, p: ReconParams,
            spacing_mm: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Origin (x, y, z mm), spacing (x, y, z mm) and size (x, y, z voxels) of the QC grid:
    the configuration's output grid, or the bounding box of all frames at its spacing;
    ``spacing_mm`` resamples either at that isotropic spacing."""
    spacing = np.asarray(p.output_spacing, np.float64)
    if p.output_extent is not None and p.output_origin is not None:
        e = np.asarray(p.output_extent).reshape(3, 2)
        lo = np.asarray(p.output_origin, np.float64) + e[:, 0] * spacing
        hi = lo + (e[:, 1] - e[:, 0]) * spacing
    else:
        h, w = frame_shape
        corners = np.array([[0, 0, 0, 1], [0, h - 1, 0, 1], [w - 1, 0, 0, 1],
                            [w - 1, h - 1, 0, 1]], np.float64).T
        pts = np.concatenate([(m @ corners)[:, :3].transpose(1, 0, 2).reshape(3, -1)
                              for m in mats], axis=1)
        lo, hi = pts.min(axis=1), pts.max(axis=1)
    if spacing_mm is not None:
        spacing = np.full(3, float(spacing_mm))
    dims = np.maximum(np.round((hi - lo) / spacing).astype(np.int64) + 1, 1)
    return lo, spacing, dims


@numba.njit(cache=True)
def _splat(frames, mats, mask, hits, total):
    nz, ny, nx = hits.shape
    h, w = mask.shape
    for i in range(frames.shape[0]):
        m = mats[i]
        for r in range(h):
            for c in range(w):
                if not mask[r, c]:
                    continue
                x = int(math.floor(m[0, 0] * c + m[0, 1] * r + m[0, 3] + 0.5))
                y = int(math.floor(m[1, 0] * c + m[1, 1] * r + m[1, 3] + 0.5))
                z = int(math.floor(m[2, 0] * c + m[2, 1] * r + m[2, 3] + 0.5))
                if 0 <= x < nx and 0 <= y < ny and 0 <= z < nz:
                    hits[z, y, x] += 1
                    total[z, y, x] += frames[i, r, c]


def splat(frames: np.ndarray, pix_to_index: np.ndarray, mask: np.ndarray, shape_zyx
          ) -> tuple[np.ndarray, np.ndarray]:
    """Hit counts (uint32) and pixel sums (float32) of ``frames`` on a (z, y, x) grid.

    ``pix_to_index`` (n, 4, 4) maps pixel (col, row, 0, 1) to voxel indices (x, y, z).

    Examples
    --------
    >>> h, s = splat(np.full((2, 1, 2), 4, np.uint8), np.stack([np.eye(4)] * 2),
    ...              np.ones((1, 2), bool), (1, 1, 3))
    >>> h.tolist(), s.tolist()
    ([[[2, 2, 0]]], [[[8.0, 8.0, 0.0]]])
    """
    hits = np.zeros(tuple(shape_zyx), np.uint32)
    total = np.zeros(tuple(shape_zyx), np.float32)
    _splat(frames, np.ascontiguousarray(pix_to_index, np.float64), mask, hits, total)
    return hits, total


def scanned_region(hit: np.ndarray, spacing_zyx, window_mm: float = 30.0,
                   z_range: tuple[int, int] | None = None) -> np.ndarray:
    """Per z slice, the (y, x) bounding box of ``hit`` widened to the widest within
    ``window_mm`` along z, between the first and last hit slice or over the slices
    ``z_range`` (first, last) (z, y, x) bool."""
    nz, ny, nx = hit.shape
    any_y, any_x = hit.any(axis=2), hit.any(axis=1)
    has = any_y.any(axis=1)
    region = np.zeros_like(hit)
    if not has.any():
        return region
    big = 1 << 30
    y0 = np.where(has, np.argmax(any_y, axis=1), big)
    y1 = np.where(has, ny - 1 - np.argmax(any_y[:, ::-1], axis=1), -1)
    x0 = np.where(has, np.argmax(any_x, axis=1), big)
    x1 = np.where(has, nx - 1 - np.argmax(any_x[:, ::-1], axis=1), -1)
    size = max(1, int(round(window_mm / spacing_zyx[0])) | 1)
    y0, x0 = ndimage.minimum_filter1d(y0, size), ndimage.minimum_filter1d(x0, size)
    y1, x1 = ndimage.maximum_filter1d(y1, size), ndimage.maximum_filter1d(x1, size)
    zs = np.flatnonzero(has)
    first, last = z_range if z_range is not None else (zs[0], zs[-1])
    for z in range(max(first, zs[0]), min(last, zs[-1]) + 1):
        region[z, y0[z]:y1[z] + 1, x0[z]:x1[z] + 1] = True
    return region


def coverage(hits: np.ndarray, spacing_zyx, origin_zyx, bridge_mm: float,
             region: np.ndarray | None = None, window_mm: float = 30.0,
             min_hole_mm3: float = 0.0, z_range: tuple[int, int] | None = None) -> dict:
    """Covered fraction of the region and the holes hole filling cannot bridge.

    Without ``region``, the region is :func:`scanned_region` over ``z_range`` slices.

    Each hole lists ``voxels``, ``volume_mm3``, its z range in Reference mm
    (``z_mm``: first, last), its bounding box (``box_zyx_mm``: first, last per axis)
    and the box's centre (``centre_zyx_mm``).

    Examples
    --------
    >>> hits = np.ones((20, 3, 3), np.uint32); hits[8:12] = 0
    >>> c = coverage(hits, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), bridge_mm=1.0)
    >>> round(c["fraction"], 2), [h["z_mm"] for h in c["holes"]]
    (0.8, [[9.0, 10.0]])
    """
    hit = hits > 0
    if region is None:
        region = scanned_region(hit, spacing_zyx, window_mm, z_range)
    n_region = int(region.sum())
    frac = float((hit & region).sum() / n_region) if n_region else 0.0
    dist = ndimage.distance_transform_edt(~hit, sampling=spacing_zyx) if hit.any() else \
        np.full(hit.shape, np.inf)
    far = region & (dist > bridge_mm)
    labels, n = ndimage.label(far)
    holes = []
    vox_mm3 = float(np.prod(spacing_zyx))
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        count = int((labels[sl] == k).sum())
        if count * vox_mm3 < min_hole_mm3:
            continue
        z = [float(origin_zyx[0] + sl[0].start * spacing_zyx[0]),
             float(origin_zyx[0] + (sl[0].stop - 1) * spacing_zyx[0])]
        centre = [float(origin_zyx[a] + (sl[a].start + sl[a].stop - 1) / 2 * spacing_zyx[a])
                  for a in range(3)]
        box = [[round(float(origin_zyx[a] + sl[a].start * spacing_zyx[a]), 2),
                round(float(origin_zyx[a] + (sl[a].stop - 1) * spacing_zyx[a]), 2)]
               for a in range(3)]
        holes.append({"voxels": count, "volume_mm3": round(count * vox_mm3, 2),
                      "z_mm": [round(v, 2) for v in z],
                      "centre_zyx_mm": [round(v, 2) for v in centre], "box_zyx_mm": box})
    holes.sort(key=lambda h: -h["voxels"])
    return {"fraction": frac, "region_voxels": n_region, "hit_voxels": int(hit.sum()),
            "bridge_mm": bridge_mm, "holes": holes, "region": region}


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation (Pearson) of two equal-size samples; nan if flat.

    >>> round(ncc(np.array([1.0, 2, 3]), np.array([2.0, 4, 7])), 3)
    0.993
    """
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def neighbour_ncc(mean_a: np.ndarray, hit_a: np.ndarray, mean_b: np.ndarray,
                  hit_b: np.ndarray, spacing_zyx, origin_zyx, band_mm: float = 20.0,
                  min_voxels: int = 50) -> dict:
    """NCC of two sweeps' mean volumes where both hit: overall and per band along z.

    Returns ``ncc``, ``overlap_voxels`` and ``bands`` (``z_mm`` first/last, ``ncc``,
    ``voxels``) for bands with at least ``min_voxels`` in the overlap.
    """
    both = hit_a & hit_b
    out = {"overlap_voxels": int(both.sum()), "ncc": float("nan"), "bands": []}
    if out["overlap_voxels"] < min_voxels:
        return out
    out["ncc"] = ncc(mean_a[both], mean_b[both])
    step = max(1, int(round(band_mm / spacing_zyx[0])))
    for z0 in range(0, both.shape[0], step):
        sel = both[z0:z0 + step]
        if sel.sum() < min_voxels:
            continue
        val = ncc(mean_a[z0:z0 + step][sel], mean_b[z0:z0 + step][sel])
        z1 = min(z0 + step, both.shape[0]) - 1
        out["bands"].append({"z_mm": [round(float(origin_zyx[0] + z0 * spacing_zyx[0]), 2),
                                      round(float(origin_zyx[0] + z1 * spacing_zyx[0]), 2)],
                             "ncc": round(val, 4), "voxels": int(sel.sum())})
    return out
