"""Cheap checks that a volume file holds all its voxel data, without decompressing it.

A file cut short (an interrupted copy or download) keeps a valid header, and some
readers fill the missing voxels with zeros instead of failing. These checks compare what
the header promises with what the file holds: the byte count of uncompressed data, the
compressed size a MetaImage header records, or the uncompressed size in a gzip trailer.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

from .errors import InputFileError

_HEAD_BYTES = 1 << 16
#: Deflate (zlib, gzip) expands data at most ~1032-fold; a header that promises more voxel
#: bytes than this times the compressed bytes present is refused before any is allocated.
MAX_DEFLATE_RATIO = 1100


def check_complete(path: Path, fmt: str, nbytes: int) -> None:
    """Raise :class:`InputFileError` if ``path`` holds fewer voxel bytes than ``nbytes``.

    ``fmt`` is the format ending (``".mha"``, ``".nii.gz"``...). Layouts the checks do
    not understand (data split over several files, byte skips) pass unchecked.
    """
    if fmt in (".mha", ".mhd"):
        _check_meta(path, nbytes)
    elif fmt in (".nrrd", ".nhdr"):
        _check_nrrd(path, nbytes)
    elif fmt == ".nii":
        _check_nifti(path, nbytes)
    elif fmt == ".nii.gz":
        _check_nifti_gz(path, nbytes)


def _truncated(path: Path, expected: int, found: int, what: str = "voxel data") -> InputFileError:
    return InputFileError(f"{path}: truncated file: expected {expected} bytes of {what}, "
                          f"found {found}")


def inside_folder(header_path: Path, name: str) -> Path:
    """The data file ``name`` that ``header_path`` refers to, refused when outside its folder.

    A header is input; it may name its data file beside it or below it, never by an
    absolute path or by climbing out of its folder (``..``).

    Examples
    --------
    >>> inside_folder(Path("in/v.mhd"), "v.raw")
    PosixPath('in/v.raw')
    >>> inside_folder(Path("in/v.mhd"), "../secret.raw")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.InputFileError: in/v.mhd: the data file '../secret.raw' named in ...
    """
    if not name or "\x00" in name:
        raise InputFileError(f"{header_path}: the data file named in the header is not a "
                             f"file name: {name[:40]!r}")
    folder = header_path.parent.resolve()
    data = (header_path.parent / name).resolve()
    if Path(name).is_absolute() or (data != folder and folder not in data.parents):
        raise InputFileError(f"{header_path}: the data file {name!r} named in the header "
                             "lies outside the header's folder; expected a file beside it")
    return header_path.parent / name


def _too_large(path: Path, nbytes: int, compressed: int) -> None:
    if nbytes > MAX_DEFLATE_RATIO * max(compressed, 0):
        raise InputFileError(
            f"{path}: the header claims {nbytes} bytes of voxels but only {compressed} "
            f"compressed bytes follow (at most {MAX_DEFLATE_RATIO}x that once "
            "decompressed); expected a header that matches its data")


def _data_file(header_path: Path, name: str) -> Path:
    data = inside_folder(header_path, name)
    if not data.exists():
        raise InputFileError(f"{header_path}: the data file {name!r} named in the header "
                             "is missing")
    return data


def _check_meta(path: Path, nbytes: int) -> None:
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    fields: dict[str, str] = {}
    end = 0
    for line in head.splitlines(keepends=True):
        end += len(line)
        key, sep, value = line.decode("latin-1").partition("=")
        if not sep:
            continue
        fields[key.strip().lower()] = value.strip()
        if key.strip().lower() == "elementdatafile":
            break
    name = fields.get("elementdatafile")
    if name is None:
        return
    if name.upper() == "LOCAL":
        data, offset = path, end
    elif name.upper().startswith("LIST"):
        for line in head[end:].decode("latin-1").splitlines():
            if line.strip():
                inside_folder(path, line.strip())
        return
    elif "%" in name:
        inside_folder(path, name.split()[0])
        return
    else:
        data = _data_file(path, name)
        offset = _number(fields.get("headersize", "0"), path, "HeaderSize")
        if offset < 0:
            return
    available = data.stat().st_size - offset
    if fields.get("compresseddata", "false").lower() == "true":
        expected = _number(fields.get("compresseddatasize", "0"), path, "CompressedDataSize")
        if expected and available < expected:
            raise _truncated(data, expected, available, "compressed voxel data")
        _too_large(path, nbytes, available)
    elif available < nbytes:
        raise _truncated(data, nbytes, available)


def _number(text: str, path: Path, what: str) -> int:
    try:
        return int(float(text))
    except (ValueError, OverflowError):
        raise InputFileError(f"{path}: {what} must be a whole number of bytes, found "
                             f"{text!r}") from None


def _check_nrrd(path: Path, nbytes: int) -> None:
    with open(path, "rb") as f:
        head = f.read(_HEAD_BYTES)
    fields: dict[str, str] = {}
    end = 0
    for line in head.splitlines(keepends=True):
        end += len(line)
        if not line.strip():
            break
        text = line.decode("latin-1").strip()
        if text.startswith("#") or ":" not in text:
            continue
        key, _, value = text.partition(":")
        fields[key.strip().lower()] = value.lstrip("=").strip()
    if "byte skip" in fields or "line skip" in fields:
        return
    name = fields.get("data file") or fields.get("datafile")
    if name is not None:
        if name.upper().startswith("LIST"):
            for line in head[end:].decode("latin-1").splitlines():
                if line.strip():
                    inside_folder(path, line.strip())
            return
        if "%" in name or " " in name:
            inside_folder(path, name.split()[0])
            return
        data, offset = _data_file(path, name), 0
    elif path.suffix.lower() == ".nhdr":
        return
    else:
        data, offset = path, end
    encoding = fields.get("encoding", "raw").lower()
    if encoding == "raw":
        available = data.stat().st_size - offset
        if available < nbytes:
            raise _truncated(data, nbytes, available)
    elif encoding in ("gzip", "gz"):
        _too_large(path, nbytes, data.stat().st_size - offset)
        _check_gzip(data, offset, nbytes)


def _nifti_vox_offset(head: bytes, path: Path) -> int:
    if len(head) < 348:
        raise _truncated(path, 348, len(head), "NIfTI header")
    for endian in "<>":
        size = struct.unpack(endian + "i", head[:4])[0]
        if size == 348:
            offset = struct.unpack(endian + "f", head[108:112])[0]
            if not 0 <= offset < 2**40:
                raise InputFileError(f"{path}: vox_offset must be a byte position, found "
                                     f"{offset}")
            return int(offset)
        if size == 540 and len(head) >= 540:
            return int(struct.unpack(endian + "q", head[168:176])[0])
    raise InputFileError(f"{path}: not a NIfTI file (header size field is neither 348 "
                         "nor 540)")


def _check_nifti(path: Path, nbytes: int) -> None:
    with open(path, "rb") as f:
        head = f.read(540)
    offset = max(_nifti_vox_offset(head, path), 352)
    available = path.stat().st_size - offset
    if available < nbytes:
        raise _truncated(path, nbytes, available)


def _check_nifti_gz(path: Path, nbytes: int) -> None:
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(540)
    except (OSError, EOFError) as exc:
        raise InputFileError(f"{path}: not a readable gzip file: {exc}") from None
    offset = max(_nifti_vox_offset(head, path), 352)
    _too_large(path, nbytes, path.stat().st_size)
    _check_gzip(path, 0, offset + nbytes, data_bytes=nbytes)


def _check_gzip(path: Path, offset: int, expected: int, data_bytes: int | None = None) -> None:
    """Compare the gzip trailer's size (mod 2**32) with ``expected``; stream to confirm."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        if size - offset < 18:
            raise _truncated(path, expected, 0, "gzip-compressed voxel data")
        f.seek(size - 4)
        isize = struct.unpack("<I", f.read(4))[0]
    if isize == expected % (1 << 32):
        return
    # A trailer that disagrees means a cut file, or one of several gzip members (bgzip):
    # count the bytes for certain, in constant memory.
    total = 0
    with open(path, "rb") as f:
        f.seek(offset)
        decomp = zlib.decompressobj(wbits=31)
        try:
            while chunk := f.read(1 << 22):
                while chunk:
                    total += len(decomp.decompress(chunk))
                    if decomp.eof:
                        chunk = decomp.unused_data
                        decomp = zlib.decompressobj(wbits=31)
                    else:
                        chunk = b""
                if total >= expected:
                    return
        except zlib.error as exc:
            raise InputFileError(f"{path}: damaged gzip data: {exc}") from None
    if total < expected:
        have = total - (expected - data_bytes) if data_bytes is not None else total
        raise _truncated(path, data_bytes if data_bytes is not None else expected,
                         max(have, 0), "voxel data (gzip stream ends early)")
