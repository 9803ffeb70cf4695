"""Reading and writing volumes in the formats of the field: MetaImage, NIfTI, NRRD
(through SimpleITK), OME-Zarr folders (:mod:`.zarrio`) and 3D Slicer segmentations
(:mod:`.segnrrd`). Arrays are (z, y, x); ITK's (x, y, z) order stays inside this module and
:mod:`.volume`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .atomic import atomic_path, clean_stale
from .errors import GeometryError, InputFileError, OptionError, OutputError
from .integrity import check_complete
from .volume import Geometry, Header, Volume, _sitk_geometry

#: File endings this module reads and writes, longest first so ".nii.gz" wins over ".gz".
#: ``.zarr`` is a folder (Zarr v3, OME-Zarr form; see :mod:`leg3dus.core.zarrio`); ``.seg.nrrd``
#: a 3D Slicer segmentation (see :mod:`leg3dus.core.segnrrd`).
FORMATS = (".seg.nrrd", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr", ".nii", ".zarr")

_SITK_DTYPES = {
    sitk.sitkVectorUInt8: np.uint8,
    sitk.sitkVectorFloat32: np.float32,
    sitk.sitkUInt8: np.uint8,
    sitk.sitkInt8: np.int8,
    sitk.sitkUInt16: np.uint16,
    sitk.sitkInt16: np.int16,
    sitk.sitkUInt32: np.uint32,
    sitk.sitkInt32: np.int32,
    sitk.sitkUInt64: np.uint64,
    sitk.sitkInt64: np.int64,
    sitk.sitkFloat32: np.float32,
    sitk.sitkFloat64: np.float64,
}


def volume_format(path: str | os.PathLike) -> str:
    """The format ending of ``path`` (one of :data:`FORMATS`), or raise :class:`OptionError`."""
    name = str(path).lower()
    for ext in FORMATS:
        if name.endswith(ext):
            return ext
    raise OptionError(
        f"{path}: unsupported volume format; expected a name ending in {', '.join(FORMATS)}"
    )


def volume_stem(path: str | os.PathLike) -> str:
    """The file name of ``path`` without its format ending (one of :data:`FORMATS`), or
    the whole name when it has none.

    >>> volume_stem("data/masksX1.seg.nrrd"), volume_stem("x1.nii.gz"), volume_stem("notes")
    ('masksX1', 'x1', 'notes')
    """
    name = Path(path).name
    for ext in FORMATS:
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return name



def _check_readable(path: Path) -> str:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    fmt = volume_format(path)
    if path.is_dir() and fmt != ".zarr":
        raise InputFileError(f"{path}: is a folder, expected a volume file")
    return fmt


def _itk_message(exc: Exception) -> str:
    # ITK messages span many lines with source locations; keep the line that explains.
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in lines:
        if ln.lower().startswith("description:"):
            return ln.split(":", 1)[1].strip()
    return lines[-1] if lines else type(exc).__name__


def _check_meta_dims(path: Path) -> None:
    """Refuse MetaImage ``NDims``/``DimSize`` that are not small whole numbers.

    ITK's MetaImage reader sizes its arrays from ``NDims`` before checking it (a huge
    value crashes the process), so these two fields are read here first.
    """
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    fields = {}
    for line in head.split(b"\n"):
        key, sep, value = line.decode("latin-1").partition("=")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
        if key.strip().lower() == "elementdatafile":
            break
    ndims, sizes = fields.get("ndims"), fields.get("dimsize")
    if ndims is not None and not (ndims.isdigit() and 1 <= int(ndims) <= 4):
        raise InputFileError(f"{path}: NDims must be a dimension count (3 for a volume), "
                             f"found {ndims!r}")
    if sizes is not None:
        parts = sizes.split()
        if not parts or not all(p.isdigit() and 0 < int(p) < 2**31 for p in parts) or (
                ndims is not None and len(parts) != int(ndims)):
            raise InputFileError(f"{path}: DimSize must be {ndims or 'NDims'} positive whole "
                                 f"numbers, found {sizes!r}")


def read_header(path: str | os.PathLike) -> Header:
    """Shape, spacing, origin, direction and voxel type of a volume file, without its voxels.

    Examples
    --------
    >>> h = read_header("train/S01/x1.mha")  # doctest: +SKIP
    >>> h.shape, h.spacing, h.dtype          # doctest: +SKIP
    ((1443, 632, 564), (0.277, 0.277, 0.277), dtype('uint8'))
    """
    path = Path(path)
    if _check_readable(path) == ".zarr":
        from .zarrio import read_zarr_header

        return read_zarr_header(path)
    if volume_format(path) == ".seg.nrrd":
        from .segnrrd import read_seg_nrrd_header

        return read_seg_nrrd_header(path)
    if volume_format(path) in (".mha", ".mhd"):
        _check_meta_dims(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise InputFileError(f"{path}: cannot read the header: {_itk_message(exc)}") from None
    if reader.GetDimension() != 3:
        raise GeometryError(f"{path}: expected a 3D volume, found {reader.GetDimension()}D")
    spacing, origin, direction = _sitk_geometry(reader)
    shape = tuple(int(n) for n in reader.GetSize())[::-1]
    if reader.GetPixelID() not in _SITK_DTYPES:
        kind = sitk.GetPixelIDValueAsString(reader.GetPixelID())
        raise InputFileError(f"{path}: unsupported voxel type {kind!r}")
    dtype = np.dtype(_SITK_DTYPES[reader.GetPixelID()])
    header = Header(path, Geometry(shape, spacing, origin, direction), dtype,
                    reader.GetNumberOfComponents())
    check_complete(path, volume_format(path), header.nbytes)
    return header


def read_volume(path: str | os.PathLike, dtype: np.dtype | type | None = None) -> Volume:
    """Read a 3D scalar volume (.mha, .mhd, .nrrd, .nhdr, .nii, .nii.gz, .zarr) with its geometry.

    The voxel type is kept (uint8 stays uint8) unless ``dtype`` asks for another. A file
    cut short raises :class:`InputFileError` (some readers would fill it with zeros).

    Examples
    --------
    >>> vol = read_volume("train/S01/masksX1.mha")  # doctest: +SKIP
    >>> vol.dtype, vol.spacing                        # doctest: +SKIP
    (dtype('uint8'), (0.277, 0.277, 0.277))
    """
    path = Path(path)
    if _check_readable(path) == ".zarr":
        from .zarrio import read_zarr

        vol = read_zarr(path)
    elif volume_format(path) == ".seg.nrrd":
        from .segnrrd import read_seg_nrrd

        vol = read_seg_nrrd(path)[0]
    else:
        vol = _read_sitk(path)
    if dtype is not None and vol.array.dtype != np.dtype(dtype):
        vol.array = vol.array.astype(dtype)
    return vol


def _read_sitk(path: Path) -> Volume:
    header = read_header(path)  # also checks that no voxel data is missing
    if header.components != 1:
        raise GeometryError(f"{path}: expected a scalar volume, found "
                            f"{header.components} components per voxel")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputFileError(f"{path}: cannot read: {_itk_message(exc)}") from None
    try:
        return Volume.from_sitk(image, copy=False)
    except GeometryError as exc:
        raise GeometryError(f"{path}: {exc}") from None


def write_volume(
    volume: Volume,
    path: str | os.PathLike,
    compress: bool = True,
    compression_level: int = 1,
) -> Path:
    """Write ``volume`` with its geometry; the format follows the file name.

    The file appears only once complete (written under a temporary name, then renamed).
    ``compression_level`` (1 fast .. 9 small) applies where the format compresses;
    0 writes the voxels uncompressed, like ``compress=False``. ``.nii.gz`` is always
    compressed (at least level 1) and ``.nii`` never.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> vol = Volume(np.zeros((4, 5, 6), np.uint8))
    >>> path = write_volume(vol, Path(tempfile.mkdtemp()) / "v.mha", compression_level=0)
    >>> b"CompressedData = False" in path.read_bytes()[:400]
    True
    """
    path = Path(path)
    fmt = volume_format(path)
    if not 0 <= int(compression_level) <= 9:
        raise OptionError(f"{path}: compression level must lie in 0..9, found "
                          f"{compression_level}")
    if fmt == ".zarr":
        from .zarrio import write_zarr

        return write_zarr(volume, path)
    if fmt == ".seg.nrrd":
        from .segnrrd import write_seg_nrrd

        return write_seg_nrrd(volume, path, compression_level=compression_level)
    image = volume.to_sitk()
    use_compression = (compress and compression_level > 0) or fmt == ".nii.gz"
    if fmt == ".nii":
        use_compression = False
    if fmt == ".nii.gz":
        compression_level = max(int(compression_level), 1)
    if fmt in (".mhd", ".nhdr"):
        # Header + data file pairs: write in place of a temporary header, then rename both.
        return _write_pair(image, path, use_compression, compression_level)
    with atomic_path(path) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), use_compression, compression_level)
        except RuntimeError as exc:  # a full disk, a file-size limit, no permission
            raise OutputError(f"{path}: cannot write: {_write_reason(exc)}") from None
    return path


def _write_reason(exc: Exception) -> str:
    text = str(exc)
    if "Reason:" in text:
        return text.split("Reason:", 1)[1].strip().splitlines()[0]
    return _itk_message(exc)


def _write_pair(image: sitk.Image, path: Path, compress: bool, level: int) -> Path:
    # The header names its data file, so both are written under their final names in a
    # temporary folder and then moved beside each other, the header last.
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        sitk.WriteImage(image, str(tmp / path.name), compress, level)
        for part in sorted(tmp.iterdir(), key=lambda p: p.name == path.name):
            os.replace(part, path.parent / part.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def copy_volume(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy the volume file ``src`` to ``dst`` unchanged, atomically; returns ``dst``.

    A single file (``.mha``, ``.nrrd``, ``.nii.gz`` ...) or a Zarr folder is copied byte
    for byte; a header + data pair (``.mhd``, ``.nhdr``) is written anew beside ``dst``
    (its header names its data file). Both names must have the same format.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> src = write_volume(Volume(np.arange(8, dtype=np.uint8).reshape(2, 2, 2)),
    ...                    folder / "a.mha")
    >>> copy_volume(src, folder / "copy" / "a.mha").read_bytes() == src.read_bytes()
    True
    """
    src, dst = Path(src), Path(dst)
    fmt = volume_format(src)
    if volume_format(dst) != fmt:
        raise OptionError(f"{dst}: expected the format of {src.name} ({fmt}), "
                          f"found {volume_format(dst)}")
    if fmt in (".mhd", ".nhdr"):
        return write_volume(read_volume(src), dst)
    with atomic_path(dst) as tmp:
        if src.is_dir():
            shutil.copytree(src, tmp)
        else:
            shutil.copyfile(src, tmp)
    return dst
