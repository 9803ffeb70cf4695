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
    """The :class:`leg3dus.volume.Header` of a Zarr volume, without reading voxels."""
    from .volume import Geometry, Header

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
    from .volume import Geometry, Volume

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
