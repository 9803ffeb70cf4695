"""3D Slicer segmentations (``.seg.nrrd``) as label volumes, through slicerio and pynrrd.

A ``.seg.nrrd`` is a NRRD file whose header lists segments (``SegmentN_Name``,
``SegmentN_LabelValue``, ``SegmentN_Color``, ``SegmentN_Layer``, ...). leg3dus writes one
segment per muscle (SOL, GM, GL with the project's colours and label values) in a single
layer on the grid of the labels, so that Slicer opens it as a segmentation and any NRRD
reader as a label map.

Reading accepts what Slicer itself writes:

- several layers (segments that overlap somewhere are stored as a 4D array): the layers
  are merged into one label map when no two segments share a voxel, each segment keeping
  its label value;
- an array cropped to the segments' extent
  (``Segmentation_ReferenceImageExtentOffset``): it is placed back on the reference
  image grid recorded in the ``Reference image geometry`` conversion parameter, so that
  it lies on the image it was drawn on;
- a RAS or LPS ``space``.

Arrays are (z, y, x) as everywhere in leg3dus; NRRD's (i, j, k) = (x, y, z) order exists
only inside this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import labels as lab
from .atomic import atomic_path
from .errors import GeometryError, InputFileError, LabelError
from .volume import Geometry, Header, Volume

SUFFIX = ".seg.nrrd"
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Segment:
    """One segment of a Slicer segmentation: name, label value, layer, colour (0..1 RGB)."""

    name: str
    label_value: int
    layer: int = 0
    color: tuple[float, float, float] | None = None


def _slicerio():
    import slicerio

    return slicerio


def is_seg_nrrd(path: str | os.PathLike) -> bool:
    """True when ``path`` names a Slicer segmentation (``.seg.nrrd``).

    >>> is_seg_nrrd("masksX1.seg.nrrd"), is_seg_nrrd("masksX1.nrrd")
    (True, False)
    """
    return str(path).lower().endswith(SUFFIX)


def _read(path: Path, skip_voxels: bool) -> dict:
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        return _slicerio().read_segmentation(str(path), skip_voxels=skip_voxels)
    except Exception as exc:  # noqa: BLE001 - pynrrd and slicerio raise several kinds
        raise InputFileError(f"{path}: expected a Slicer segmentation (.seg.nrrd), cannot "
                             f"read it: {exc}") from None


def _segments(seg: dict) -> list[Segment]:
    out = []
    for s in seg.get("segments", []):
        if "labelValue" not in s:
            continue
        color = tuple(float(c) for c in s["color"]) if "color" in s else None
        out.append(Segment(str(s.get("name", s.get("id", ""))), int(s["labelValue"]),
                           int(s.get("layer", 0)), color))
    return out


def read_segments(path: str | os.PathLike) -> list[Segment]:
    """The segments listed in the header of a ``.seg.nrrd`` (voxels are not read)."""
    path = Path(path)
    return _segments(_read(path, skip_voxels=True))


def _reference_grid(seg: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """(ijkToLPS 4x4, extent (6,)) of the ``Reference image geometry`` parameter."""
    for p in seg.get("conversionParameters", []):
        if p.get("name") == "Reference image geometry":
            parts = [v for v in str(p.get("value", "")).split(";") if v.strip()]
            if len(parts) != 22:
                return None
            numbers = np.array([float(v) for v in parts])
            return _RAS_TO_LPS @ numbers[:16].reshape(4, 4), numbers[16:].astype(int)
    return None


def _placement(seg: dict, shape_ijk: tuple):
    """(ijkToLPS, shape (i, j, k), start) of the array on its reference image grid, or
    the array's own (ijkToLPS, shape, None) when it has none or does not fit in it."""
    matrix = np.asarray(seg["ijkToLPS"], dtype=np.float64)
    shape_ijk = tuple(int(n) for n in shape_ijk)
    reference = _reference_grid(seg)
    if reference is None:
        return matrix, shape_ijk, None
    ref_matrix, extent = reference
    offset = np.asarray(seg.get("referenceImageExtentOffset", [0, 0, 0]), dtype=int)
    start = offset - extent[::2]
    ref_shape = tuple(int(n) for n in extent[1::2] - extent[::2] + 1)
    fits = np.all(start >= 0) and np.all(start + np.asarray(shape_ijk) <= ref_shape)
    if not fits or not np.allclose(ref_matrix[:3, :3], matrix[:3, :3], atol=1e-6) \
            or ref_shape == shape_ijk:
        return matrix, shape_ijk, None
    placed = ref_matrix.copy()
    placed[:3, 3] = ref_matrix[:3, :3] @ extent[::2] + ref_matrix[:3, 3]
    return placed, ref_shape, tuple(int(a) for a in start)


