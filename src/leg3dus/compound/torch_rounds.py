"""Order-dependent compounding as vectorised torch: PLUS's per-voxel update rules (the
numba kernels' arithmetic in :mod:`.pnn`, :mod:`.pnn_nn`, :mod:`.pnn_linear`) applied to
many contributions at once, in rounds.

A contribution is one (voxel, value, weight) write of a pixel, numbered in the order the
numba kernels make it (frame, row, column, then trilinear corner 7 down to 0). PLUS's
running mean rounds at every insertion, so the result depends on that order. The
contributions are sorted by (voxel, order) (a stable sort by voxel of the list, which is
made in insertion order) and round ``k`` applies every voxel's ``k``-th contribution: no
two contributions of a round touch the same voxel, each round is a handful of gather /
elementwise / scatter launches over all its voxels, and each voxel sees its
contributions in insertion order, so the volume equals the sequential one. The number of
rounds is the largest number of contributions one voxel gets in a chunk. Where only a
voxel's last contribution matters, :func:`apply_last` needs one sort and no rounds.
"""

from __future__ import annotations

import numpy as np

MEAN, MAXIMUM, LATEST, IMPORTANCE = 0, 1, 2, 3
MODES_BY_NAME = {"mean": MEAN, "maximum": MAXIMUM, "latest": LATEST, "importance_mask": IMPORTANCE}
_TH = 65279
_MAX = 65535
_HALF = 1 << 13
_ONE = 1 << 14
_SHIFT = 103079215104
_FIX_SHIFT = 412316860416.0


def plus_round(x):
    """igsioMath::Round on a float64 tensor (as :func:`.pnn_nn.plus_round`).

    >>> import torch
    >>> plus_round(torch.tensor([0.5, -0.5, 2.4999999999], dtype=torch.float64)).tolist()
    [1, 0, 3]

    (2.4999999999 is first rounded to 2**-16, to 2.5, then up.)
    """
    import torch

    return (x + 103079215104.5).to(torch.int64) - _SHIFT


def plus_floor(x):
    """igsioMath::Floor on a float64 tensor (as :func:`.pnn_nn.plus_floor`)."""
    import torch

    return (x + 103079215104.0).to(torch.int64) - _SHIFT


def state_dtype(dtype: np.dtype):
    """The torch dtype that holds an output of numpy ``dtype`` (uint16 in int32)."""
    import torch

    return {np.uint8: torch.uint8, np.int8: torch.int8, np.int16: torch.int16,
            np.uint16: torch.int32, np.float32: torch.float32}[np.dtype(dtype).type]


def _store(x, like):
    """An int64 (C conversion: wraps) or float value into the state dtype of ``like``."""
    import torch

    if like.dtype == torch.float32:
        return x.to(torch.float32)
    x = x.to(torch.int64)
    if like.dtype == torch.int32:  # uint16 held in int32
        return (x & 0xFFFF).to(torch.int32)
    return x.to(like.dtype)


def _num(x, is_float):
    import torch

    return x if is_float else x.to(torch.int64)


def _i32(x):
    # PLUS's fixed type keeps its value in a C int: products and sums wrap at 32 bits
    return ((x + 2147483648) & 0xFFFFFFFF) - 2147483648


def _fdiv(num, den):
    import torch

    v = num.to(torch.float64) / den.to(torch.float64)
    return ((v + _FIX_SHIFT) - _FIX_SHIFT).mul(_ONE).to(torch.int64)


