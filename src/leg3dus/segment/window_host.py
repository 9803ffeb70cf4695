"""Sliding-window inference on the host, window by window in numpy: the path of networks
that take numpy arrays (an ONNX session, which needs no torch), and the reference that
the device path (:mod:`.window_device`) is tested against.

Each slab along axis 0 accumulates the Gaussian-weighted softmax of every window that
overlaps it (windows on the grid of :mod:`.window`), window after window in the order
z, y, x; windows whose voxels (context slices included) are all zero are skipped.
"""

from __future__ import annotations

import numpy as np

from .data import extract
from .window import flips, gaussian_weights, in_slab, slabs_of, unflip, window_starts, z_windows


def run_windows(model, tiles: list[np.ndarray], tta: bool) -> np.ndarray:
    """Softmax (n, classes, z, y, x) of uint8 tiles, averaged over the TTA flips and over
    the members of an :class:`~leg3dus.segment.ensemble.Ensemble`."""
    members = getattr(model, "members", None)
    if members:
        total = run_windows(members[0], tiles, tta)
        for m in members[1:]:
            total += run_windows(m, tiles, tta)
        return total / len(members)
    kind = model.spec["kind"]
    if not hasattr(model.net, "parameters"):  # an ONNX network: numpy all the way
        return _run_numpy(model.net, kind, tiles, tta)
    import torch

    x = torch.from_numpy(np.stack(tiles)).to(model.device, torch.float32) / 255.0
    if kind == "3d":
        x = x[:, None]
    total = None
    dims_list = flips(kind, tta)
    with torch.inference_mode():
        for dims in dims_list:
            xin = torch.flip(x, dims) if dims else x
            p = torch.softmax(model.net(xin), dim=1)
            back = unflip(kind, dims)
            p = torch.flip(p, back) if back else p
            total = p if total is None else total + p
    out = (total / len(dims_list)).float().cpu().numpy()
    return out[:, :, None] if kind == "2d" else out


def _run_numpy(net, kind: str, tiles: list[np.ndarray], tta: bool) -> np.ndarray:
    """:func:`run_windows` for a network on numpy arrays (an ONNX session)."""
    from scipy.special import softmax

    x = np.stack(tiles).astype(np.float32) / np.float32(255.0)
    if kind == "3d":
        x = x[:, None]
    dims_list = flips(kind, tta)
    total = None
    for dims in dims_list:
        p = softmax(net(np.flip(x, dims) if dims else x), axis=1)
        back = unflip(kind, dims)
        p = np.flip(p, back) if back else p
        total = p if total is None else total + p
    out = (total / len(dims_list)).astype(np.float32)
    return out[:, :, None] if kind == "2d" else out


def sliding_window_host(image: np.ndarray, model, *, overlap: float = 0.25,
                        batch_size: int = 8, tta: bool = False, slab: int | None = None,
                        probabilities: bool = False, z_indices=None,
                        progress=None) -> np.ndarray:
    """:func:`leg3dus.segment.infer.sliding_window` window by window on the host (same
    parameters and result)."""
    spec = model.spec
    patch, context = [int(p) for p in spec["patch"]], int(spec.get("context", 0))
    nz, ny, nx = image.shape
    zs = z_windows(spec, nz, overlap, z_indices)
    ys, xs = window_starts(ny, patch[1], overlap), window_starts(nx, patch[2], overlap)
    weight = gaussian_weights(patch)
    k = int(spec["classes"])
    out = (np.zeros((k, nz, ny, nx), np.float32) if probabilities
           else np.zeros((nz, ny, nx), np.uint8))
    slabs = slabs_of(nz, slab)
    per_slab = [len(in_slab(zs, patch[0], a, b)) * len(ys) * len(xs) for a, b in slabs]
    done, total = 0, sum(per_slab)
    for a, b in slabs:
        acc = np.zeros((k, b - a, ny, nx), np.float32)
        wsum = np.zeros((b - a, ny, nx), np.float32)
        windows = [(z, y, x) for z in in_slab(zs, patch[0], a, b) for y in ys for x in xs]
        for i in range(0, len(windows), batch_size):
            if progress is not None:
                progress("predicting", done, total)
            done += len(windows[i:i + batch_size])
            chunk, tiles = [], []
            for w in windows[i:i + batch_size]:
                tile = extract(image, w, patch, context=context)
                if tile.any():
                    chunk.append(w)
                    tiles.append(tile)
            if not tiles:
                continue
            scores = run_windows(model, tiles, tta)
            for (z, y, x), p in zip(chunk, scores, strict=True):
                z0, z1 = max(z, a), min(z + patch[0], b)
                hy, hx = min(patch[1], ny - y), min(patch[2], nx - x)
                wt = weight[z0 - z:z1 - z, :hy, :hx]
                acc[:, z0 - a:z1 - a, y:y + hy, x:x + hx] += p[:, z0 - z:z1 - z, :hy, :hx] * wt
                wsum[z0 - a:z1 - a, y:y + hy, x:x + hx] += wt
        covered = wsum > 0
        if probabilities:
            acc /= np.where(covered, wsum, 1.0)
            acc[0][~covered] = 1.0
            out[:, a:b] = acc
        else:
            classes = acc.argmax(0).astype(np.uint8)
            classes[~covered] = 0
            out[a:b] = classes
    if progress is not None:
        progress("predicting", total, total)
    return out
