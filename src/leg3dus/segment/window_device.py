"""Sliding-window inference with the data on a torch device (a GPU, or "cpu").

The design follows what keeps an accelerator busy:

- each slab along axis 0 (with the few slices its windows reach beyond it) is uploaded
  once as uint8; windows are cut from it on the device by indexing, never in numpy;
- the windows that only hold zeros (outside the scan) are found for the whole slab at
  once (per window position, a maximum over the slab, then a cumulative sum along axis
  0), with one transfer of a small boolean table to the host per slab;
- the 2d model's windows are grouped by their in-plane position: one batch is many
  slices at one position, cut with one gather (the context slices clamped at the ends)
  and added to the scores with one strided addition, so the launches grow with the
  batches, not with the windows; the 3d model's windows are large and few, and are cut
  and added one by one on the device;
- the network runs on large batches (:func:`default_batch_size`), on CUDA under
  ``torch.autocast`` (bfloat16, or float16 where the GPU lacks it), on the CPU in
  float32; the softmax, the test-time flips, the ensemble mean, the Gaussian-weighted
  sums (float32), their normalisation and the argmax stay on the device;
- only uint8 classes come back to the host, once per slab (or the blended scores when
  asked for them). A slab waits for the device twice (its table of empty windows, its
  labels), never within its batches; its uploads do not wait (``non_blocking``); these
  few copies use ordinary host memory, as pinned buffers would save only milliseconds
  per slab.

On the CPU the arithmetic is the host path's (:mod:`.window_host`) operation for
operation, in the same order for every voxel, so labels are the same; tests check it.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass

import numpy as np

from .window import flips, gaussian_weights, in_slab, slabs_of, unflip, window_starts, z_windows

#: Voxels of input windows per network call on a GPU (:func:`default_batch_size`).
GPU_BATCH_VOXELS = 1 << 22


def default_batch_size(patch, device) -> int:
    """Windows per network call: 8 on the CPU; on a GPU as many as make about 4 M input
    voxels (64 windows of 1 x 256 x 256, 16 of 64 x 64 x 64).

    >>> default_batch_size([1, 256, 256], "cuda"), default_batch_size([64, 64, 64], "cpu")
    (64, 8)
    """
    if str(device).split(":")[0] != "cuda":
        return 8
    return max(1, GPU_BATCH_VOXELS // math.prod(int(p) for p in patch))


def autocast_context(device, enabled: bool | None = None):
    """A context running the network in reduced precision: by default on CUDA only
    (bfloat16 where supported, else float16); ``enabled=True`` on the CPU uses bfloat16.
    """
    import torch

    dev = torch.device(device)
    if enabled is None:
        enabled = dev.type == "cuda"
    if not enabled:
        return contextlib.nullcontext()
    dtype = torch.bfloat16
    if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        dtype = torch.float16
    return torch.autocast(device_type=dev.type, dtype=dtype)


def scores(model, tiles, tta: bool = False, autocast: bool | None = None):
    """Softmax (B, K, ...) of uint8 windows on the device (2d: (B, slices, y, x), 3d:
    (B, z, y, x)), averaged over the test-time flips and an ensemble's members."""
    import torch

    members = getattr(model, "members", None) or [model]
    kind = model.spec["kind"]
    x = tiles.to(torch.float32) / 255.0
    if kind == "3d":
        x = x[:, None]
    dims_list = flips(kind, tta)
    mean = None
    for m in members:
        total = None
        for dims in dims_list:
            xin = torch.flip(x, dims) if dims else x
            with autocast_context(x.device, autocast):
                out = m.net(xin)
            p = torch.softmax(out.float(), dim=1)
            back = unflip(kind, dims)
            p = torch.flip(p, back) if back else p
            total = p if total is None else total + p
        total = total / len(dims_list)
        mean = total if mean is None else mean + total
    return mean / len(members) if len(members) > 1 else mean


def argmax0(scores):
    """``scores.argmax(0)`` as uint8 (the first class on ties), by comparing the few
    classes elementwise: much faster than torch's argmax over the outer axis on the CPU.

    >>> import torch
    >>> argmax0(torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])).tolist()
    [1, 0, 0]
    """
    import torch

    best = scores[0].clone()
    index = torch.zeros(scores.shape[1:], dtype=torch.uint8, device=scores.device)
    for c in range(1, scores.shape[0]):
        better = scores[c] > best
        index.masked_fill_(better, c)
        best = torch.where(better, scores[c], best)
    return index


def _reads(kind: str, z: int, depth: int, context: int, nz: int) -> tuple[int, int]:
    """Slices ``[r0, r1)`` of the volume that the window starting at ``z`` sees."""
    if kind == "2d":
        return max(z - context, 0), min(z + context + 1, nz)
    return z, min(z + depth, nz)


