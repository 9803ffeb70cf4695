"""The torch path: compounding on a torch device (``cpu`` or ``cuda``) with the same
volumes as the numba kernels, bit for bit.

Three kernels, each vectorised torch with a few large launches per slab or chunk and no
Python loop over frames, pixels or voxels (their modules say how):

- :mod:`.torch_vnn`: voxel-based nearest neighbour, a (|w|, frame) minimum by scatter;
- :mod:`.torch_pnn` with :mod:`.torch_rounds`: pixel-based nearest and linear with
  PLUS's arithmetic, the order-dependent running mean applied in rounds;
- :mod:`.torch_fill`: Gaussian hole filling.

Vectorised torch rather than numba's CUDA target or Triton: the same code runs on the
CPU device (so CI, which has no GPU, tests the GPU code path for equality with numba),
and eager torch launches one kernel per elementwise operation, so no multiply-add is
fused and every float rounding is the numba kernels' one. Data stay on the device from
the frames' upload to the filled volume; only the result comes back.
"""

from __future__ import annotations

import numpy as np

from .torch_pnn import check_supported


def get_device(name: str):
    """``torch.device(name)`` for ``cpu`` or ``cuda``; :class:`OptionError` when torch is
    not installed, or CUDA is asked for and torch sees none.

    >>> get_device("cpu")
    device(type='cpu')
    """
    from ..core.errors import OptionError

    try:
        import torch
    except ImportError:
        raise OptionError(f"device {name} runs on torch, which is not installed here; "
                          "install the seg extra (leg3dus[seg]) or use device numba") from None
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("device cuda asked for, but torch sees no CUDA device here")
    return torch.device(name)


