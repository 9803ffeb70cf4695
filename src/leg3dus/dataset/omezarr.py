"""One OME-Zarr image per subject, as viewers expect it: a pyramid, and the muscles as
its NGFF ``labels``.

``<subject>.ome.zarr`` is a Zarr v3 group in OME-Zarr 0.5 form::

    S01.ome.zarr/            image: multiscales over levels 0, 1, 2, ... (z, y, x in mm)
        0/ 1/ 2/ ...         each level halves the one before (2x2x2 block mean), down to
                             a level of at most a few MB; chunks of whole transverse slices
        labels/              {"labels": ["muscles"]}
            muscles/         image-label: colours and properties (names) of SOL, GM, GL;
                0/ 1/ ...    the same levels, halved by 2x2x2 block mode

Level ``n`` has the spacing times 2**n and its origin at the centre of the first
2**n-voxel block, in image and labels alike, so both overlay at every level. The image
group also keeps leg3dus's exact geometry (direction included), so
:func:`leg3dus.volume.read_volume` reads ``S01.ome.zarr`` back as the full-resolution
image.

The image is written and released before the labels are read, each in slabs of whole
slices, so a full-size subject (0.5 GB per volume) needs about one volume in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import labels as lab
from ..atomic import atomic_dir
from ..errors import GeometryError
from ..zarrio import CHUNK_SLICES, MIN_LEVEL_BYTES, OME_VERSION, _zarr, multiscales, write_pyramid

#: Name of the label image under ``labels/``.
LABELS_NAME = "muscles"


def image_label(classes: bool = False) -> dict:
    """The NGFF ``image-label`` attribute: a colour and properties per muscle value.

    >>> image_label()["colors"][0]
    {'label-value': 100, 'rgba': [230, 159, 0, 255]}
    >>> image_label(classes=True)["properties"][2]["name"]
    'GL'
    """
    def value(m):
        return m.index if classes else m.value

    return {
        "version": OME_VERSION,
        "colors": [{"label-value": value(m), "rgba": [*m.color, 255]} for m in lab.MUSCLES],
        "properties": [{"label-value": value(m), "name": m.name, "long-name": m.long_name,
                        "scheme-value": m.value, "class": m.index} for m in lab.MUSCLES],
        "source": {"image": "../../"},
    }


def _geometry_attrs(volume) -> dict:
    return {"spacing": list(volume.spacing), "origin": list(volume.origin),
            "direction": np.asarray(volume.direction).tolist(), "axis_order": "zyx"}


def write_image(group, volume, name: str, chunk_slices: int = CHUNK_SLICES,
                min_level_bytes: int = MIN_LEVEL_BYTES) -> list[tuple[int, int, int]]:
    """Write ``volume`` as the multiscale image of ``group``; returns the level shapes."""
    shapes = write_pyramid(group, volume.array, "image", chunk_slices, min_level_bytes)
    group.attrs.update({
        "ome": {"version": OME_VERSION,
                "multiscales": multiscales(volume.spacing, volume.origin, len(shapes), name)},
        "leg3dus": _geometry_attrs(volume),
    })
    return shapes


class _Classes:
    """Scheme values 0/100/150/200 read as classes 0..3, slab by slab (no full copy)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array, self.shape, self.dtype = array, array.shape, np.dtype(np.uint8)

    def __getitem__(self, key) -> np.ndarray:
        return lab.to_index(np.asarray(self.array[key]), strict=False)


def write_labels(group, labels, levels: int, classes: bool = False,
                 chunk_slices: int = CHUNK_SLICES) -> None:
    """Write ``labels`` (scheme values 0/100/150/200) as ``labels/muscles`` of the image
    ``group`` with ``levels`` levels (those of the image). With ``classes`` the values
    written are 0..3, mapped slab by slab."""
    container = group.create_group("labels")
    container.attrs.update({"ome": {"version": OME_VERSION, "labels": [LABELS_NAME]}})
    target = container.create_group(LABELS_NAME)
    array = labels.array
    if array.dtype.kind not in "iu":
        array = array.astype(np.uint8)
    if classes:
        array = _Classes(array)
    # Stop the labels' pyramid exactly where the image's stopped.
    shapes = write_pyramid(target, array, "labels", chunk_slices,
                           _bytes_for_levels(array.shape, array.dtype.itemsize, levels))
    if len(shapes) != levels:  # pragma: no cover - _bytes_for_levels guarantees it
        raise GeometryError(f"labels pyramid has {len(shapes)} levels, image {levels}")
    target.attrs.update({"ome": {
        "version": OME_VERSION,
        "multiscales": multiscales(labels.spacing, labels.origin, levels, LABELS_NAME),
        "image-label": image_label(classes),
    }, "leg3dus": _geometry_attrs(labels)})


def _bytes_for_levels(shape, itemsize: int, levels: int) -> int:
    """The ``min_level_bytes`` that makes :func:`~leg3dus.zarrio.pyramid_shapes` stop at
    exactly ``levels`` levels."""
    s = tuple(shape)
    for _ in range(levels - 1):
        s = tuple((n + 1) // 2 for n in s)
    last = int(np.prod(s)) * itemsize
    return max(last, 1)


def write_subject(path: str | os.PathLike, read_image, read_labels=None, name: str = "",
                  classes: bool = False, chunk_slices: int = CHUNK_SLICES,
                  min_level_bytes: int = MIN_LEVEL_BYTES) -> dict:
    """Write one subject as ``path`` (an ``.ome.zarr`` group), built under a temporary
    name and renamed once complete.

    ``read_image()`` and ``read_labels(image_geometry)`` return the volumes; they are
    called one after the other so that only one full volume is in memory at a time
    (``read_labels`` may be None for a subject without labels). Returns the levels'
    shapes as ``{"levels": [...]}``.

    Examples
    --------
    >>> from leg3dus import Volume
    >>> vol = Volume(np.zeros((4, 6, 6), np.uint8))
    >>> write_subject("S01.ome.zarr", lambda: vol, name="S01")  # doctest: +SKIP
    {'levels': [[4, 6, 6]]}
    """
    zarr = _zarr()
    path = Path(path)
    with atomic_dir(path) as tmp:
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        image = read_image()
        geometry = image.geometry
        shapes = write_image(group, image, name or path.name.split(".")[0], chunk_slices,
                             min_level_bytes)
        del image
        if read_labels is not None:
            labels = read_labels(geometry)
            write_labels(group, labels, len(shapes), classes, chunk_slices)
            del labels
    return {"levels": [list(s) for s in shapes]}
