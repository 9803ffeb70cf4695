"""Grad-CAM border activation analysis of a segmentation network, after Duque et al.
(IPCAI 2024): the mean Grad-CAM activation of the background class on the distinct and
on the completed border of each muscle.

Grad-CAM is MONAI's :class:`monai.visualize.GradCAM`. The class score is the sum of the
background logits over the input (MONAI's rule for a segmentation output), the map is
taken at ``target_layer``, upsampled to the input and scaled to 0..1 per input (per
slice for a 2d network, per volume for a 3d network). A 2d network sees each slice
that holds a border voxel with its ``context`` neighbours on each side as channels (the
end slices repeat), as in leg3dus's training; a 3d network sees the box of all border
voxels with a margin. Inputs are the uint8 image / 255, padded with zeros to a multiple
of the network's down-sampling factor.

The network is a ``torch.nn.Module`` (e.g. ``load_model(run).net`` of
:mod:`leg3dus.segment.infer`); the image must lie on the grid the network expects (its
training spacing).

Examples
--------
>>> act = border_activation(load_model("run").net, image, borders,  # doctest: +SKIP
...                         kind="2d", context=2, factor=16)
>>> act["GM"]["distinct_activation"]                                   # doctest: +SKIP
0.41
"""

from __future__ import annotations

import math

import numpy as np

from ..core.arrays import bounding_box
from ..core.errors import GeometryError, OptionError
from ..core.labels import MUSCLES
from .border_protocol import PARTS, check_borders

STRUCTURES = tuple(m.name for m in MUSCLES) + ("union",)
#: Keys per structure.
KEYS = ("distinct_activation", "completed_activation", "distinct_voxels",
        "completed_voxels")


def default_layer(net, kind: str) -> str:
    """The layer Grad-CAM reads by default: for leg3dus's 2d network (MONAI ``UNet``)
    ``model.1``, the output of the skip connection at the first level (encoder and
    decoder features together, before the last up-sampling); for the 3d network
    (MONAI ``DynUNet``) its last up-sampling block."""
    names = {n for n, _ in net.named_modules()}
    if kind == "2d" and "model.1" in names:
        return "model.1"
    ups = sorted((n for n in names if n.startswith("upsamples.") and n.count(".") == 1),
                 key=lambda n: int(n.split(".")[1]))
    if kind == "3d" and ups:
        return ups[-1]
    raise OptionError(f"no default Grad-CAM layer for this {kind} network; name one "
                      "(target_layer / --gradcam-layer)")


def _pad_to(x, factor: int):
    import torch.nn.functional as F

    spatial = x.shape[2:]
    pads = []
    for n in reversed(spatial):
        pads += [0, (-n) % factor]
    return F.pad(x, pads), spatial


def _cams_2d(cam, image, zs, context, factor, device, batch):
    import torch

    out = {}
    nz = image.shape[0]
    for i in range(0, len(zs), batch):
        chunk = zs[i:i + batch]
        stack = []
        for z in chunk:
            idx = np.clip(np.arange(z - context, z + context + 1), 0, nz - 1)
            stack.append(image[idx])
        x = torch.from_numpy(np.stack(stack)).to(device, torch.float32) / 255.0
        x, (h, w) = _pad_to(x, factor)
        maps = cam(x, class_idx=0)[:, 0, :h, :w].detach().cpu().numpy()
        out.update(zip(chunk, maps, strict=True))
    return out


def border_activation(net, image: np.ndarray, borders: dict, *, kind: str = "2d",
                      context: int = 2, factor: int = 16, target_layer: str | None = None,
                      class_index: int = 0, device: str = "cpu", batch: int = 8,
                      margin_vox: int = 8) -> dict[str, dict[str, float]]:
    """Mean Grad-CAM activation of class ``class_index`` (0, background) on the
    distinct and completed border voxels of each muscle and of their union.

    Parameters
    ----------
    net
        The network (``torch.nn.Module``), mapping (B, C, ...) to (B, classes, ...).
    image
        uint8 ultrasound (z, y, x) on the network's grid.
    borders
        ``{"distinct": D, "completed": C}`` border label volumes on the image's grid,
        coded as for :func:`leg3dus.metrics.evaluate` (all muscles, one value, or
        ``{muscle: volume}``).
    kind, context, factor
        2d (slices with ``context`` neighbours as channels) or 3d (one channel); sizes
        are padded to multiples of ``factor``.
    target_layer
        Name of the module Grad-CAM reads (default: :func:`default_layer`).

    Returns
    -------
    dict
        Per structure, :data:`KEYS`: the two mean activations (0..1; NaN without border
        voxels) and the voxel counts they are taken over.
    """
    import torch
    from monai.visualize import GradCAM

    image = np.asarray(image)
    if image.ndim != 3 or image.dtype != np.uint8:
        raise GeometryError(f"expected a uint8 (z, y, x) image, found {image.dtype} "
                            f"{image.shape}")
    if kind not in ("2d", "3d"):
        raise OptionError(f"unknown network kind {kind!r}; expected 2d or 3d")
    if class_index != 0:
        raise OptionError("the border activation analysis reads the background class (0)")
    tables = check_borders(borders, image.shape, STRUCTURES)
    masks = {part: {name: tab[arr] for name, (arr, tab) in parts.items()}
             for part, parts in tables.items()}
    anything = np.zeros(image.shape, bool)
    for parts in masks.values():
        for m in parts.values():
            anything |= m
    result = {name: {"distinct_activation": math.nan, "completed_activation": math.nan,
                     "distinct_voxels": 0, "completed_voxels": 0} for name in STRUCTURES}
    if not anything.any():
        return result
    layer = target_layer or default_layer(net, kind)
    if layer not in {n for n, _ in net.named_modules()}:
        raise OptionError(f"the network has no layer {layer!r}")
    net = net.to(device).eval()
    cam = GradCAM(nn_module=net, target_layers=layer)
    activation = np.full(image.shape, np.nan, np.float32)
    with torch.enable_grad():
        if kind == "2d":
            zs = [int(z) for z in np.flatnonzero(anything.any(axis=(1, 2)))]
            for z, m in _cams_2d(cam, image, zs, context, factor, device, batch).items():
                activation[z] = m
        else:
            box = bounding_box(anything, margin_vox=margin_vox)
            x = torch.from_numpy(image[box][None, None].copy()).to(device, torch.float32)
            x, spatial = _pad_to(x / 255.0, factor)
            m = cam(x, class_idx=0)[0, 0].detach().cpu().numpy()
            activation[box] = m[tuple(slice(0, n) for n in spatial)]
    for part in PARTS:
        for name, m in masks.get(part, {}).items():
            values = activation[m]
            result[name][f"{part}_voxels"] = int(m.sum())
            result[name][f"{part}_activation"] = float(values.mean()) if values.size \
                else math.nan
    return result
