"""Sliding-window inference on whole volumes with bounded memory.

The volume is cropped to its non-empty region (compounded volumes are zero outside the
sweeps) and processed in slabs along axis 0. Windows lie on one fixed grid over the
whole volume; each slab accumulates the Gaussian-weighted softmax of every window that
overlaps it, so the result does not depend on the slab size and memory holds only one
slab of class scores (``classes x slab x Y x X`` float32) at a time. A volume smaller
than the window is padded with zeros (as the training patches are) and cropped back.

A model trained at another spacing is applied at its own spacing: the image is
resampled to it (area averaging), and the class scores are interpolated back to the
input grid (linear) before the argmax, slab by slab.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.arrays import bounding_box
from ..core.errors import GeometryError, InputFileError, OptionError
from ..core.volume import Volume
from . import require_seg
from .data import as_uint8, extract
from .postprocess import largest_component_per_class  # noqa: F401 (public here too)

#: Relative spacing difference above which the image is resampled to the model's spacing.
SPACING_TOLERANCE = 0.05
SPEC_FILE = "leg3dus.json"


@dataclass
class LoadedModel:
    """A network ready to apply (eval mode) with its spec and where it came from."""

    net: object
    spec: dict
    source: str
    device: str = "cpu"


def default_device() -> str:
    """``"cuda"`` when a GPU is visible to torch, else ``"cpu"`` (also without torch)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(path: str | os.PathLike, device: str | None = None) -> LoadedModel:
    """Load an exported TorchScript file, a checkpoint (``.pt``), an ONNX file or a run
    folder.

    A run folder gives its ``model.ts`` if present, else ``best.pt``, else ``last.pt``.
    A TorchScript file needs neither MONAI nor the training code; an ONNX file
    (:mod:`.onnx_model`) needs onnxruntime and no torch.

    >>> model = load_model("runs/phantom2d")  # doctest: +SKIP
    >>> model.spec["kind"]                    # doctest: +SKIP
    '2d'
    """
    path = Path(path)
    device = device or default_device()
    if path.is_dir():
        for name in ("model.ts", "best.pt", "last.pt"):
            if (path / name).is_file():
                return load_model(path / name, device)
        raise InputFileError(f"{path}: no model.ts, best.pt or last.pt in this run folder")
    if not path.is_file():
        raise InputFileError(f"{path}: no such model file")
    if path.suffix.lower() == ".onnx":
        from .onnx_model import load_onnx

        net, spec = load_onnx(path)
        return LoadedModel(net, spec, str(path), "cpu")
    torch, _ = require_seg()
    extra = {SPEC_FILE: ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            net = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except (RuntimeError, ValueError):
        net = None
    if net is not None:
        if not extra[SPEC_FILE]:
            raise InputFileError(f"{path}: a TorchScript file without a leg3dus model "
                                 f"description ({SPEC_FILE}); export it with leg3dus train")
        spec = json.loads(extra[SPEC_FILE])
    else:
        from .models import build_model, check_spec

        ckpt = read_checkpoint(path)
        spec = check_spec(ckpt["spec"], str(path))
        net = build_model(spec)
        net.load_state_dict(ckpt["model"])
        net.to(device)
    net.eval()
    return LoadedModel(net, spec, str(path), device)


def read_checkpoint(path: Path) -> dict:
    """A leg3dus checkpoint as a dict, or :class:`InputFileError` saying what it is not."""
    torch, _ = require_seg()
    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise InputFileError(f"{path}: not a leg3dus checkpoint or TorchScript model "
                             f"({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or "spec" not in ckpt or "model" not in ckpt:
        raise InputFileError(f"{path}: not a leg3dus checkpoint (expected 'spec' and 'model')")
    return ckpt


def window_starts(n: int, size: int, overlap: float) -> list[int]:
    """Start indices of windows of ``size`` covering ``0..n`` with the given overlap.

    >>> window_starts(10, 4, 0.5)
    [0, 2, 4, 6]
    """
    if n <= size:
        return [0]
    step = max(1, int(round(size * (1.0 - overlap))))
    starts = list(range(0, n - size, step))
    return starts + [n - size] if not starts or starts[-1] != n - size else starts


def _gaussian(patch) -> np.ndarray:
    """Blending weights of a window: MONAI's Gaussian importance map (sigma 1/8 of the
    window per axis, at least 1e-3), computed with numpy (equal to MONAI's in tests)."""
    spatial = tuple(patch[1:]) if patch[0] == 1 else tuple(patch)
    w = np.ones((), np.float32)
    for n in spatial:
        x = np.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1, dtype=np.float32)
        g = np.exp(x ** 2 / np.float32(-2 * (n * 0.125) ** 2)).astype(np.float32)
        w = w[..., None] * g
    w = np.maximum(w, max(float(w.min()), 1e-3)).astype(np.float32)
    return w.reshape(patch)


def _flips(kind: str, tta: bool) -> list[tuple[int, ...]]:
    # Input dims: 2d (B, slices, y, x), 3d (B, 1, z, y, x). Depth (y) is never flipped.
    if not tta:
        return [()]
    return [(), (3,), (1,), (1, 3)] if kind == "2d" else [(), (4,), (2,), (2, 4)]


def _run(model, tiles: list[np.ndarray], tta: bool) -> np.ndarray:
    """Softmax (n, classes, z, y, x) of uint8 tiles, averaged over the TTA flips and over
    the members of an :class:`~leg3dus.segment.ensemble.Ensemble`."""
    members = getattr(model, "members", None)
    if members:
        total = _run(members[0], tiles, tta)
        for m in members[1:]:
            total += _run(m, tiles, tta)
        return total / len(members)
    kind = model.spec["kind"]
    if not hasattr(model.net, "parameters"):  # an ONNX network: numpy all the way
        return _run_numpy(model.net, kind, tiles, tta)
    import torch

    x = torch.from_numpy(np.stack(tiles)).to(model.device, torch.float32) / 255.0
    if kind == "3d":
        x = x[:, None]
    total = None
    flips = _flips(kind, tta)
    with torch.inference_mode():
        for dims in flips:
            xin = torch.flip(x, dims) if dims else x
            p = torch.softmax(model.net(xin), dim=1)
            back = tuple(d for d in dims if d != 1) if kind == "2d" else dims
            p = torch.flip(p, back) if back else p
            total = p if total is None else total + p
    out = (total / len(flips)).float().cpu().numpy()
    return out[:, :, None] if kind == "2d" else out


def _run_numpy(net, kind: str, tiles: list[np.ndarray], tta: bool) -> np.ndarray:
    """:func:`_run` for a network on numpy arrays (an ONNX session)."""
    from scipy.special import softmax

    x = np.stack(tiles).astype(np.float32) / np.float32(255.0)
    if kind == "3d":
        x = x[:, None]
    flips = _flips(kind, tta)
    total = None
    for dims in flips:
        p = softmax(net(np.flip(x, dims) if dims else x), axis=1)
        back = tuple(d for d in dims if d != 1) if kind == "2d" else dims
        p = np.flip(p, back) if back else p
        total = p if total is None else total + p
    out = (total / len(flips)).astype(np.float32)
    return out[:, :, None] if kind == "2d" else out


def sliding_window(image: np.ndarray, model: LoadedModel, *, overlap: float = 0.25,
                   batch_size: int = 8, tta: bool = False, slab: int | None = None,
                   probabilities: bool = False, z_indices=None,
                   progress=None) -> np.ndarray:
    """Classes (uint8, (z, y, x)) or class scores (float32, (K, z, y, x)) of a uint8 image.

    Parameters
    ----------
    image
        B-mode volume, uint8, (z, y, x).
    model
        From :func:`load_model`.
    overlap
        Fraction of a window shared with its neighbour (in-plane for 2d, all axes for 3d).
    slab
        Output slices processed at once along axis 0; memory grows with it, the result
        does not. Default: the whole volume.
    probabilities
        Return the blended softmax instead of the argmax. Voxels covered only by all-zero
        windows (outside the image) score as background.
    z_indices
        2d only: predict these slices only (the others are background).
    progress
        Called as ``progress("predicting", windows_done, windows_total)`` after each
        batch of windows (all-zero windows count as done).

    Examples
    --------
    >>> classes = sliding_window(vol.array, load_model("run"), slab=32)  # doctest: +SKIP
    """
    spec = model.spec
    patch, context = [int(p) for p in spec["patch"]], int(spec.get("context", 0))
    if image.ndim != 3:
        raise GeometryError(f"expected a (z, y, x) volume, found shape {image.shape}")
    nz, ny, nx = image.shape
    if spec["kind"] == "2d":
        zs = list(range(nz)) if z_indices is None else sorted(int(z) for z in z_indices)
    else:
        zs = window_starts(nz, patch[0], overlap)
    ys, xs = window_starts(ny, patch[1], overlap), window_starts(nx, patch[2], overlap)
    weight = _gaussian(patch)
    k = int(spec["classes"])
    slab = nz if not slab else max(1, int(slab))
    out = (np.zeros((k, nz, ny, nx), np.float32) if probabilities
           else np.zeros((nz, ny, nx), np.uint8))
    slabs = [(a, min(a + slab, nz)) for a in range(0, nz, slab)]
    per_slab = [sum(1 for z in zs if z < b and z + patch[0] > a) * len(ys) * len(xs)
                for a, b in slabs]
    done, total = 0, sum(per_slab)
    for a, b in slabs:
        acc = np.zeros((k, b - a, ny, nx), np.float32)
        wsum = np.zeros((b - a, ny, nx), np.float32)
        windows = [(z, y, x) for z in zs if z < b and z + patch[0] > a for y in ys for x in xs]
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
            scores = _run(model, tiles, tta)
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


def _as_single_channel(array: np.ndarray, spec: dict) -> np.ndarray:
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise GeometryError(
                f"the {spec['kind']} model takes one image channel (a B-mode volume); found "
                f"{array.shape[0]} channels in an array of shape {array.shape}")
        array = array[0]
    if array.ndim != 3:
        raise GeometryError(f"expected a 3D volume (z, y, x), found shape {array.shape}")
    return array


def predict(image: Volume | np.ndarray, model: LoadedModel, *, tta: bool = False,
            lcc: bool = False, overlap: float = 0.25, slab: int | None = 64,
            batch_size: int = 8, resample: bool = True, spacing=None,
            min_island_cm3=None, mask_outside_scan: bool = False,
            source: str = "image", progress=None) -> Volume | np.ndarray:
    """Label values 0/100/150/200 (uint8) of a B-mode volume, on the input's grid.

    Parameters
    ----------
    image
        A :class:`Volume` (its spacing is used) or an array (z, y, x) with ``spacing`` in
        mm; a 4D array must have one channel first. Values must lie in 0..255: uint8, or
        another number type in that range (floats are rounded).
    tta
        Average over flips along axes 0 and 2 (never depth, axis 1).
    lcc
        Keep only the largest connected component of each muscle.
    slab
        Slices along axis 0 processed at once (bounds memory; the result is the same).
    resample
        Apply the model at its training spacing when the image's differs by more than 5 %.
    min_island_cm3
        Remove each muscle's 26-connected components smaller than this (cm3; one number
        or a mapping by muscle name; needs the spacing), see
        :func:`leg3dus.segment.postprocess.remove_small_islands`.
    mask_outside_scan
        Set to background what lies where the image has no data (value 0 outside the
        scanned region), see :func:`leg3dus.segment.postprocess.scanned_region`.
    source
        The image's name (its file) in error messages.
    progress
        Called as ``progress("predicting", windows_done, windows_total)``.

    The clean-ups run in this order: outside the scan, largest component, small islands.

    Returns
    -------
    A :class:`Volume` with the input's geometry when given one, else an array.

    Examples
    --------
    >>> labels = predict(read_volume("x1.mha"), load_model("run"), tta=True)  # doctest: +SKIP
    """
    from . import postprocess as post
    from .resample import resample_image, upsample_argmax

    spec = model.spec
    is_volume = isinstance(image, Volume)
    array = image.array if is_volume else np.asarray(image)
    array = as_uint8(_as_single_channel(array, spec), source)
    if is_volume:
        spacing = image.spacing
    if overlap < 0 or overlap >= 1:
        raise OptionError(f"overlap must lie in [0, 1), found {overlap}")
    islands = post.per_muscle(min_island_cm3, "min_island_cm3")
    if any(islands.values()) and spacing is None:
        raise OptionError("min_island_cm3 needs the voxel spacing: give a Volume or spacing=")
    out = np.zeros(array.shape, np.uint8)
    box = bounding_box(array)
    if box is not None:
        crop = array[box]
        model_spacing = np.asarray(spec.get("spacing", [1.0] * 3), float)
        factor = np.ones(3) if spacing is None else np.asarray(spacing, float) / model_spacing
        kwargs = {"overlap": overlap, "batch_size": batch_size, "tta": tta,
                  "progress": progress}
        if resample and np.any(np.abs(factor - 1) > SPACING_TOLERANCE):
            coarse_shape = tuple(max(1, math.floor(n * f + 0.5))
                                 for n, f in zip(crop.shape, factor, strict=True))
            coarse = resample_image(crop, coarse_shape)
            scores = sliding_window(coarse, model, probabilities=True, **kwargs)
            del coarse
            classes = upsample_argmax(scores, crop.shape)
            del scores
        else:
            classes = sliding_window(crop, model, slab=slab, **kwargs)
        if mask_outside_scan:
            classes[~post.scanned_region(crop)] = lab.BACKGROUND
        if lcc:
            largest_component_per_class(classes)
        values = lab.to_value(classes)
        if any(islands.values()):
            values = post.remove_small_islands(values, spacing, islands)
        out[box] = values
    return image.with_array(out) if is_volume else out