def _budget(dev) -> int:
    """Writes (pnn) or candidates (vnn) per chunk: cache-sized on a CPU; on a GPU as many
    as about a fifth of its free memory holds (~200 bytes each, with temporaries), so a
    full-size sweep takes few chunks on a large GPU and still fits a small one."""
    if dev.type != "cuda":
        return 1 << 22
    import torch

    free, _ = torch.cuda.mem_get_info(dev)
    return int(min(1 << 28, max(1 << 22, free // 1000)))


def vnn_torch(frames, a, seg, boxes, shape, origin_xyz, spacing_xyz, max_distance_mm, device,
              slab=None, keep_on_device=False):
    """Voxel-based nearest neighbour on ``device``; returns (volume, hit) uint8, numpy
    (or tensors on the device with ``keep_on_device``). Same inputs and result as
    :func:`leg3dus.compound.vnn.vnn_insert`; works through slabs of ``slab`` z slices
    (default 128 on a GPU, 64 on the CPU device)."""
    dev = get_device(device)
    if slab is None:
        slab = 128 if dev.type == "cuda" else 64
    import torch

    from .torch_vnn import vnn_device

    frames_t = torch.as_tensor(np.ascontiguousarray(frames), device=dev)
    out, hit = vnn_device(frames_t, a, seg, boxes, shape, origin_xyz, spacing_xyz,
                          max_distance_mm, slab=slab, budget=_budget(dev))
    if keep_on_device:
        return out, hit
    return out.cpu().numpy(), hit.cpu().numpy()


def pnn_torch(frames, pix_to_index, seg, shape, device, interpolation="nearest",
              compounding="mean", optimization="FULL", importance=None,
              pixel_rejection_threshold=None, mask=None, keep_on_device=False):
    """:func:`leg3dus.compound.pnn.paste_frames` into a new grid of ``shape`` (z, y, x)
    on ``device``; returns (out, acc): out of the frames' type, acc uint16 (numpy, or
    tensors on the device with ``keep_on_device``: acc in int16 holding uint16 bits, a
    uint16 output in int32).

    Examples
    --------
    >>> frames = np.full((1, 2, 2), 7, np.uint8)
    >>> from leg3dus.compound.pnn import row_segments
    >>> from leg3dus.sweep import ReconParams
    >>> out, acc = pnn_torch(frames, np.eye(4)[None], row_segments(2, 2, ReconParams()),
    ...                      (1, 2, 2), "cpu")
    >>> out[0].tolist(), acc[0].tolist()
    ([[7, 7], [7, 7]], [[256, 256], [256, 256]])
    """
    from .torch_pnn import pnn_device, to_numpy

    dev = get_device(device)
    out, acc = pnn_device(frames, pix_to_index, seg, shape, frames.dtype, dev, interpolation,
                          compounding, optimization, importance, pixel_rejection_threshold,
                          mask, budget=_budget(dev))
    if keep_on_device:
        return out, acc
    return to_numpy(out, acc, frames.dtype)


def fill_gaussian_torch(volume, hit, size_vox=5, sigma_vox=1.0, device="cpu", chunk=None):
    """:func:`leg3dus.compound.fill.fill_gaussian` on a torch device (same result): a
    cube of ``size_vox`` voxels, a Gaussian of ``sigma_vox`` voxels. ``volume`` and
    ``hit`` are numpy arrays (the result is one) or tensors (the result stays on their
    device).

    Examples
    --------
    >>> vol = np.zeros((1, 5, 5), np.uint8); hit = np.zeros((1, 5, 5), np.uint8)
    >>> vol[0, :, ::2] = 100; hit[0, :, ::2] = 1
    >>> fill_gaussian_torch(vol, hit, size_vox=3)[0, 2].tolist()
    [100, 100, 100, 100, 100]
    """
    is_tensor = not isinstance(volume, np.ndarray)
    dev = volume.device if is_tensor else get_device(device)
    import torch

    from .torch_fill import fill_gaussian_device

    if chunk is None:
        chunk = 256 if dev.type == "cuda" else 64
    vol_t = torch.as_tensor(volume, device=dev)
    hit_t = torch.as_tensor(hit, device=dev)
    out = fill_gaussian_device(vol_t, hit_t, size_vox, sigma_vox, chunk)
    return out if is_tensor else out.cpu().numpy()


def pnn_plus_torch(frames, pix_to_index, shape, p, device, labels=False):
    """Insert frames as :func:`leg3dus.compound.reconstruct` does with the numba kernels
    for ``p`` (PLUS's attributes), on ``device``; returns (out, acc) tensors there and how
    many frames were inserted. Labels: nearest neighbour, the latest frame wins."""
    dev = get_device(device)
    import torch

    from .pnn import row_segments
    from .reconstruct import frame_geometry, load_importance_mask

    h, w = frames.shape[1:]
    if labels:
        out, acc = pnn_torch(frames, pix_to_index, row_segments(h, w, p), shape, device,
                             "nearest", "latest", keep_on_device=True)
        return out, acc, frames.shape[0]
    imp = None
    if p.compounding_mode == "IMPORTANCE_MASK":
        imp = load_importance_mask(p.importance_mask, (h, w))
    plans = list(frame_geometry(frames, p))
    if not plans:
        from .torch_rounds import state_dtype

        return (torch.zeros(shape, dtype=state_dtype(frames.dtype), device=dev),
                torch.zeros(shape, dtype=torch.int16, device=dev), 0)
    seg, mask = plans[0][1], plans[0][2]
    if p.fan_angles_auto_detect:  # one fan per frame
        idx = np.array([i for i, _, _ in plans])
        frames, pix_to_index = frames[idx], pix_to_index[idx]
        seg = np.stack([s for _, s, _ in plans])
        mask = None if mask is None else np.stack([m for _, _, m in plans])
    out, acc = pnn_torch(frames, pix_to_index, seg, shape, device,
                         "linear" if p.interpolation == "LINEAR" else "nearest",
                         p.compounding_mode.lower(), p.optimization, imp,
                         p.pixel_rejection_threshold, mask, keep_on_device=True)
    return out, acc, len(plans)


def finish_torch(out, hit, dtype, gaussian: bool, size_vox=5, sigma_vox=1.0, labels=False):
    """Device tensors -> numpy (``dtype`` volume, uint8 / uint16 hit), after the Gaussian
    fill (or, for ``labels``, the Gaussian-weighted vote) on the device when ``gaussian``."""
    import torch

    from .torch_fill import fill_labels_device
    from .torch_pnn import to_numpy

    if gaussian and labels:
        out = fill_labels_device(out, hit, size_vox, sigma_vox,
                                 chunk=256 if out.device.type == "cuda" else 64)
    elif gaussian:
        out = fill_gaussian_torch(out, hit, size_vox, sigma_vox)
    if hit.dtype == torch.uint8:  # vnn's hit; pnn's is the accumulation buffer
        return out.cpu().numpy().astype(dtype, copy=False), hit.cpu().numpy()
    return to_numpy(out, hit, dtype)


__all__ = ["check_supported", "fill_gaussian_torch", "finish_torch", "get_device", "pnn_plus_torch",
           "pnn_torch", "vnn_torch"]
