"""Freehand reconstruction of a tracked sequence into a volume: grid, memory check,
insertion (``pnn`` or ``vnn``) and hole filling."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..core.errors import GeometryError, InputFileError, OptionError, OutputError
from ..core.memory import available_bytes
from ..core.volume import Volume
from ..sweep import PlusConfig, ReconParams, Sequence, check_params, check_rigid
from ..sweep.transforms import image_to_reference
from .fan_detect import detect_fan_angles
from .fill import fill_gaussian, fill_labels
from .holes_plus import fill_holes_plus
from .pnn import paste_frames, row_segments
from .pnn_nn import unoptimized_mask
from .vnn import frame_slabs, vnn_insert, voxel_to_frame

METHODS = ("pnn", "vnn")
FILLS = ("none", "gaussian", "plus")
DEVICES = ("numba", "cpu", "cuda")
PIXEL_TYPES = tuple(np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.float32))


@dataclass
class Options:
    """How to reconstruct, beyond PLUS's own attributes (:class:`ReconParams`).

    ``method`` pnn (pixel-based, PLUS) or vnn (voxel-based nearest neighbour);
    ``fill`` none, gaussian (normalised convolution over a cube of ``fill_size_vox``
    voxels, a Gaussian of ``fill_sigma_vox`` voxels) or plus (the config's
    HoleFillingElements; default when FillHoles is ON); ``max_distance_mm`` for vnn
    (default: the largest output spacing); ``device`` numba (CPU kernels) or cpu / cuda
    (torch, the same volumes); ``max_memory_gb`` refuses larger grids (default: the memory
    available now).
    """

    method: str = "pnn"
    fill: str | None = None
    fill_size_vox: int = 5
    fill_sigma_vox: float = 1.0
    max_distance_mm: float | None = None
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

    PLUS's own (x, y, z) order: this works on :class:`ReconParams` (the configuration's
    attributes) inside :func:`reconstruct`, whose volume comes out (z, y, x). The
    bounding box of the clip-rectangle corners of every valid frame, origin at its
    minimum, size round(extent / spacing) + 1; or ``p.output_origin``/``output_extent``.
    """
    spacing = np.asarray(p.output_spacing, np.float64)
    if p.output_extent is not None:
        if p.output_origin is None:
            raise OptionError("an output extent needs an output origin too")
        e = np.asarray(p.output_extent).reshape(3, 2)
        origin = np.asarray(p.output_origin, np.float64) + e[:, 0] * spacing
        return origin, (e[:, 1] - e[:, 0] + 1).astype(np.int64)
    lo, hi = _frames_box(img_to_ref, valid, frame_shape, p, path)
    dims = np.round((hi - lo) / spacing).astype(np.int64) + 1
    return lo, np.maximum(dims, 1)


def recompute_spacing(img_to_ref: np.ndarray, valid: np.ndarray, frame_shape, p: ReconParams,
                      path: str = "sequence") -> ReconParams:
    """PLUS's RecomputeOutputSpacing: the z spacing stretched so that a whole number of
    voxels spans the frames' z extent (``vtkIGSIOVolumeReconstructor::
    SetOutputExtentFromFrameList``: extent / floor(extent / spacing)); ``p`` unchanged
    when the option is off, the extent is given, or the frames span less than a voxel.

    Examples
    --------
    >>> mats = np.stack([np.eye(4), np.eye(4)]); mats[1, 2, 3] = 10.0  # frames 10 mm apart
    >>> p = ReconParams(output_spacing=(1.0, 1.0, 3.0), recompute_output_spacing=True)
    >>> recompute_spacing(mats, np.array([True, True]), (2, 2), p).output_spacing
    (1.0, 1.0, 3.3333333333333335)
    """
    if not p.recompute_output_spacing or p.output_extent is not None:
        return p
    lo, hi = _frames_box(img_to_ref, valid, frame_shape, p, path)
    steps = np.floor((hi[2] - lo[2]) / p.output_spacing[2])
    if steps < 1:
        return p
    sx, sy, _ = p.output_spacing
    return dataclasses.replace(p, output_spacing=(sx, sy, float((hi[2] - lo[2]) / steps)))


def _frames_box(img_to_ref, valid, frame_shape, p: ReconParams, path: str):
    # the bounding box (x, y, z mm) of the clip-rectangle corners of every valid frame,
    # its minimum replaced by the output origin when one is given
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
    return lo, hi