def nn_step(mode: int, unoptimized: bool, is_float: bool):
    """The nearest-neighbour update of :func:`.pnn_nn.nn_optimized` (FULL, PARTIAL) or
    :func:`.pnn_nn.nn_unoptimized` (NONE) for one contribution per voxel."""
    import torch

    def step(o, a, v, f, wgt):
        on = _num(o, is_float)
        if mode in (MEAN, IMPORTANCE):
            under = a <= _TH
            den = a + wgt
            if is_float:
                mean = (v * wgt.to(torch.float32) + on * a.to(torch.float32)) \
                    / den.to(torch.float32)
            else:
                mean = torch.div(v * wgt + on * a, torch.where(den == 0, 1, den),
                                 rounding_mode="trunc")
            over = v.to(torch.float64) * (1.0 / 256) + on.to(torch.float64) * (255.0 / 256)
            o2 = torch.where(under, _store(mean, o), _store(over, o))
            a2 = torch.where(under, torch.clamp_max(a + wgt, _MAX), a)
            if unoptimized:  # a weight-0 pixel is skipped
                skip = under & (wgt == 0)
                o2, a2 = torch.where(skip, o, o2), torch.where(skip, a, a2)
            return o2, a2
        take = (on < v) if mode == MAXIMUM else torch.ones_like(a, dtype=torch.bool)
        o2 = torch.where(take, _store(v, o), o)
        a2 = torch.clamp_max(a + 256, _MAX) if unoptimized else torch.full_like(a, 256)
        return o2, a2
    return step


def linear_step(mode: int, is_float: bool):
    """The trilinear corner update of :func:`.pnn_linear._corner` (PARTIAL, NONE)."""
    import torch

    def step(o, a, v, f, wgt):
        on = _num(o, is_float)
        af = a.to(torch.float64)
        if mode in (MAXIMUM, LATEST):
            upd = f >= 0.125
            if mode == MAXIMUM:
                upd &= v > on
            o2 = torch.where(upd, _store(v, o), o)
            an = torch.where(upd, f * 256, af)
        elif mode == MEAN:
            r = af / 256.0
            an = f + r
            q = (f * v.to(torch.float64) + r * on.to(torch.float64)) / an
            o2 = _store(q if is_float else plus_round(q), o)
            an = an * 256
        else:
            use = wgt != 0
            ai = wgt.to(torch.float64) * f + af
            if is_float:
                num = (v * wgt.to(torch.float32)).to(torch.float64) * f \
                    + (on * a.to(torch.float32)).to(torch.float64)
                q = _store(num / ai, o)
            else:
                num = (v * wgt).to(torch.float64) * f + (on * a).to(torch.float64)
                q = _store(plus_round(num / ai), o)
            o2 = torch.where(use, q, o)
            an = torch.where(use, ai, af)
        a2 = torch.where(an < _MAX, plus_round(an), _MAX)
        return o2, a2
    return step


def fixed_linear_step(mode: int):
    """The trilinear corner update of :func:`.pnn._insert_linear` (FULL, fixed point)."""
    import torch

    def step(o, a, v, f, wgt):
        on = o.to(torch.int64) if o.dtype != torch.float32 else o
        old14 = a << 14
        if mode == MEAN:
            r = a * 64
            an = f + r
            q = _fdiv(_i32(_i32(f * v) + _i32(r * on)), an)
            o2 = _store((q + _HALF) >> 14, o)
            an = an * 256
        elif mode == IMPORTANCE:
            use = wgt != 0
            ai = wgt * f + old14
            q = _i32(_fdiv(_i32(_i32(v * wgt) * f), ai) + _i32(_fdiv(old14, ai) * on))
            o2 = torch.where(use, _store((q + _HALF) >> 14, o), o)
            an = torch.where(use, ai, old14)
        else:
            upd = f >= 2048
            if mode == MAXIMUM:
                upd &= v > on
            o2 = torch.where(upd, _store(v, o), o)
            an = torch.where(upd, f * 256, old14)
        a2 = torch.where(an < (_MAX << 14), (an + _HALF) >> 14, _MAX)
        return o2, a2
    return step


