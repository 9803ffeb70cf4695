"""Volumes as Zarr v3 groups in OME-Zarr 0.5 form, chunked along the leg (axis 0).

A volume ``name.zarr`` is a Zarr v3 group holding one array ``0`` of shape (z, y, x),
chunked in slabs of whole transverse slices, so that a worker reads only the slabs it
needs. The group's attributes carry

- ``ome``: OME-Zarr 0.5 ``multiscales`` metadata (axes z, y, x in millimetre, a
  ``scale`` of the spacing and a ``translation`` of the origin), which viewers such as
  napari or neuroglancer read;
- ``leg3dus``: the exact geometry (spacing, origin, direction, all in (z, y, x) order).
  OME-Zarr 0.5 has no rotation, so the direction lives only here; a viewer shows an
  oblique volume axis-aligned.

Needs the ``scale`` extra (``zarr>=3``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .atomic import atomic_dir
from .errors import InputFileError, OptionError
from .volume import Geometry, Header, Volume

#: Slices per chunk along axis 0 (a full-size uint8 slab of 32 slices is ~11 MB).
CHUNK_SLICES = 32
ARRAY_PATH = "0"
OME_VERSION = "0.5"


def _zarr():
    try:
        import zarr
    except ImportError:
        raise OptionError("Zarr volumes need the 'scale' extra: "
                          "pip install 'leg3dus[scale]'") from None
    return zarr


def ome_attributes(volume_or_geometry, name: str = "") -> dict:
    """The ``ome`` group attribute (OME-Zarr 0.5 multiscales) of a volume's grid."""
    g = volume_or_geometry
    transforms = [{"type": "scale", "scale": [float(s) for s in g.spacing]},
                  {"type": "translation", "translation": [float(o) for o in g.origin]}]
    axes = [{"name": a, "type": "space", "unit": "millimeter"} for a in ("z", "y", "x")]
    return {"version": OME_VERSION,
            "multiscales": [{"name": name, "axes": axes,
                             "datasets": [{"path": ARRAY_PATH,
                                           "coordinateTransformations": transforms}]}]}


def write_zarr(volume, path: str | os.PathLike, chunk_slices: int = CHUNK_SLICES,
               name: str | None = None) -> Path:
    """Write ``volume`` as a Zarr v3 OME-Zarr group, chunked along axis 0.

    The group appears only once complete (built under a temporary name, then renamed).

    Examples
    --------
    >>> from leg3dus import Volume
    >>> vol = Volume(np.zeros((4, 5, 6), np.uint8), spacing=(0.3, 0.3, 0.3))
    >>> write_zarr(vol, "vol.zarr")  # doctest: +SKIP
    PosixPath('vol.zarr')
    """
    zarr = _zarr()
    path = Path(path)
    if chunk_slices < 1:
        raise OptionError(f"chunk_slices must be at least 1, found {chunk_slices}")
    z, y, x = volume.shape
    with atomic_dir(path) as tmp:
        group = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        array = group.create_array(ARRAY_PATH, shape=volume.shape, dtype=volume.dtype,
                                   chunks=(min(chunk_slices, max(z, 1)), y, x),
                                   dimension_names=("z", "y", "x"), fill_value=0)
        for start in range(0, z, chunk_slices):
            array[start:start + chunk_slices] = volume.array[start:start + chunk_slices]
        group.attrs.update({
            "ome": ome_attributes(volume, name if name is not None else path.stem),
            "leg3dus": {"spacing": list(volume.spacing), "origin": list(volume.origin),
                        "direction": np.asarray(volume.direction).tolist(),
                        "axis_order": "zyx"},
        })
    return path


