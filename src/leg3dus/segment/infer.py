"""Sliding-window inference on whole volumes with bounded memory.

The volume is cropped to its non-empty region (compounded volumes are zero outside the
sweeps) and processed in slabs along axis 0. Windows lie on one fixed grid over the
whole volume (:mod:`.window`); each slab accumulates the Gaussian-weighted softmax of
every window that overlaps it, so the result does not depend on the slab size and memory
holds only one slab of class scores (``classes x slab x Y x X`` float32) at a time. A
volume smaller than the window is padded with zeros (as the training patches are) and
cropped back.

A torch network runs with the slab, its windows, the scores and the argmax on the
network's device, a GPU or the CPU (:mod:`.window_device`), and only uint8 labels come
back; an ONNX network runs window by window on the host (:mod:`.window_host`).

A model trained at another spacing is applied at its own spacing: the image is
resampled to it (area averaging), and the class scores are interpolated back to the
input grid (linear) before the argmax, slab by slab, on the same device.
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
from .data import as_uint8
from .postprocess import largest_component_per_class  # noqa: F401 (public here too)
from .window import window_starts  # noqa: F401 (public here too)

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


def check_device(device: str) -> str:
    """``device`` when torch can use it; :class:`OptionError` for a device it cannot
    (``cuda`` without a visible GPU, a misspelt name).

    >>> check_device("cpu")
    'cpu'
    """
    device = str(device)
    if device == "cpu":
        return device
    torch, _ = require_seg()
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise OptionError(f"device must be cpu or cuda (cuda:N), found {device!r}") from None
    if dev.type != "cuda":
        raise OptionError(f"device must be cpu or cuda (cuda:N), found {device!r}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if (dev.index or 0) >= count:
        raise OptionError(f"device {device}: torch sees {count} CUDA device(s); use "
                          "--device cpu")
    return device


def load_model(path: str | os.PathLike, device: str | None = None,
               threads: int | None = None) -> LoadedModel:
    """Load an exported TorchScript file, a checkpoint (``.pt``), an ONNX file or a run
    folder.

    A run folder gives its ``model.ts`` if present, else ``best.pt``, else ``last.pt``.
    A TorchScript file needs neither MONAI nor the training code; an ONNX file
    (:mod:`.onnx_model`) needs onnxruntime and no torch; ``threads`` sets its threads.

    >>> model = load_model("runs/phantom2d")  # doctest: +SKIP
    >>> model.spec["kind"]                    # doctest: +SKIP
    '2d'
    """
    path = Path(path)
    device = device or default_device()
    if path.is_dir():
        for name in ("model.ts", "best.pt", "last.pt"):
            if (path / name).is_file():
                return load_model(path / name, device, threads)
        raise InputFileError(f"{path}: no model.ts, best.pt or last.pt in this run folder")
    if not path.is_file():
        raise InputFileError(f"{path}: no such model file")
    if path.suffix.lower() == ".onnx":
        from .onnx_model import load_onnx

        net, spec = load_onnx(path, threads)
        return LoadedModel(net, spec, str(path), "cpu")
    torch, _ = require_seg()
    device = check_device(device)
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


def _on_device(model) -> bool:
    """Whether every network of ``model`` is a torch module (else: the host path)."""
    return all(hasattr(m.net, "parameters") for m in getattr(model, "members", None) or [model])


def sliding_window(image, model: LoadedModel, *, overlap: float = 0.25,
                   batch_size: int | None = None, tta: bool = False,
                   slab: int | None = None, probabilities: bool = False, z_indices=None,
                   progress=None, autocast: bool | None = None):
    """Classes (uint8, (z, y, x)) or class scores (float32, (K, z, y, x)) of a uint8 image.

    A torch network runs with the data on its device (:mod:`.window_device`); an ONNX
    network window by window on the host (:mod:`.window_host`). Both give the same
    labels on the CPU.

    Parameters
    ----------
    image
        B-mode volume, uint8, (z, y, x); a uint8 torch tensor gives a tensor back (torch
        networks only).
    model
        From :func:`load_model` (or an ensemble).
    overlap
        Fraction of a window shared with its neighbour (in-plane for 2d, all axes for 3d).
    batch_size
        Windows per network call; default 8 on the CPU, about 4 M input voxels on a GPU.
    slab
        Output slices processed at once along axis 0; memory grows with it, the result
        does not. Default: the whole volume.
    probabilities
        Return the blended softmax instead of the argmax. Voxels covered only by all-zero
        windows (outside the image) score as background.
    z_indices
        2d only: predict these slices only (the others are background).
    progress
        Called as ``progress("predicting", windows_done, windows_total)`` before each
        batch of windows (all-zero windows count as done).
    autocast
        Run a torch network in reduced precision (bfloat16, or float16 on a GPU without
        it); default: on CUDA yes, on the CPU no (float32, results as the host path's).

    Examples
    --------
    >>> classes = sliding_window(vol.array, load_model("run"), slab=32)  # doctest: +SKIP
    """
    if image.ndim != 3:
        raise GeometryError(f"expected a (z, y, x) volume, found shape {tuple(image.shape)}")
    if batch_size is not None and int(batch_size) < 1:
        raise OptionError(f"batch size must be at least 1, found {batch_size}")
    kwargs = {"overlap": overlap, "tta": tta, "slab": slab, "probabilities": probabilities,
              "z_indices": z_indices, "progress": progress}
    if _on_device(model):
        from .window_device import sliding_window_device

        return sliding_window_device(image, model, batch_size=batch_size,
                                     autocast=autocast, **kwargs)
    from .window_host import sliding_window_host

    return sliding_window_host(np.asarray(image), model, batch_size=batch_size or 8,
                               **kwargs)


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
            batch_size: int | None = None, resample: bool = True, spacing=None,
            min_island_cm3=None, mask_outside_scan: bool = False,
            source: str = "image", progress=None,
            autocast: bool | None = None) -> Volume | np.ndarray:
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
    batch_size, autocast
        As in :func:`sliding_window` (the network runs on ``model.device``).
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
                  "progress": progress, "autocast": autocast}
        if resample and np.any(np.abs(factor - 1) > SPACING_TOLERANCE):
            coarse_shape = tuple(max(1, math.floor(n * f + 0.5))
                                 for n, f in zip(crop.shape, factor, strict=True))
            # A torch network keeps the coarse image and its scores on its device.
            device = model.device if _on_device(model) else None
            coarse = resample_image(crop, coarse_shape, device=device)
            scores = sliding_window(coarse, model, probabilities=True, slab=slab, **kwargs)
            del coarse
            classes = upsample_argmax(scores, crop.shape,
                                      slab=16 if str(device or "cpu") == "cpu" else 64)
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