def _upload(image, lo: int, hi: int, device):
    """Slices ``lo:hi`` of a numpy array or tensor as a uint8 tensor on ``device`` (a
    view, no copy, when both are on the CPU)."""
    import torch

    if isinstance(image, torch.Tensor):
        return image[lo:hi].to(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a read-only array is only read
        part = torch.from_numpy(image[lo:hi])
    # From pageable memory the copy is staged before returning: the array may go.
    return part if torch.device(device).type == "cpu" else part.to(device, non_blocking=True)


def _nonempty(vol, reads, ys, xs, patch) -> np.ndarray:
    """(positions, windows) booleans on the host: does the window at in-plane position
    ``(ys[i], xs[j])`` (index ``i * len(xs) + j``) reading slices ``reads[w]`` (relative
    to ``vol``) hold a non-zero voxel. One transfer to the host."""
    import torch

    ny, nx = vol.shape[1:]
    rows = []
    for x in xs:
        cols = vol[:, :, x:x + min(patch[2], nx - x)].amax(dim=2)  # (slices, y)
        rows.append([cols[:, y:y + min(patch[1], ny - y)].amax(dim=1) for y in ys])
    per_slice = torch.stack([rows[j][i] for i in range(len(ys)) for j in range(len(xs))]) > 0
    cs = np.zeros((per_slice.shape[0], per_slice.shape[1] + 1), np.int64)
    np.cumsum(per_slice.cpu().numpy(), axis=1, out=cs[:, 1:])
    r = np.asarray(reads, np.int64).reshape(-1, 2)
    return (cs[:, r[:, 1]] - cs[:, r[:, 0]]) > 0


def _pad(tiles, size):
    """Zero-pad the last axes of ``tiles`` up to ``size`` (windows larger than the
    volume)."""
    import torch.nn.functional as F

    pad = []
    for have, want in zip(reversed(tiles.shape[-len(size):]), reversed(size), strict=True):
        pad += [0, int(want) - int(have)]
    return F.pad(tiles, pad) if any(pad) else tiles


def sliding_window_device(image, model, *, overlap: float = 0.25,
                          batch_size: int | None = None, tta: bool = False,
                          slab: int | None = None, probabilities: bool = False,
                          z_indices=None, progress=None, autocast: bool | None = None):
    """:func:`leg3dus.segment.infer.sliding_window` with the data on ``model.device``.

    ``image`` is a uint8 array (the result is then a numpy array) or a uint8 tensor (the
    result is then a tensor on the device).
    """
    import torch

    dev = torch.device(model.device)
    spec = model.spec
    kind, k = spec["kind"], int(spec["classes"])
    patch, context = [int(p) for p in spec["patch"]], int(spec.get("context", 0))
    nz, ny, nx = image.shape
    zs = z_windows(spec, nz, overlap, z_indices)
    ys, xs = window_starts(ny, patch[1], overlap), window_starts(nx, patch[2], overlap)
    positions = [(y, x) for y in ys for x in xs]
    weight = torch.from_numpy(gaussian_weights(patch)).to(dev)
    bs = int(batch_size) if batch_size else default_batch_size(patch, dev)
    as_tensor = isinstance(image, torch.Tensor)
    shape = (k, nz, ny, nx) if probabilities else (nz, ny, nx)
    dtype = (torch.float32, np.float32) if probabilities else (torch.uint8, np.uint8)
    out = (torch.zeros(shape, dtype=dtype[0], device=dev) if as_tensor
           else np.zeros(shape, dtype[1]))
    slabs = slabs_of(nz, slab) if ny and nx else []  # an empty volume has no windows
    per_slab = [len(in_slab(zs, patch[0], a, b)) * len(positions) for a, b in slabs]
    base, total = 0, sum(per_slab)
    depth = max((b - a for a, b in slabs), default=0)  # buffers reused slab to slab
    acc_buf = torch.empty((k, depth, ny, nx), dtype=torch.float32, device=dev)
    wsum_buf = torch.empty((depth, ny, nx), dtype=torch.float32, device=dev)
    with torch.inference_mode():
        for (a, b), n_slab in zip(slabs, per_slab, strict=True):
            acc, wsum = acc_buf[:, :b - a].zero_(), wsum_buf[:b - a].zero_()
            starts = in_slab(zs, patch[0], a, b)
            if starts:
                reads = [_reads(kind, z, patch[0], context, nz) for z in starts]
                lo, hi = min(r[0] for r in reads), max(r[1] for r in reads)
                vol = _upload(image, lo, hi, dev)
                keep = _nonempty(vol, [(r0 - lo, r1 - lo) for r0, r1 in reads], ys, xs,
                                 patch)
                run = _Pass(model, bs, tta, autocast, context, nz, weight, positions,
                            progress, base, total)
                (_slab_2d if kind == "2d" else _slab_3d)(
                    run, _Slab(vol, lo, a, starts, keep, acc, wsum))
                del vol
            base += n_slab
            covered = wsum > 0
            if probabilities:
                acc /= torch.where(covered, wsum, 1.0)
                acc[0].masked_fill_(~covered, 1.0)
                part = acc
            else:
                part = argmax0(acc).masked_fill_(~covered, 0)
            dst = out[:, a:b] if probabilities else out[a:b]
            dst[...] = part if as_tensor else part.cpu().numpy()
    if progress is not None:
        progress("predicting", total, total)
    return out


@dataclass
class _Pass:
    """What every slab of one call shares."""

    model: object
    batch: int
    tta: bool
    autocast: bool | None
    context: int
    nz: int
    weight: object  # Gaussian weights on the device, shape patch
    positions: list  # in-plane window starts (y, x), in y then x order
    progress: object
    done: int
    total: int

    def report(self, n: int) -> None:
        """Tell ``progress`` where we are, before a batch of ``n`` windows."""
        if self.progress is not None:
            self.progress("predicting", self.done, self.total)
        self.done += n

    def scores(self, tiles):
        return scores(self.model, tiles, self.tta, self.autocast)


@dataclass
class _Slab:
    """One slab ``[a, a + acc.shape[1])``: its uint8 slices from ``lo`` on, the window
    starts along axis 0 that touch it, which windows hold data (positions x starts),
    and its score and weight sums."""

    vol: object
    lo: int
    a: int
    starts: list
    keep: np.ndarray
    acc: object
    wsum: object


def _slab_2d(run: _Pass, sl: _Slab) -> None:
    """One slab of the 2d model: per in-plane position, batches of slices."""
    import torch

    vol, lo, a, acc, wsum, weight = sl.vol, sl.lo, sl.a, sl.acc, sl.wsum, run.weight
    ny, nx = vol.shape[1:]
    patch, positions, context, bs = weight.shape, run.positions, run.context, run.batch
    keep, starts = sl.keep, sl.starts
    kept = [np.flatnonzero(keep[p]) for p in range(len(positions))]
    # The slices each kept window sees (clamped at the volume's ends), relative to vol,
    # and its slice in the slab: one upload for the whole slab.
    z = np.asarray(starts, np.int64)[np.concatenate(kept)]
    seen = np.clip(z[:, None] + np.arange(-context, context + 1), 0, run.nz - 1) - lo
    table = torch.from_numpy(np.concatenate([seen, (z - a)[:, None]], 1)).to(
        vol.device, non_blocking=True)
    first = 0
    for p, (y, x) in enumerate(positions):
        n = len(kept[p])
        hy, hx = min(patch[1], ny - y), min(patch[2], nx - x)
        w2 = weight[0, :hy, :hx]
        window = vol[:, y:y + hy, x:x + hx]
        for i in range(first, first + n, bs):
            j = min(i + bs, first + n)
            run.report(j - i)
            tiles = _pad(window[table[i:j, :-1]], patch[1:])
            prob = run.scores(tiles)[:, :, :hy, :hx]
            contrib = (prob * w2).transpose(0, 1)  # (K, B, hy, hx)
            z0, z1 = int(z[i]) - a, int(z[j - 1]) - a
            if z1 - z0 == j - i - 1:  # consecutive slices: one strided addition
                acc[:, z0:z1 + 1, y:y + hy, x:x + hx] += contrib
                wsum[z0:z1 + 1, y:y + hy, x:x + hx] += w2
            else:
                zrel = table[i:j, -1]
                acc[:, :, y:y + hy, x:x + hx].index_add_(1, zrel, contrib)
                wsum[:, y:y + hy, x:x + hx].index_add_(0, zrel, w2.expand(j - i, hy, hx))
        first += n


def _slab_3d(run: _Pass, sl: _Slab) -> None:
    """One slab of the 3d model: non-empty windows in z, y, x order, in batches."""
    import torch

    vol, lo, a, acc, wsum, weight = sl.vol, sl.lo, sl.a, sl.acc, sl.wsum, run.weight
    b, starts, keep, positions, bs = a + acc.shape[1], sl.starts, sl.keep, run.positions, run.batch
    ny, nx = vol.shape[1:]
    patch = weight.shape
    order = [(w, p) for w in range(len(starts)) for p in range(len(positions))
             if keep[p, w]]
    for i in range(0, len(order), bs):
        chunk = order[i:i + bs]
        run.report(len(chunk))
        boxes, tiles = [], []
        for w, p in chunk:
            z, (y, x) = starts[w], positions[p]
            hy, hx = min(patch[1], ny - y), min(patch[2], nx - x)
            boxes.append((z, y, x, hy, hx))
            tiles.append(_pad(vol[z - lo:z - lo + patch[0], y:y + hy, x:x + hx], patch))
        prob = run.scores(torch.stack(tiles))
        for (z, y, x, hy, hx), pr in zip(boxes, prob, strict=True):
            z0, z1 = max(z, a), min(z + patch[0], b)
            wt = weight[z0 - z:z1 - z, :hy, :hx]
            acc[:, z0 - a:z1 - a, y:y + hy, x:x + hx] += pr[:, z0 - z:z1 - z, :hy, :hx] * wt
            wsum[z0 - a:z1 - a, y:y + hy, x:x + hx] += wt