def apply_in_rounds(out_flat, acc_flat, vox, v, f, wgt, step) -> int:
    """Apply contributions (in insertion order) to the flat state tensors ``out_flat`` and
    ``acc_flat`` (int16 holding PLUS's uint16 accumulation), in rounds of distinct voxels;
    returns the number of rounds.

    ``f`` and ``wgt`` may be None (nearest neighbour: no weight; weight 256).

    Examples
    --------
    PLUS's truncated running mean of 3, 0, 0 into voxel 1 (and 9 into voxel 0):

    >>> import torch
    >>> out, acc = torch.zeros(2, dtype=torch.uint8), torch.zeros(2, dtype=torch.int16)
    >>> vox, v = torch.tensor([1, 1, 0, 1]), torch.tensor([3, 0, 9, 0])
    >>> apply_in_rounds(out, acc, vox, v, None, None, nn_step(MEAN, False, False))
    3
    >>> out.tolist(), acc.tolist()
    ([9, 0], [256, 768])
    """
    import torch

    n = vox.numel()
    if n == 0:
        return 0
    dev = vox.device
    key = vox.to(torch.int32) if out_flat.numel() < 2**31 else vox
    vs, by_voxel = torch.sort(key, stable=True)
    # the voxels' runs in the sorted list, longest first: round k takes the k-th element
    # of every run longer than k (no second sort of the whole list)
    new = torch.ones(n, dtype=torch.bool, device=dev)
    new[1:] = vs[1:] != vs[:-1]
    starts = torch.nonzero(new).squeeze(1)
    sizes = torch.diff(starts, append=torch.tensor([n], device=dev))
    hist = torch.bincount(sizes).tolist()
    starts = starts.gather(0, torch.sort(sizes, descending=True, stable=True).indices)
    vox = vs.to(torch.int64)
    v = v.gather(0, by_voxel)
    f = f.gather(0, by_voxel) if f is not None else None
    wgt = wgt.gather(0, by_voxel) if wgt is not None else None
    left = starts.numel()  # runs longer than k
    for k in range(len(hist) - 1):
        left -= hist[k]
        idx = starts[:left] + k
        vx = vox.gather(0, idx)
        # gather / scatter_ (not advanced indexing): one plain kernel each, on any device
        o, a = out_flat.gather(0, vx), acc_flat.gather(0, vx).to(torch.int64) & 0xFFFF
        o2, a2 = step(o, a, v.gather(0, idx), None if f is None else f.gather(0, idx),
                      torch.full_like(vx, 256) if wgt is None else wgt.gather(0, idx))
        out_flat.scatter_(0, vx, o2)
        acc_flat.scatter_(0, vx, a2.to(torch.int16))  # wraps: the uint16 bits
    return len(hist) - 1


def apply_last(out_flat, acc_flat, vox, v, f, wgt, step) -> None:
    """Apply only each voxel's last contribution: LATEST compounding where the update
    overwrites both the value and the accumulation (nearest at FULL or PARTIAL; linear,
    given only the corners heavy enough to write). One sort, no rounds.

    >>> import torch
    >>> out, acc = torch.zeros(2, dtype=torch.uint8), torch.zeros(2, dtype=torch.int16)
    >>> apply_last(out, acc, torch.tensor([1, 0, 1]), torch.tensor([5, 6, 7]), None, None,
    ...            nn_step(LATEST, False, False))
    >>> out.tolist(), acc.tolist()
    ([6, 7], [256, 256])
    """
    import torch

    n = vox.numel()
    if n == 0:
        return
    key = vox.to(torch.int32) if out_flat.numel() < 2**31 else vox
    vs, by_voxel = torch.sort(key, stable=True)
    last = torch.ones(n, dtype=torch.bool, device=vox.device)
    last[:-1] = vs[:-1] != vs[1:]
    idx = by_voxel.masked_select(last)
    vx = vox.gather(0, idx)
    o, a = out_flat.gather(0, vx), acc_flat.gather(0, vx).to(torch.int64) & 0xFFFF
    o2, a2 = step(o, a, v.gather(0, idx), None if f is None else f.gather(0, idx),
                  torch.full_like(vx, 256) if wgt is None else wgt.gather(0, idx))
    out_flat.scatter_(0, vx, o2)
    acc_flat.scatter_(0, vx, a2.to(torch.int16))
