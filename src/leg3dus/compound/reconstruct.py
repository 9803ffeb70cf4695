"""Freehand reconstruction of a tracked sequence into a volume: grid, memory check,
insertion (``pnn`` or ``vnn``) and hole filling."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import GeometryError, InputFileError, OptionError, OutputError
from ..sweep import PlusConfig, ReconParams, Sequence, check_params, check_rigid
from ..sweep.transforms import image_to_reference
from ..volume import Volume
from .fill import fill_gaussian, fill_labels
from .holes_plus import fill_holes_plus
from .pnn import paste_frames, row_segments
from .vnn import frame_slabs, vnn_insert, voxel_to_frame

METHODS = ("pnn", "vnn")
FILLS = ("none", "gaussian", "plus")
DEVICES = ("numba", "cpu", "cuda")


@dataclass
class Options:
    """How to reconstruct, beyond PLUS's own attributes (:class:`ReconParams`).

    ``method`` pnn (pixel-based, PLUS) or vnn (voxel-based nearest neighbour);
    ``fill`` none, gaussian (normalised convolution, ``fill_size`` voxels, ``fill_sigma``
    voxels) or plus (the config's HoleFillingElements; default when FillHoles is ON);
    ``max_distance`` mm for vnn (default: the largest output spacing); ``device`` numba
    (CPU kernels) or cpu / cuda (torch, vnn only); ``max_memory_gb`` refuses larger grids
    (default: the memory available now).
    """

    method: str = "pnn"
    fill: str | None = None
    fill_size: int = 5
    fill_sigma: float = 1.0
    max_distance: float | None = None
    device: str = "numba"
    max_memory_gb: float | None = None


@dataclass
class Reconstruction:
    """A reconstructed volume with its coverage: ``hit`` (uint8 1 where a pixel landed,
    or the PLUS accumulation buffer for pnn) and how many frames were used."""

    volume: Volume
    hit: np.ndarray
    frames_used: int


def plan_grid(img_to_ref: np.ndarray, valid: np.ndarray, frame_shape, p: ReconParams,
              path: str = "sequence") -> tuple[np.ndarray, np.ndarray]:
    """Output origin (x, y, z mm) and size (x, y, z voxels) as PLUS computes them.

    The bounding box of the clip-rectangle corners of every valid frame, origin at its
    minimum, size round(extent / spacing) + 1; or ``p.output_origin``/``output_extent``.
    """
    spacing = np.asarray(p.output_spacing, np.float64)
    if p.output_extent is not None:
        if p.output_origin is None:
            raise OptionError("an output extent needs an output origin too")
        e = np.asarray(p.output_extent).reshape(3, 2)
        origin = np.asarray(p.output_origin, np.float64) + e[:, 0] * spacing
        return origin, (e[:, 1] - e[:, 0] + 1).astype(np.int64)
    if not valid.any():
        raise InputFileError(f"{path}: no frame has a valid image and valid transforms")
    h, w = frame_shape
    x0, x1, y0, y1 = 0.0, w - 1.0, 0.0, h - 1.0
    if p.clip_rectangle_size[0] > 0 and p.clip_rectangle_size[1] > 0:
        x0 = max(x0, p.clip_rectangle_origin[0])
        x1 = min(x1, p.clip_rectangle_origin[0] + p.clip_rectangle_size[0])
        y0 = max(y0, p.clip_rectangle_origin[1])
        y1 = min(y1, p.clip_rectangle_origin[1] + p.clip_rectangle_size[1])
    corners = np.array([[x0, y0, 0, 1], [x0, y1, 0, 1], [x1, y0, 0, 1], [x1, y1, 0, 1]]).T
    pts = (img_to_ref[valid] @ corners)[:, :3].transpose(1, 0, 2).reshape(3, -1)
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    if p.output_origin is not None:
        lo = np.asarray(p.output_origin, np.float64)
    dims = np.round((hi - lo) / spacing).astype(np.int64) + 1
    return lo, np.maximum(dims, 1)


def _available_bytes() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def check_memory(dims, bytes_per_voxel: float, limit_gb: float | None) -> None:
    """Raise :class:`OutputError` before allocating a grid that would not fit."""
    need = float(np.prod(np.asarray(dims, np.float64))) * bytes_per_voxel
    have = limit_gb * 1e9 if limit_gb is not None else _available_bytes()
    if need > have:
        shape = " x ".join(str(int(d)) for d in dims)
        raise OutputError(
            f"the output grid of {shape} voxels (x, y, z) needs {need / 1e9:.1f} GB, "
            f"only {have / 1e9:.1f} GB available; use a coarser spacing or a smaller extent")


def _resolve(p: ReconParams, opt: Options, labels: bool) -> Options:
    if opt.method not in METHODS:
        raise OptionError(f"method must be one of {', '.join(METHODS)}, found {opt.method!r}")
    if opt.device not in DEVICES:
        raise OptionError(f"device must be one of {', '.join(DEVICES)}, found {opt.device!r}")
    fill = opt.fill or ("plus" if p.fill_holes else "none")
    if fill not in FILLS:
        raise OptionError(f"fill must be one of {', '.join(FILLS)}, found {fill!r}")
    if fill == "plus" and not p.hole_filling:
        raise OptionError("fill 'plus' needs HoleFillingElements in the configuration")
    if opt.device != "numba" and (opt.method != "vnn" or fill == "plus"):
        raise OptionError("the torch path (device cpu or cuda) runs vnn with gaussian or "
                          "no hole filling; use device numba for pnn or PLUS hole filling")
    if labels:
        if p.interpolation != "NEAREST_NEIGHBOR" and opt.method == "pnn":
            raise OptionError("label sequences compound with nearest neighbour only "
                              "(labels are never averaged); drop linear interpolation")
        if fill == "plus":
            raise OptionError("label holes are filled by vote (fill gaussian) or not at all")
    if opt.fill_size < 1 or opt.fill_size % 2 == 0 or opt.fill_sigma <= 0:
        raise OptionError(f"fill size must be odd >= 1 and sigma > 0, found "
                          f"{opt.fill_size}, {opt.fill_sigma}")
    return dataclasses.replace(opt, fill=fill)


def reconstruct(seq: Sequence, cfg: PlusConfig | None = None, params: ReconParams | None = None,
                options: Options | None = None, labels: bool = False,
                path: str = "sequence") -> Reconstruction:
    """Reconstruct ``seq`` into a volume in the Reference frame.

    ``params`` defaults to ``cfg.recon``; ``labels=True`` treats pixels as label values
    (nearest neighbour, the latest frame wins: never averaged). The returned volume is
    (z, y, x) with identity direction, origin and spacing from the Reference frame's axes.

    Examples
    --------
    >>> rec = reconstruct(read_sequence(seq), read_config(xml))  # doctest: +SKIP
    >>> rec.volume.shape                                         # doctest: +SKIP
    (105, 106, 147)
    """
    p = params or (cfg.recon if cfg is not None else ReconParams())
    check_params(p)
    opt = _resolve(p, options or Options(), labels)
    if seq.frames.dtype != np.uint8:
        raise InputFileError(f"{path}: expected uint8 frames, found {seq.frames.dtype}")
    check_rigid(seq, path)
    m, valid = image_to_reference(seq, cfg, p.image_frame, p.reference_frame, path)
    origin, dims = plan_grid(m, valid, seq.frame_shape, p, path)
    check_memory(dims, 4.0 if opt.method == "pnn" else 3.2, opt.max_memory_gb)
    spacing = np.asarray(p.output_spacing, np.float64)
    shape = (int(dims[2]), int(dims[1]), int(dims[0]))
    seg = row_segments(seq.frame_shape[0], seq.frame_shape[1], p)
    frames = seq.frames[valid]
    mats = m[valid]
    out = np.zeros(shape, np.uint8)
    if opt.method == "pnn":
        acc = np.zeros(shape, np.uint16)
        to_index = np.diag(np.r_[1.0 / spacing, 1.0])
        to_index[:3, 3] = -origin / spacing
        pix_to_index = to_index @ mats
        if labels:
            paste_frames(frames, pix_to_index, seg, out, acc, "nearest", "latest")
        else:
            paste_frames(frames, pix_to_index, seg, out, acc,
                         "linear" if p.interpolation == "LINEAR" else "nearest",
                         p.compounding_mode.lower())
        hit = acc
    else:
        maxd = opt.max_distance if opt.max_distance is not None else float(spacing.max())
        a = voxel_to_frame(mats, origin, spacing)
        slabs = frame_slabs(a, seq.frame_shape, maxd, origin, spacing, dims)
        hit = np.zeros(shape, np.uint8)
        if opt.device == "numba":
            vnn_insert(frames, a, seg, slabs, out, hit, origin, spacing, maxd)
        else:
            from .torch_path import vnn_torch

            out, hit = vnn_torch(frames, a, seg, slabs, shape, origin, spacing, maxd,
                                 opt.device)
    if not hit.any():
        raise GeometryError(f"{path}: no frame falls inside the output extent "
                            f"(origin {np.round(origin, 3).tolist()} mm, "
                            f"{dims.tolist()} voxels x, y, z)")
    if opt.fill == "plus":
        out = fill_holes_plus(out, hit, p.hole_filling)
    elif opt.fill == "gaussian":
        if labels:
            out = fill_labels(out, hit, opt.fill_size, opt.fill_sigma)
        elif opt.device == "numba":
            out = fill_gaussian(out, hit, opt.fill_size, opt.fill_sigma)
        else:
            from .torch_path import fill_gaussian_torch

            out = fill_gaussian_torch(out, hit, opt.fill_size, opt.fill_sigma, opt.device)
    vol = Volume(out, tuple(spacing[::-1]), tuple(origin[::-1]))
    return Reconstruction(vol, hit, int(valid.sum()))