def _ijk_to_geometry(matrix: np.ndarray):
    """spacing, origin, direction in (z, y, x) order from an (i, j, k) ijkToLPS matrix."""
    m = np.asarray(matrix, dtype=np.float64)
    spacing_xyz = np.linalg.norm(m[:3, :3], axis=0)
    if np.any(spacing_xyz <= 0):
        raise GeometryError(f"degenerate voxel axes {m[:3, :3].tolist()}")
    direction_xyz = m[:3, :3] / spacing_xyz
    return (tuple(float(v) for v in spacing_xyz[::-1]), tuple(float(v) for v in m[:3, 3][::-1]),
            direction_xyz[::-1, ::-1].copy())


def geometry_to_ijk(volume) -> np.ndarray:
    """The 4x4 ijkToLPS matrix (NRRD's (i, j, k) = (x, y, z) order) of a volume's grid.

    >>> from leg3dus.core.volume import Volume
    >>> v = Volume(np.zeros((2, 3, 4), np.uint8), spacing=(3.0, 2.0, 1.0), origin=(7, 8, 9))
    >>> geometry_to_ijk(v)[:3].tolist()
    [[1.0, 0.0, 0.0, 9.0], [0.0, 2.0, 0.0, 8.0], [0.0, 0.0, 3.0, 7.0]]
    """
    direction_xyz = np.asarray(volume.direction, dtype=np.float64)[::-1, ::-1]
    m = np.eye(4)
    m[:3, :3] = direction_xyz * np.asarray(volume.spacing[::-1])
    m[:3, 3] = volume.origin[::-1]
    return m


def _merge_layers(voxels: np.ndarray, segments: list[Segment], path: Path) -> np.ndarray:
    """One (i, j, k) label map from the layers (first axis) of a 4D segmentation."""
    values = [s.label_value for s in segments]
    if len(set(values)) != len(values):
        raise LabelError(f"{path}: expected segments with distinct label values to merge "
                         f"its {voxels.shape[0]} layers, found {values}; in Slicer, "
                         "give each segment its own label value")
    dtype = np.uint8 if max(values, default=0) < 256 else np.uint16
    out = np.zeros(voxels.shape[1:], dtype, order="F")
    for s in segments:
        mask = voxels[s.layer] == s.label_value
        taken = mask & (out != 0)
        if taken.any():
            raise LabelError(f"{path}: segment {s.name!r} overlaps another segment in "
                             f"{int(taken.sum())} voxels; expected one label per voxel")
        out[mask] = s.label_value
    return out


def read_seg_nrrd(path: str | os.PathLike):
    """Read a ``.seg.nrrd`` as a label :class:`~leg3dus.core.volume.Volume` and its segments.

    Values are the segments' label values; the convention they follow comes from the
    segment names (:func:`leg3dus.core.label_values.find_label_table`).

    Examples
    --------
    >>> labels, segments = read_seg_nrrd("masksX1.seg.nrrd")  # doctest: +SKIP
    >>> [(s.name, s.label_value) for s in segments]            # doctest: +SKIP
    [('SOL', 100), ('GM', 150), ('GL', 200)]
    """

    path = Path(path)
    seg = _read(path, skip_voxels=False)
    segments = _segments(seg)
    voxels = seg["voxels"]
    if voxels.ndim == 4:
        voxels = _merge_layers(voxels, segments, path)
    elif voxels.ndim != 3:
        raise GeometryError(f"{path}: expected a 3D segmentation, found {voxels.ndim}D")
    matrix, ref_shape, start = _placement(seg, voxels.shape)
    if start is not None:
        full = np.zeros(ref_shape, voxels.dtype, order="F")
        full[tuple(slice(a, a + n) for a, n in zip(start, voxels.shape, strict=True))] = voxels
        voxels = full
    try:
        spacing, origin, direction = _ijk_to_geometry(matrix)
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc}") from None
    # pynrrd gives the (i, j, k) array in Fortran order: its transpose is C-ordered (z, y, x).
    array = np.ascontiguousarray(voxels.transpose(2, 1, 0))
    return Volume(array, spacing, origin, direction), segments


