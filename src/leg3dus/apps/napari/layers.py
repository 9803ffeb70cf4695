"""Volumes as napari layer data: geometry in millimetres, labels with the scheme's names
and colours. Plain tuples ``(data, kwargs, layer_type)``; no napari import here.

napari's layer transform is ``translate + rotate @ (scale * index)``, so a layer gets
``scale`` = spacing and ``translate`` = origin in (z, y, x), and ``rotate`` = the
direction matrix when it is not the identity: napari then shows millimetres and an image
and its labels overlay where they lie in space. Arrays are passed as read (a uint8
volume stays uint8, no copy); a Zarr image is passed as the Zarr array itself, so
napari reads only the slices it shows.

Label layers hold the scheme's values 0/100/150/200 as they are on disk (a file in
another convention is mapped to them on reading and back on writing, see
:mod:`leg3dus.core.label_values`); SOL, GM and GL get the project's colours and their names
in the layer's features. Any other value is kept, drawn in magenta and reported.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...core import labels as lab
from ...core.errors import GeometryError
from ...core.label_values import LabelConvention
from ...core.volume import Geometry, Volume

#: Colour (RGBA, 0..1) of a label value outside the scheme.
STRAY_RGBA = (1.0, 0.0, 1.0, 1.0)
#: Key of the leg3dus entry in a layer's ``metadata``.
META = "leg3dus"


def label_colors() -> dict:
    """The labels colour map: value -> RGBA (0..1); ``None`` is the colour of any other value.

    >>> c = label_colors(); c[100]
    (0.902, 0.624, 0.0, 1.0)
    """
    colors: dict = {None: STRAY_RGBA, lab.BACKGROUND: (0.0, 0.0, 0.0, 0.0)}
    for m in lab.MUSCLES:
        colors[m.value] = tuple(round(c / 255, 3) for c in m.color) + (1.0,)
    return colors


def label_features() -> dict:
    """Names of the label values, as a napari features table (column ``index`` = value).

    >>> label_features()["muscle"]
    ['background', 'SOL', 'GM', 'GL']
    """
    return {"index": list(lab.VALUES), "muscle": [lab.NAMES[v] for v in lab.VALUES]}


def geometry_kwargs(geometry: Geometry) -> dict:
    """``scale``, ``translate`` (and ``rotate`` if needed) of a layer on ``geometry``.

    >>> g = Geometry((2, 3, 4), (2.0, 0.5, 0.5), (10.0, 0.0, -1.0))
    >>> geometry_kwargs(g)
    {'scale': (2.0, 0.5, 0.5), 'translate': (10.0, 0.0, -1.0), 'units': ('mm', 'mm', 'mm')}
    """
    kw = {"scale": tuple(geometry.spacing), "translate": tuple(geometry.origin),
          "units": ("mm", "mm", "mm")}
    direction = np.asarray(geometry.direction, dtype=np.float64)
    if not np.allclose(direction, np.eye(3)):
        kw["rotate"] = direction
    return kw


def geometry_meta(geometry: Geometry) -> dict:
    """A JSON-ready description of ``geometry`` for a layer's metadata."""
    return {"shape": [int(n) for n in geometry.shape], "spacing": list(geometry.spacing),
            "origin": list(geometry.origin),
            "direction": np.asarray(geometry.direction).tolist()}


def geometry_from_meta(meta: dict) -> Geometry:
    """The :class:`~leg3dus.core.volume.Geometry` written by :func:`geometry_meta`."""
    return Geometry(tuple(meta["shape"]), tuple(meta["spacing"]), tuple(meta["origin"]),
                    np.asarray(meta["direction"], dtype=np.float64))


def image_layer(array, geometry: Geometry, path: str | os.PathLike, name: str = "image"
                ) -> tuple:
    """Layer data of an ultrasound volume: gray, contrast 0..255 for uint8.

    >>> a = np.zeros((2, 3, 4), np.uint8)
    >>> data, kw, kind = image_layer(a, Geometry(a.shape, (1.0, 1.0, 1.0)), "x1.mha")
    >>> data is a, kind, kw["contrast_limits"]
    (True, 'image', (0, 255))
    """
    kw = {"name": name, "colormap": "gray", **geometry_kwargs(geometry),
          "metadata": {META: {"role": "image", "path": str(path),
                              "geometry": geometry_meta(geometry)}}}
    if np.dtype(array.dtype) == np.uint8:
        kw["contrast_limits"] = (0, 255)
    return array, kw, "image"


def labels_layer(volume: Volume, path: str | os.PathLike | None, role: str = "labels",
                 name: str | None = None, convention: LabelConvention | None = None,
                 image: str | os.PathLike | None = None, **extra) -> tuple:
    """Layer data of a label volume holding scheme values (0/100/150/200).

    ``role`` is "labels" (dense, editable), "sparse" (the drawn slices) or "propagated";
    ``convention`` is the file's (used by the writer to map back); ``image`` the path of
    the image it belongs to (the writer never writes over it); ``extra`` goes to the
    metadata (e.g. ``annotated``, ``axis``).
    """
    from ...core.label_values import SCHEME

    convention = convention or SCHEME
    meta = {"role": role, "path": None if path is None else str(path),
            "image": None if image is None else str(image),
            "geometry": geometry_meta(volume.geometry), "convention": convention.as_json(),
            **extra}
    kw = {"name": name or role, **geometry_kwargs(volume.geometry),
          "colormap": label_colors(), "features": label_features(),
          "metadata": {META: meta}}
    return volume.array, kw, "labels"


def check_same_grid(labels: Geometry, image: Geometry, labels_path, image_path) -> None:
    """Raise :class:`GeometryError` when a label volume is not on its image's grid.

    >>> g = Geometry((2, 3, 4), (1.0, 1.0, 1.0))
    >>> check_same_grid(g, Geometry((2, 3, 5), (1.0, 1.0, 1.0)), "m.mha", "x.mha")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.GeometryError: m.mha: expected the grid of x.mha, found shape ...
    """
    problems = labels.matches(image)
    if problems:
        raise GeometryError(f"{labels_path}: expected the grid of {image_path}, found "
                            f"{'; '.join(problems)}")


def stray_report(counts: dict, path) -> str | None:
    """A one-line warning for values outside the scheme, or None when there are none.

    >>> stray_report({0: 5, 100: 2, 7: 3}, "m.mha")[:70]
    'm.mha: label values outside the scheme kept and shown in magenta: 7 (3'
    """
    stray = {v: c for v, c in counts.items() if v not in lab.VALUES}
    if not stray:
        return None
    return (f"{path}: label values outside the scheme kept and shown in magenta: "
            f"{lab.describe_counts(stray)}; paint them over or run leg3dus validate "
            "--fix-stray before saving")


def layer_geometry(meta: dict, shape) -> Geometry:
    """The grid of a layer from its leg3dus metadata, checked against its data's shape."""
    geometry = geometry_from_meta(meta["geometry"])
    if tuple(geometry.shape) != tuple(shape):
        raise GeometryError(f"layer data of shape {tuple(shape)} do not match its grid "
                            f"{tuple(geometry.shape)}")
    return geometry


def as_path(path) -> Path:
    """``path`` as a :class:`~pathlib.Path` (napari may pass a list of one path)."""
    if isinstance(path, list | tuple):
        path = path[0]
    return Path(path)
