"""Reading for napari: a volume file, an OME-Zarr folder or a LEG-3D-US subject folder
(image plus ``masksX1.*`` when present, plus a saved annotation session).

:func:`get_reader` is the npe2 reader contribution; :func:`open_subject` is what it and
``leg3dus annotate`` call. Both return napari layer data (see :mod:`.layers`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...core.annotated import annotated_slices
from ...core.errors import InputFileError
from ...core.label_values import read_labels
from ...core.labels import value_counts
from ...core.volume_io import FORMATS, read_header, read_volume, volume_stem
from .layers import check_same_grid, image_layer, labels_layer, stray_report
from .session import IMAGE_STEM, MASKS_STEM, find_volume, read_sidecar

_LABEL_NAME = re.compile(r"mask|label|seg|sparse", re.IGNORECASE)


def is_volume(path: Path) -> bool:
    """Whether ``path`` names a volume leg3dus reads (by its ending).

    >>> is_volume(Path("x1.nii.gz")), is_volume(Path("notes.txt"))
    (True, False)
    """
    return any(str(path).lower().endswith(ext) for ext in FORMATS)


def is_subject(path: Path) -> bool:
    """Whether ``path`` is a folder holding a LEG-3D-US image (``x1.*``)."""
    return path.is_dir() and not is_volume(path) and find_volume(path, IMAGE_STEM) is not None


def read_image(path: Path) -> tuple:
    """Image layer data: the array as read (no copy); a Zarr array lazily."""
    if str(path).lower().endswith(".zarr"):
        from ...core.zarrio import _open

        header = read_header(path)
        array, _ = _open(path)
        return image_layer(array, header.geometry, path, name=path.name)
    vol = read_volume(path)
    return image_layer(vol.array, vol.geometry, path, name=volume_stem(path))


def read_label_layer(path: Path, role: str, image=None, label_values=None, **extra):
    """Labels layer data of ``path`` (values mapped to the scheme) and its stray warning.

    With ``image`` (a :class:`~leg3dus.core.volume.Geometry` and its path) the labels must lie
    on the image's grid, else :class:`~leg3dus.core.errors.GeometryError`.
    """
    vol, convention = read_labels(path, label_values, allow_stray=True)
    image_path = None
    if image is not None:
        geometry, image_path = image
        check_same_grid(vol.geometry, geometry, path, image_path)
    warning = stray_report(value_counts(vol.array), path)
    layer = labels_layer(vol, path, role=role, name=role, convention=convention,
                         image=image_path, **extra)
    return layer, warning


def open_subject(path: str | os.PathLike, labels: str | os.PathLike | None = None,
                 sparse: str | os.PathLike | None = None, label_values: str | None = None
                 ) -> tuple[list[tuple], list[str]]:
    """Layer data of a subject and warnings (stray label values) to show the user.

    ``path`` is a subject folder (its ``x1.*`` image; its saved session, else its
    ``masksX1.*`` labels) or an image file. ``labels`` / ``sparse`` name label files
    that replace those found. The sparse layer's metadata holds the annotated slices and
    the axis (from the session sidecar, else the slices that hold labels, along axis 0).
    Bad input raises a :class:`~leg3dus.core.errors.Leg3dusError` naming the file.
    """
    path = Path(path)
    session = None
    if path.is_dir() and not is_volume(path):
        folder = path
        image_path = find_volume(path, IMAGE_STEM)
        if image_path is None:
            raise InputFileError(f"{path}: expected a subject folder holding {IMAGE_STEM}.mha "
                                 "(or another volume format), found none")
        session = read_sidecar(path)
        if labels is None:
            saved = session.labels if session else None
            labels = (path / saved) if saved and (path / saved).exists() else \
                find_volume(path, MASKS_STEM)
        if sparse is None and session and session.sparse and (path / session.sparse).exists():
            sparse = path / session.sparse
    elif path.exists():
        folder, image_path = path.parent, path
    else:
        raise InputFileError(f"{path}: expected a volume file or a subject folder, found "
                             "nothing there")
    image = read_image(image_path)
    meta = image[1]["metadata"]["leg3dus"]
    meta["folder"] = str(folder)
    from .layers import geometry_from_meta

    grid = (geometry_from_meta(meta["geometry"]), image_path)
    layers, warnings = [image], []
    if labels is not None:
        layer, warning = read_label_layer(Path(labels), "labels", grid, label_values)
        layers.append(layer)
        warnings += [warning] if warning else []
    if sparse is not None:
        axis = session.axis if session else 0
        layer, warning = read_label_layer(Path(sparse), "sparse", grid, label_values,
                                          axis=axis)
        if session and session.annotated:
            annotated = list(session.annotated)
        else:
            annotated = annotated_slices(layer[0], axis).tolist()
        layer[1]["metadata"]["leg3dus"]["annotated"] = annotated
        layers.append(layer)
        warnings += [warning] if warning else []
    if session is not None:
        meta["session"] = session.as_json()
    return layers, warnings


def read_path(path) -> list[tuple]:
    """The npe2 reader: layers of a subject folder, an image, or a label file alone."""
    from .layers import as_path

    path = as_path(path)
    if is_volume(path) and _LABEL_NAME.search(path.name) and not is_subject(path):
        layer, warning = read_label_layer(path, "labels")
        _notify(warning)
        return [layer]
    layers, warnings = open_subject(path)
    for w in warnings:
        _notify(w)
    return layers


def get_reader(path):
    """npe2 ``get_reader``: :func:`read_path` for what leg3dus reads, else None."""
    from .layers import as_path

    p = as_path(path)
    if is_volume(p) or is_subject(p):
        return read_path
    return None


def _notify(message: str | None) -> None:
    if not message:
        return
    try:
        from napari.utils.notifications import show_warning
    except ImportError:  # pragma: no cover - reading without napari
        import warnings

        warnings.warn(message, stacklevel=2)
        return
    show_warning(message)
