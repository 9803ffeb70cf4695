"""Clean-up of predicted label volumes: small islands and labels outside the scan.

A network predicts every voxel it sees, so a prediction can hold scattered islands of a
muscle far from the muscle itself, or labels where the ultrasound has no data (voxels
of value 0 outside the compounded region, where the phantom and compounded volumes are
zero). These functions remove both; they work on label values (0/100/150/200, the
dataset's scheme), arrays in (z, y, x) order, and return new arrays.
:func:`largest_component_per_class` (on classes 0..3) keeps only each muscle's largest
component, the strongest rule.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..core import labels as lab
from ..core.arrays import bounding_box
from ..core.errors import OptionError


def per_muscle(value: float | Mapping[str, float] | None, option: str = "value"
               ) -> dict[str, float]:
    """A value per muscle name from one number (all muscles) or a mapping by name or
    label value; muscles not named get 0. Negative values raise :class:`OptionError`.

    >>> per_muscle(0.5)
    {'SOL': 0.5, 'GM': 0.5, 'GL': 0.5}
    >>> per_muscle({"GL": 0.2, 100: 1})
    {'SOL': 1.0, 'GM': 0.0, 'GL': 0.2}
    """
    if value is None:
        out = {m.name: 0.0 for m in lab.MUSCLES}
    elif isinstance(value, Mapping):
        out = {m.name: 0.0 for m in lab.MUSCLES}
        for key, v in value.items():
            try:
                out[lab.muscle(key).name] = float(v)
            except lab.LabelError as exc:
                raise OptionError(f"{option}: {exc}") from None
    else:
        out = {m.name: float(value) for m in lab.MUSCLES}
    bad = {k: v for k, v in out.items() if not v >= 0}
    if bad:
        raise OptionError(f"{option}: expected sizes of 0 or more, found {bad}")
    return out


def parse_per_muscle(text: str, option: str) -> dict[str, float]:
    """``"0.5"`` (every muscle) or ``"SOL=1,GM=0.5,GL=0.2"`` as a value per muscle.

    >>> parse_per_muscle("SOL=1,GL=0.25", "--min-island-cm3")
    {'SOL': 1.0, 'GM': 0.0, 'GL': 0.25}
    """
    text = str(text).strip()
    try:
        if "=" not in text:
            return per_muscle(float(text), option)
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        return per_muscle({int(k) if k.strip().isdigit() else k.strip(): float(v)
                           for k, v in pairs}, option)
    except ValueError:
        raise OptionError(f"{option}: expected a number or NAME=NUMBER pairs (e.g. 0.5 or "
                          f"SOL=1,GM=0.5,GL=0.2), found {text!r}") from None


def largest_component_per_class(classes: np.ndarray) -> np.ndarray:
    """Keep, for each muscle, only its largest 26-connected component (in place; returned).

    >>> c = np.zeros((1, 1, 5), np.uint8); c[0, 0, [0, 2, 3]] = 1
    >>> largest_component_per_class(c)[0, 0].tolist()
    [0, 0, 1, 1, 0]
    """
    import cc3d


    for m in lab.MUSCLES:
        box = bounding_box(classes == m.index) if classes.size else None
        if box is None:
            continue
        sub = classes[box]
        mask = sub == m.index
        keep = cc3d.largest_k(mask, k=1, connectivity=26) > 0
        sub[mask & ~keep] = lab.BACKGROUND
    return classes


def remove_small_islands(labels: np.ndarray, spacing_mm, min_cm3) -> np.ndarray:
    """``labels`` without the 26-connected components of a muscle smaller than its
    ``min_cm3`` (one number, or a mapping by muscle name or value; 0 keeps all).

    Removed voxels become background. A muscle made only of small islands disappears.

    Parameters
    ----------
    labels
        Label values 0/100/150/200, (z, y, x).
    spacing_mm
        Voxel size (z, y, x) in mm.
    min_cm3
        Smallest component kept, in cm3 (1 cm3 = 1000 mm3).

    Examples
    --------
    >>> a = np.zeros((1, 1, 9), np.uint8); a[0, 0, :4] = 100; a[0, 0, 6] = 100
    >>> remove_small_islands(a, (10.0, 10.0, 10.0), 2.0)[0, 0].tolist()  # 1 cm3 voxels
    [100, 100, 100, 100, 0, 0, 0, 0, 0]
    """
    import cc3d


    sizes = per_muscle(min_cm3, "min_cm3")
    voxel_cm3 = float(np.prod(np.asarray(spacing_mm, float))) / 1000.0
    out = np.array(labels, copy=True)
    for m in lab.MUSCLES:
        if sizes[m.name] <= 0:
            continue
        box = bounding_box(out == m.value)
        if box is None:
            continue
        sub = out[box]
        components = cc3d.connected_components(sub == m.value, connectivity=26)
        counts = np.bincount(components.ravel())
        small = np.flatnonzero(counts * voxel_cm3 < sizes[m.name])
        small = small[small > 0]
        if small.size:
            sub[np.isin(components, small)] = lab.BACKGROUND
    return out


def scanned_region(image: np.ndarray) -> np.ndarray:
    """Where the image has data: non-zero voxels, with zeros enclosed by them in their
    transverse slice (axis 0) counted as scanned (dark speckle, not a gap in the scan).

    >>> im = np.ones((1, 5, 5), np.uint8); im[0, 2, 2] = 0; im[0, :, 4] = 0
    >>> scanned_region(im)[0].sum(axis=0).tolist()
    [5, 5, 5, 5, 0]
    """
    from scipy import ndimage as ndi

    inside = np.asarray(image) != 0
    for z in range(inside.shape[0]):
        if inside[z].any():
            inside[z] = ndi.binary_fill_holes(inside[z])
    return inside


def mask_outside_scan(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``labels`` set to background where ``image`` has no data (:func:`scanned_region`);
    both (z, y, x) on the same grid.

    >>> im = np.zeros((1, 1, 4), np.uint8); im[0, 0, :2] = 90
    >>> mask_outside_scan(np.full((1, 1, 4), 150, np.uint8), im)[0, 0].tolist()
    [150, 150, 0, 0]
    """
    if np.shape(labels) != np.shape(image):
        raise OptionError(f"labels of shape {np.shape(labels)} and an image of shape "
                          f"{np.shape(image)}: expected the same grid")
    out = np.array(labels, copy=True)
    out[~scanned_region(image)] = lab.BACKGROUND
    return out
