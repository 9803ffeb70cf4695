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
:func:`leg3dus.core.volume_io.read_volume` reads ``S01.ome.zarr`` back as the full-resolution
image.

The image, then the labels, are read and written in slabs of whole slices (a ``.mha``
is streamed from its file, see :mod:`leg3dus.dataset.slab_source`), so a full-size
subject (0.5 GB per volume) needs a few slabs in memory, not a volume.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.atomic import atomic_dir
from ..core.errors import GeometryError
from ..core.zarrio import (
    CHUNK_SLICES,
    MIN_LEVEL_BYTES,
    OME_VERSION,
    _zarr,
    multiscales,
    write_pyramid,
)

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


def _geometry_attrs(geometry) -> dict:
    return {"spacing": list(geometry.spacing), "origin": list(geometry.origin),
            "direction": np.asarray(geometry.direction).tolist(), "axis_order": "zyx"}


class SlabSource:
    """Slabs along axis 0 of ``array`` (anything sliced so: a numpy array, a
    :mod:`leg3dus.dataset.slab_source` reader), each passed through ``fn`` (default:
    unchanged) and given as ``dtype``; ``geometry`` is the grid of the whole volume."""

    def __init__(self, array, geometry, fn=None, dtype=None) -> None:
        self.array, self.geometry, self.fn = array, geometry, fn
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(dtype if dtype is not None else array.dtype)

    @classmethod
    def of(cls, volume_or_source) -> SlabSource:
        """A source from a :class:`~leg3dus.core.volume.Volume` or a slab reader."""
        if isinstance(volume_or_source, SlabSource):
            return volume_or_source
        if hasattr(volume_or_source, "array") and not hasattr(volume_or_source, "__getitem__"):
            return cls(volume_or_source.array, volume_or_source.geometry)
        return cls(volume_or_source, volume_or_source.geometry)

    def __getitem__(self, key: slice) -> np.ndarray:
        slab = np.asarray(self.array[key])
        if self.fn is not None:
            slab = self.fn(slab)
        return slab.astype(self.dtype, copy=False)


def write_image(group, source, name: str, chunk_slices: int = CHUNK_SLICES,
                min_level_bytes: int = MIN_LEVEL_BYTES) -> list[tuple[int, int, int]]:
    """Write ``source`` (a :class:`SlabSource` or a volume) as the multiscale image of
    ``group``; returns the level shapes."""
    source = SlabSource.of(source)
    g = source.geometry
    shapes = write_pyramid(group, source, "image", chunk_slices, min_level_bytes)
    group.attrs.update({
        "ome": {"version": OME_VERSION,
                "multiscales": multiscales(g.spacing, g.origin, len(shapes), name)},
        "leg3dus": _geometry_attrs(g),
    })
    return shapes


def write_labels(group, source, levels: int, classes: bool = False,
                 chunk_slices: int = CHUNK_SLICES) -> None:
    """Write ``source`` (scheme values 0/100/150/200; a :class:`SlabSource` or a volume)
    as ``labels/muscles`` of the image ``group`` with ``levels`` levels (those of the
    image). With ``classes`` the values written are 0..3, mapped slab by slab."""
    source = SlabSource.of(source)
    g = source.geometry
    container = group.create_group("labels")
    container.attrs.update({"ome": {"version": OME_VERSION, "labels": [LABELS_NAME]}})
    target = container.create_group(LABELS_NAME)
    if classes:
        inner = source
        source = SlabSource(inner, g, lambda slab: lab.to_index(slab, strict=False), np.uint8)
    elif source.dtype.kind not in "iu":
        source = SlabSource(source, g, dtype=np.uint8)
    # Stop the labels' pyramid exactly where the image's stopped.
    shapes = write_pyramid(target, source, "labels", chunk_slices,
                           _bytes_for_levels(source.shape, source.dtype.itemsize, levels))
    if len(shapes) != levels:  # pragma: no cover - _bytes_for_levels guarantees it
        raise GeometryError(f"labels pyramid has {len(shapes)} levels, image {levels}")
    target.attrs.update({"ome": {
        "version": OME_VERSION,
        "multiscales": multiscales(g.spacing, g.origin, levels, LABELS_NAME),
        "image-label": image_label(classes),
    }, "leg3dus": _geometry_attrs(g)})


def _bytes_for_levels(shape, itemsize: int, levels: int) -> int:
    """The ``min_level_bytes`` that makes :func:`~leg3dus.core.zarrio.pyramid_shapes` stop at
    exactly ``levels`` levels."""
    s = tuple(shape)
    for _ in range(levels - 1):
        s = tuple((n + 1) // 2 for n in s)
    last = int(np.prod(s)) * itemsize
    return max(last, 1)


def write_subject(path: str | os.PathLike, open_image, open_labels=None, name: str = "",
                  classes: bool = False, chunk_slices: int = CHUNK_SLICES,
                  min_level_bytes: int = MIN_LEVEL_BYTES) -> dict:
    """Write one subject as ``path`` (an ``.ome.zarr`` group), built under a temporary
    name and renamed once complete.

    ``open_image()`` returns the image and ``open_labels(image_geometry)`` its labels in
    scheme values (None for a subject without labels), as volumes or slab sources
    (:class:`SlabSource`); they are opened one after the other, so that with slab
    sources only slabs are in memory. Returns the levels' shapes as ``{"levels": [...]}``.

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
        image = SlabSource.of(open_image())
        geometry = image.geometry
        shapes = write_image(group, image, name or path.name.split(".")[0], chunk_slices,
                             min_level_bytes)
        del image
        if open_labels is not None:
            write_labels(group, open_labels(geometry), len(shapes), classes, chunk_slices)
    return {"levels": [list(s) for s in shapes]}


def scheme_label_source(path: str | os.PathLike, label_values=None, geometry=None,
                        slab_slices: int = 2 * CHUNK_SLICES) -> SlabSource:
    """The label file ``path`` as a :class:`SlabSource` of scheme values 0/100/150/200.

    Its convention comes from ``label_values`` or its label table
    (:func:`leg3dus.core.label_values.resolve`); a first pass over its slabs counts the values
    and raises :class:`~leg3dus.core.errors.LabelError` for values that do not fit
    (:func:`leg3dus.core.label_values.check_values`), and :class:`GeometryError` when it does
    not lie on ``geometry`` (the image's grid); nothing is held but a slab.
    """
    from ..core.label_values import check_values, resolve
    from .slab_source import open_slabs

    path = Path(path)
    reader = open_slabs(path)
    if geometry is not None:
        problems = reader.geometry.matches(geometry)
        if problems:
            raise GeometryError(f"{path}: labels do not lie on the image grid: "
                                + "; ".join(problems))
    convention = resolve(path, label_values)
    counts: dict = {}
    for start in range(0, reader.shape[0], slab_slices):
        for value, n in lab.value_counts(np.asarray(reader[start:start + slab_slices])).items():
            counts[value] = counts.get(value, 0) + n
    check_values(counts, convention, str(path))
    return SlabSource(reader, reader.geometry, convention.apply, np.uint8)