def check_memory(dims, bytes_per_voxel: float, limit_gb: float | None) -> None:
    """Raise :class:`OutputError` before allocating a grid that would not fit; ``dims``
    is the grid's shape in voxels, (z, y, x)."""
    need = float(np.prod(np.asarray(dims, np.float64))) * bytes_per_voxel
    have = limit_gb * 1e9 if limit_gb is not None else available_bytes()
    if have is not None and need > have:
        shape = " x ".join(str(int(d)) for d in dims)
        raise OutputError(
            f"the output grid of {shape} voxels (z, y, x) needs {need / 1e9:.1f} GB, "
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
    if opt.device != "numba" and opt.method == "pnn" and not labels:
        from .torch_pnn import check_supported

        check_supported("linear" if p.interpolation == "LINEAR" else "nearest",
                        p.compounding_mode.lower(), p.optimization)
    if opt.method == "vnn":
        used = [name for name, on in (
            ("PixelRejectionThreshold", p.pixel_rejection_threshold is not None),
            ("CompoundingMode IMPORTANCE_MASK", p.compounding_mode == "IMPORTANCE_MASK"),
            ("EnableFanAnglesAutoDetect", p.fan_angles_auto_detect)) if on]
        if used:
            raise OptionError(f"{', '.join(used)} apply to pnn (PLUS's method), not vnn")
    if labels:
        if p.interpolation != "NEAREST_NEIGHBOR" and opt.method == "pnn":
            raise OptionError("label sequences compound with nearest neighbour only "
                              "(labels are never averaged); drop linear interpolation")
        if fill == "plus":
            raise OptionError("label holes are filled by vote (fill gaussian) or not at all")
    if opt.fill_size_vox < 1 or opt.fill_size_vox % 2 == 0 or opt.fill_sigma_vox <= 0:
        raise OptionError(f"fill size must be an odd number of voxels >= 1 and fill sigma "
                          f"> 0 voxels, found {opt.fill_size_vox}, {opt.fill_sigma_vox}")
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
    dtype = _check_dtype(seq.frames.dtype, p, opt, labels, path)
    check_rigid(seq, path)
    m, valid = image_to_reference(seq, cfg, p.image_frame, p.reference_frame, path)
    p = recompute_spacing(m, valid, seq.frame_shape, p, path)
    origin, dims = plan_grid(m, valid, seq.frame_shape, p, path)
    check_memory(dims[::-1], 2.0 + 2 * dtype.itemsize if opt.method == "pnn" else 3.2,
                 opt.max_memory_gb)
    spacing = np.asarray(p.output_spacing, np.float64)
    shape = (int(dims[2]), int(dims[1]), int(dims[0]))
    # PLUS sizes the grid from every valid frame, then inserts every SkipInterval-th one
    used = valid & (np.arange(seq.n_frames) % p.skip_interval == 0)
    frames = seq.frames[used]
    mats = m[used]
    out = np.zeros(shape, dtype)
    if opt.method == "pnn":
        acc = np.zeros(shape, np.uint16)
        to_index = np.diag(np.r_[1.0 / spacing, 1.0])
        to_index[:3, 3] = -origin / spacing
        pix_to_index = to_index @ mats
        if opt.device != "numba":
            from .torch_path import pnn_plus_torch

            out, acc, used_count = pnn_plus_torch(frames, pix_to_index, shape, p, opt.device,
                                                  labels)
            if not labels:
                used = np.zeros_like(used)
                used[:used_count] = True
        elif labels:
            seg = row_segments(seq.frame_shape[0], seq.frame_shape[1], p)
            paste_frames(frames, pix_to_index, seg, out, acc, "nearest", "latest")
        else:
            used_count = _paste_plus(frames, pix_to_index, out, acc, p, path)
            used = np.zeros_like(used)
            used[:used_count] = True
        hit = acc
    else:
        maxd = (opt.max_distance_mm if opt.max_distance_mm is not None
                else float(spacing.max()))
        a = voxel_to_frame(mats, origin, spacing)
        slabs = frame_slabs(a, seq.frame_shape, maxd, origin, spacing, dims)
        seg = row_segments(seq.frame_shape[0], seq.frame_shape[1], p)
        hit = np.zeros(shape, np.uint8)
        if opt.device == "numba":
            vnn_insert(frames, a, seg, slabs, out, hit, origin, spacing, maxd)
        else:
            from .torch_path import vnn_torch

            out, hit = vnn_torch(frames, a, seg, slabs, shape, origin, spacing, maxd,
                                 opt.device, keep_on_device=True)
    if opt.device != "numba":  # the Gaussian fill on the device too, then back to numpy
        from .torch_path import finish_torch

        out, hit = finish_torch(out, hit, dtype, opt.fill == "gaussian", opt.fill_size_vox,
                                opt.fill_sigma_vox, labels)
    if not hit.any():
        raise GeometryError(f"{path}: no frame falls inside the output extent "
                            f"(origin {np.round(origin[::-1], 3).tolist()} mm, "
                            f"{dims[::-1].tolist()} voxels, z, y, x)")
    if opt.fill == "plus":
        out = fill_holes_plus(out, hit, p.hole_filling)
    elif opt.fill == "gaussian" and opt.device == "numba":
        if labels:
            out = fill_labels(out, hit, opt.fill_size_vox, opt.fill_sigma_vox)
        else:
            out = fill_gaussian(out, hit, opt.fill_size_vox, opt.fill_sigma_vox, out=out)
    vol = Volume(out, tuple(spacing[::-1]), tuple(origin[::-1]))
    return Reconstruction(vol, hit, int(used.sum()))


def _check_dtype(dtype, p: ReconParams, opt: Options, labels: bool, path: str) -> np.dtype:
    """The output type: the frames' (as PLUS), where this path reproduces its arithmetic."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return dtype
    if labels or opt.method != "pnn" or dtype not in PIXEL_TYPES:
        raise InputFileError(f"{path}: expected uint8 frames (int16, uint16, int8 or float32 "
                             f"only for pnn image sequences), found {dtype}")
    if (dtype.kind == "f" and p.optimization == "FULL" and p.interpolation == "LINEAR"
            and p.compounding_mode in ("MEAN", "IMPORTANCE_MASK")):
        # PLUS multiplies its fixed-point weight by the float pixel here; ISO C++ finds that
        # product ambiguous, so its value depends on PLUS's compiler
        raise OptionError(f"{path}: float32 frames with LINEAR interpolation and "
                          f"{p.compounding_mode} compounding need Optimization PARTIAL or NONE "
                          "(what FULL computes for them depends on the compiler PLUS was "
                          "built with)")
    if opt.fill == "gaussian":
        raise OptionError(f"{path}: gaussian hole filling takes uint8 volumes; {dtype} "
                          "frames take fill plus (PLUS's HoleFillingElements) or none")
    return dtype


def load_importance_mask(path: str, frame_shape, where: str = "configuration"):
    """The IMPORTANCE_MASK weights: a uint8 image (PNG or MHA) of the frames' size (h, w).

    Row 0 is the image's top row, as PLUS reads the PNG (its reader flips y back).
    """
    from pathlib import Path

    import SimpleITK as sitk

    f = Path(path)
    if not f.is_file():
        raise InputFileError(f"{f}: importance mask not found (named by the {where})")
    try:
        img = sitk.ReadImage(str(f))
    except RuntimeError as exc:
        raise InputFileError(f"{f}: not a readable image ({str(exc).splitlines()[-1]})") from None
    arr = sitk.GetArrayFromImage(img)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if img.GetNumberOfComponentsPerPixel() != 1 or arr.dtype != np.uint8:
        raise InputFileError(f"{f}: expected a one-channel uint8 importance mask, found "
                             f"{img.GetNumberOfComponentsPerPixel()} channel(s) of {arr.dtype}")
    if arr.shape != tuple(frame_shape):
        raise InputFileError(f"{f}: expected an importance mask of {frame_shape[1]} x "
                             f"{frame_shape[0]} pixels (the frames' size), found "
                             f"{arr.shape[-1]} x {arr.shape[0]}")
    return np.ascontiguousarray(arr)


def _clip_extent(h: int, w: int, p: ReconParams) -> tuple[int, int, int, int]:
    # IGSIO vtkIGSIOPasteSliceIntoVolumeHelperCommon.h GetClipExtent (pixel spacing 1)
    if not (p.clip_rectangle_size[0] > 0 and p.clip_rectangle_size[1] > 0):
        return 0, w - 1, 0, h - 1
    ox, oy = p.clip_rectangle_origin
    sx, sy = p.clip_rectangle_size
    x0, x1 = max(0, math.ceil(ox)), min(w - 1, math.floor(ox + sx))
    y0, y1 = max(0, math.ceil(oy)), min(h - 1, math.floor(oy + sy))
    return x0, x1, y0, y1


def _paste_plus(frames, pix_to_index, out, acc, p: ReconParams, path: str) -> int:
    """Insert frames as PLUS does for ``p``; returns how many were inserted (frames that
    the fan-angle detector finds empty are skipped, as PLUS skips them)."""
    h, w = frames.shape[1:]
    imp = None
    if p.compounding_mode == "IMPORTANCE_MASK":
        imp = load_importance_mask(p.importance_mask, (h, w))
    interp = "linear" if p.interpolation == "LINEAR" else "nearest"
    inserted = 0
    for i, seg, mask in frame_geometry(frames, p):
        paste_frames(frames[i:i + 1], pix_to_index[i:i + 1], seg, out, acc, interp,
                     p.compounding_mode.lower(), p.optimization, imp,
                     p.pixel_rejection_threshold, mask)
        inserted += 1
    return inserted


def frame_geometry(frames, p: ReconParams):
    """Yield, per frame PLUS inserts, in order: (index, row segments, the NONE level's
    pixel mask or None). Frames the fan-angle detector finds empty are left out, as PLUS
    skips them; with auto-detection each frame has its own fan."""
    h, w = frames.shape[1:]
    seg = mask = None
    for i in range(frames.shape[0]):
        q = p
        if p.fan_angles_auto_detect:
            angles = detect_fan_angles(frames[i], p)
            if angles is None:
                continue
            q = dataclasses.replace(p, fan_angles_deg=angles)
        if seg is None or p.fan_angles_auto_detect:
            seg = row_segments(h, w, q)
            mask = None
            if q.optimization == "NONE":
                fan = None
                if q.fan_angles_deg != (0.0, 0.0):
                    t = sorted(math.tan(a * 0.017453292519943295) for a in q.fan_angles_deg)
                    fan = (t[0], t[1], *q.fan_origin_pixel, q.fan_radius_start_pixel,
                           q.fan_radius_stop_pixel)
                mask = unoptimized_mask(h, w, _clip_extent(h, w, q), fan)
        yield i, seg, mask
