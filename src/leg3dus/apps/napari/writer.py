"""Writing a napari Labels layer as a label volume (the npe2 writer contribution).

The format follows the file name (.mha, .mhd, .nrrd, .nhdr, .nii, .nii.gz, .zarr); the
geometry is the layer's (from the leg3dus metadata a layer read by this plugin carries,
else its ``scale`` and ``translate``); values go back to the convention of the file
the labels came from (:func:`leg3dus.core.label_values.to_file_values`). The file appears
only once complete, never over the image or the labels file the layer was read from,
and labels holding a value outside the scheme are not written.
"""

from __future__ import annotations

import numpy as np

from ...core.atomic import check_not_input
from ...core.errors import GeometryError
from ...core.label_values import SCHEME, LabelConvention, to_file_values
from ...core.volume import Geometry, Volume
from ...core.volume_io import volume_format, write_volume
from .layers import META, as_path, layer_geometry
from .session import _check_labels


def labels_volume(data, meta: dict) -> tuple[Volume, LabelConvention, list]:
    """The layer's labels as a :class:`~leg3dus.core.volume.Volume` in scheme values, the
    file convention, and the paths it must not overwrite.

    >>> vol, conv, inputs = labels_volume(np.zeros((2, 3, 4), np.uint8),
    ...                                   {"scale": (2, 1, 1), "translate": (5, 0, 0)})
    >>> vol.spacing, vol.origin, inputs
    ((2.0, 1.0, 1.0), (5.0, 0.0, 0.0), [])
    """
    array = np.asarray(data)
    if array.ndim != 3:
        raise GeometryError(f"expected a 3D labels layer, found {array.ndim}D data")
    own = (meta.get("metadata") or {}).get(META)
    if own and "geometry" in own:
        geometry = layer_geometry(own, array.shape)
        convention = LabelConvention.from_json(own["convention"]) if own.get("convention") \
            else SCHEME
        inputs = [p for p in (own.get("image"), own.get("path")) if p]
    else:
        scale = tuple(float(s) for s in meta.get("scale", (1.0, 1.0, 1.0)))[-3:]
        origin = tuple(float(t) for t in meta.get("translate", (0.0, 0.0, 0.0)))[-3:]
        geometry = Geometry(array.shape, scale, origin)
        convention, inputs = SCHEME, []
    if array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise GeometryError(f"label values must fit 0..255, found "
                                f"{int(array.min())}..{int(array.max())}")
        array = array.astype(np.uint8)
    return Volume.from_geometry(array, geometry), convention, inputs


def write_labels(path, data, meta: dict) -> list[str]:
    """npe2 single-layer writer: write a Labels layer to ``path``; the paths written.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "m.mha"
    >>> write_labels(str(out), np.zeros((2, 3, 4), np.uint8), {}) == [str(out)]
    True
    """
    path = as_path(path)
    volume_format(path)  # an unsupported ending fails before anything else
    vol, convention, inputs = labels_volume(data, meta)
    _check_labels(vol.array, str(path))
    check_not_input(path, inputs)
    array = to_file_values(vol.array, convention)
    write_volume(vol.with_array(array), path)
    return [str(path)]