def read_seg_nrrd_header(path: str | os.PathLike):
    """The :class:`~leg3dus.core.volume.Header` of a ``.seg.nrrd`` without reading voxels
    (the grid after placing a cropped array on its reference image)."""

    path = Path(path)
    seg = _read(path, skip_voxels=True)
    import nrrd

    header = nrrd.read_header(str(path))
    sizes = tuple(int(n) for n in header["sizes"][-3:])
    dtype = np.dtype(np.uint8) if len(header["sizes"]) == 4 else _nrrd_dtype(header)
    matrix, shape, _ = _placement(seg, sizes)
    try:
        spacing, origin, direction = _ijk_to_geometry(matrix)
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc}") from None
    return Header(path, Geometry(tuple(int(n) for n in shape[::-1]), spacing, origin,
                                 direction), dtype)


def _nrrd_dtype(header: dict) -> np.dtype:
    import nrrd

    dtype = nrrd.reader._determine_datatype(header)  # the type pynrrd itself reads
    return np.dtype(dtype).newbyteorder("=")


def muscle_segments(values: dict[str, int] | None = None) -> list[Segment]:
    """The segments leg3dus writes: SOL, GM, GL with the project's colours and label
    values (``values`` maps a muscle name to its value; default 100/150/200).

    >>> [(s.name, s.label_value) for s in muscle_segments({"SOL": 1, "GM": 2, "GL": 3})]
    [('SOL', 1), ('GM', 2), ('GL', 3)]
    """
    values = values or {m.name: m.value for m in lab.MUSCLES}
    return [Segment(m.name, int(values[m.name]), 0, tuple(c / 255 for c in m.color))
            for m in lab.MUSCLES]


def write_seg_nrrd(volume, path: str | os.PathLike, values: dict[str, int] | None = None,
                   compression_level: int = 1) -> Path:
    """Write a label volume as a Slicer segmentation with one segment per muscle.

    ``values`` maps SOL, GM, GL to their values in ``volume`` (default 100/150/200, or
    1/2/3 when the volume holds only classes); any other non-zero value raises
    :class:`LabelError` (it would belong to no segment).
    The file appears only once complete.

    Examples
    --------
    >>> import tempfile
    >>> from leg3dus.core.volume import Volume
    >>> vol = Volume(np.array([0, 100, 150, 200], np.uint8).reshape(1, 2, 2))
    >>> path = write_seg_nrrd(vol, Path(tempfile.mkdtemp()) / "m.seg.nrrd")
    >>> [s.name for s in read_segments(path)]
    ['SOL', 'GM', 'GL']
    """
    path = Path(path)
    counts = lab.value_counts(np.asarray(volume.array))
    if values is None and set(counts) - {0} and set(counts) <= {0, 1, 2, 3}:
        values = {m.name: m.index for m in lab.MUSCLES}  # classes 1..3
    segments = muscle_segments(values)
    known = {0, *(s.label_value for s in segments)}
    stray = {v: c for v, c in counts.items() if v not in known}
    if stray:
        raise LabelError(f"{path}: expected label values {sorted(known)}, found "
                         f"{lab.describe_counts(stray)} that belong to no segment")
    array = np.asarray(volume.array)
    if array.dtype.kind not in "iu":
        array = array.astype(np.uint8)
    shape_ijk = array.shape[::-1]
    seg = {
        "voxels": array.transpose(2, 1, 0),
        "ijkToLPS": geometry_to_ijk(volume),
        "containedRepresentationNames": ["Binary labelmap"],
        "masterRepresentation": "Binary labelmap",
        "referenceImageExtentOffset": [0, 0, 0],
        "encoding": "gzip" if compression_level > 0 else "raw",
        "segments": [{"id": s.name, "name": s.name, "labelValue": s.label_value,
                      "layer": 0, "color": [round(c, 6) for c in s.color],
                      "extent": [0, shape_ijk[0] - 1, 0, shape_ijk[1] - 1,
                                 0, shape_ijk[2] - 1]}
                     for s in segments],
    }
    with atomic_path(path) as tmp:
        _slicerio().write_segmentation(str(tmp), seg,
                                       compression_level=max(int(compression_level), 1))
    return path