def _open(path: Path):
    zarr = _zarr()
    try:
        group = zarr.open_group(store=str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises several kinds for a bad store
        raise InputFileError(f"{path}: not a readable Zarr group: {exc}") from None
    attrs = dict(group.attrs)
    array_path = ARRAY_PATH
    ome = attrs.get("ome") or {}
    multiscales = ome.get("multiscales") or attrs.get("multiscales") or []
    if multiscales:
        array_path = multiscales[0]["datasets"][0]["path"]
    try:
        array = group[array_path]
    except KeyError:
        raise InputFileError(f"{path}: expected a Zarr array {array_path!r} in the group, "
                             "found none") from None
    if array.ndim != 3:
        raise InputFileError(f"{path}: expected a 3D array, found {array.ndim}D")
    return array, _geometry_attrs(attrs, multiscales, path)


def _geometry_attrs(attrs: dict, multiscales: list, path: Path):
    own = attrs.get("leg3dus")
    if own:
        return own["spacing"], own["origin"], own["direction"]
    spacing, origin = [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]
    if not multiscales:
        raise InputFileError(f"{path}: expected OME-Zarr 'multiscales' or 'leg3dus' "
                             "geometry attributes, found neither")
    for t in multiscales[0]["datasets"][0].get("coordinateTransformations", []):
        if t.get("type") == "scale":
            spacing = t["scale"][-3:]
        elif t.get("type") == "translation":
            origin = t["translation"][-3:]
    return spacing, origin, np.eye(3).tolist()


def read_zarr_header(path: str | os.PathLike):
    """The :class:`leg3dus.core.volume.Header` of a Zarr volume, without reading voxels."""

    path = Path(path)
    array, (spacing, origin, direction) = _open(path)
    geometry = Geometry(tuple(int(n) for n in array.shape), tuple(map(float, spacing)),
                        tuple(map(float, origin)), np.asarray(direction, dtype=np.float64))
    return Header(path, geometry, np.dtype(array.dtype))


def read_zarr(path: str | os.PathLike, slices: slice | None = None):
    """Read a Zarr volume: all of it, or the transverse slices ``slices`` along axis 0.

    A slab keeps its place in space: its origin moves to its first slice.

    Examples
    --------
    >>> slab = read_zarr("x1.zarr", slices=slice(100, 132))  # doctest: +SKIP
    """

    path = Path(path)
    array, (spacing, origin, direction) = _open(path)
    start, step = 0, 1
    if slices is not None:
        start, _, step = slices.indices(array.shape[0])
        if step != 1:
            raise OptionError(f"{path}: read contiguous slices (step 1), found step {step}")
    try:
        data = np.asarray(array[slices if slices is not None else slice(None)])
    except Exception as exc:  # noqa: BLE001 - a damaged chunk
        raise InputFileError(f"{path}: cannot read the voxels: {exc}") from None
    if start:
        grid = Geometry(tuple(array.shape), tuple(spacing), tuple(origin),
                        np.asarray(direction))
        origin = tuple(grid.index_to_physical(np.array([start, 0, 0], dtype=np.float64)))
    return Volume(data, spacing, origin, direction)


# --- Multiscale pyramids ----------------------------------------------------------------

#: A pyramid stops at the first level holding at most this many bytes.
MIN_LEVEL_BYTES = 4 * 2**20


def pyramid_shapes(shape: tuple[int, int, int], itemsize: int,
                   min_level_bytes: int = MIN_LEVEL_BYTES) -> list[tuple[int, int, int]]:
    """Shapes (z, y, x) of the levels of a pyramid: each halves the one before (rounded
    up), down to the first level of at most ``min_level_bytes``.

    >>> pyramid_shapes((1443, 632, 564), 1)
    [(1443, 632, 564), (722, 316, 282), (361, 158, 141), (181, 79, 71)]
    """
    shapes = [tuple(int(n) for n in shape)]
    while (int(np.prod(shapes[-1])) * itemsize > min_level_bytes
           and max(shapes[-1]) > 1):
        shapes.append(tuple((n + 1) // 2 for n in shapes[-1]))
    return shapes


def level_transforms(spacing, origin, level: int) -> list[dict]:
    """OME-Zarr ``coordinateTransformations`` of pyramid level ``level``: the spacing times
    2**level, and the origin moved to the centre of the first 2**level-voxel block.

    >>> level_transforms((0.5, 0.5, 0.5), (0.0, 0.0, 10.0), 1)[1]["translation"]
    [0.25, 0.25, 10.25]
    """
    factor = 2 ** level
    return [{"type": "scale", "scale": [float(s) * factor for s in spacing]},
            {"type": "translation",
             "translation": [float(o) + (factor - 1) / 2 * float(s)
                             for o, s in zip(origin, spacing, strict=True)]}]


def _blocks(slab: np.ndarray) -> np.ndarray:
    """``slab`` padded to even sizes (edge voxels repeated) as (z/2, 2, y/2, 2, x/2, 2)."""
    pad = [(0, n % 2) for n in slab.shape]
    if any(p for _, p in pad):
        slab = np.pad(slab, pad, mode="edge")
    z, y, x = slab.shape
    return slab.reshape(z // 2, 2, y // 2, 2, x // 2, 2)


def halve_mean(slab: np.ndarray) -> np.ndarray:
    """Each 2x2x2 block of ``slab`` by its mean (rounded for integer types; the last
    voxel of an odd axis is repeated).

    >>> halve_mean(np.arange(8, dtype=np.uint8).reshape(2, 2, 2)).tolist()
    [[[4]]]
    """
    mean = _blocks(slab).mean(axis=(1, 3, 5), dtype=np.float32)
    if slab.dtype.kind in "iu":
        return np.rint(mean).astype(slab.dtype)
    return mean.astype(slab.dtype, copy=False)


def halve_mode(slab: np.ndarray) -> np.ndarray:
    """Each 2x2x2 block of a label ``slab`` by its most frequent value; a tie goes to the
    non-zero value (a muscle over background), then to the smaller one.

    >>> halve_mode(np.array([0, 0, 0, 0, 5, 5, 5, 5], np.uint8).reshape(2, 2, 2)).tolist()
    [[[5]]]
    """
    from .labels import value_counts

    blocks = _blocks(slab)
    values = sorted(value_counts(slab), key=lambda v: (v == 0, v))
    best = np.zeros(blocks.shape[::2], slab.dtype)
    best_count = np.zeros(blocks.shape[::2], np.uint8)
    for v in values:
        count = (blocks == v).sum(axis=(1, 3, 5), dtype=np.uint8)
        better = count > best_count
        best[better] = v
        best_count[better] = count[better]
    return best


def write_pyramid(group, source, kind: str = "image", chunk_slices: int = CHUNK_SLICES,
                  min_level_bytes: int = MIN_LEVEL_BYTES) -> list[tuple[int, int, int]]:
    """Write ``source`` and its halved levels as arrays ``0``, ``1``, ... of ``group``.

    ``source`` is anything sliced along axis 0 into numpy arrays (a numpy array, a Zarr
    array); it is read ``2 * chunk_slices`` slices at a time, and each level is made from
    the one before in slabs of the same size, so memory holds a few slabs besides the
    source. ``kind`` is ``"image"`` (block mean) or ``"labels"`` (block mode). Every level
    is chunked in whole transverse slices (``chunk_slices`` of them). Returns the shapes.
    """
    if kind not in ("image", "labels"):
        raise OptionError(f"pyramid kind must be 'image' or 'labels', found {kind!r}")
    if chunk_slices < 1:
        raise OptionError(f"chunk_slices must be at least 1, found {chunk_slices}")
    halve = halve_mean if kind == "image" else halve_mode
    dtype = np.dtype(source.dtype)
    shapes = pyramid_shapes(tuple(source.shape), dtype.itemsize, min_level_bytes)
    arrays = [group.create_array(str(i), shape=s, dtype=dtype,
                                 chunks=(min(chunk_slices, s[0]), s[1], s[2]),
                                 dimension_names=("z", "y", "x"), fill_value=0)
              for i, s in enumerate(shapes)]
    step = 2 * chunk_slices
    for start in range(0, shapes[0][0], step):
        slab = np.asarray(source[start:start + step])
        arrays[0][start:start + len(slab)] = slab
        if len(arrays) > 1:
            half = halve(slab)
            arrays[1][start // 2:start // 2 + len(half)] = half
    for level in range(2, len(arrays)):
        above = arrays[level - 1]
        for start in range(0, above.shape[0], step):
            half = halve(np.asarray(above[start:start + step]))
            arrays[level][start // 2:start // 2 + len(half)] = half
    return shapes


def multiscales(spacing, origin, levels: int, name: str = "") -> list[dict]:
    """OME-Zarr 0.5 ``multiscales`` of a ``levels``-level pyramid over axes z, y, x (mm)."""
    axes = [{"name": a, "type": "space", "unit": "millimeter"} for a in ("z", "y", "x")]
    return [{"name": name, "axes": axes,
             "datasets": [{"path": str(i),
                           "coordinateTransformations": level_transforms(spacing, origin, i)}
                          for i in range(levels)]}]
