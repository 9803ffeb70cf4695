"""A volume file read slab by slab along axis 0, for writers that must not hold it whole.

:func:`open_slabs` gives an object with ``shape``, ``dtype`` and ``geometry`` that
returns ``source[a:b]`` (slices a..b-1 along axis 0) as a numpy array. A MetaImage
(``.mha`` with its voxels in the file, as the dataset is released), raw or
zlib-compressed, is streamed: only the slab asked for is in memory (read in increasing
order, as a writer does; going back restarts the stream). Any other format is read whole
with :func:`leg3dus.core.volume_io.read_volume` and sliced.

Reading a compressed ``.mha`` whole needs its compressed and its decompressed bytes at
once (about 1 GB for a full-size speckled image); streamed, it needs one slab.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import numpy as np

from ..core.errors import InputFileError
from ..core.volume_io import read_header, read_volume

_MET_TYPES = {"MET_UCHAR": "u1", "MET_CHAR": "i1", "MET_USHORT": "u2", "MET_SHORT": "i2",
              "MET_UINT": "u4", "MET_INT": "i4", "MET_ULONG_LONG": "u8", "MET_LONG_LONG": "i8",
              "MET_FLOAT": "f4", "MET_DOUBLE": "f8"}
_READ_BYTES = 4 * 2**20


def _mha_layout(path: Path) -> dict | None:
    """Offset, dtype, compression of a single-file MetaImage; None when not streamable."""
    fields: dict[str, str] = {}
    with open(path, "rb") as f:
        while True:
            line = f.readline(4096)
            if not line:
                return None
            key, sep, value = line.decode("latin-1").partition("=")
            if not sep:
                return None
            fields[key.strip()] = value.strip()
            if key.strip() == "ElementDataFile":
                offset = f.tell()
                break
    if fields.get("ElementDataFile") != "LOCAL" or fields.get("NDims") != "3":
        return None
    if int(fields.get("ElementNumberOfChannels", "1")) != 1:
        return None
    if int(fields.get("HeaderSize", "0")) != 0 or fields.get("ElementType") not in _MET_TYPES:
        return None
    msb = (fields.get("BinaryDataByteOrderMSB", fields.get("ElementByteOrderMSB", "False"))
           .lower() == "true")
    dtype = np.dtype((">" if msb else "<") + _MET_TYPES[fields["ElementType"]])
    size_xyz = [int(n) for n in fields["DimSize"].split()]
    return {"offset": offset, "dtype": dtype, "shape": tuple(size_xyz[::-1]),
            "compressed": fields.get("CompressedData", "False").lower() == "true"}


class _Whole:
    def __init__(self, path: Path) -> None:
        volume = read_volume(path)
        self.array, self.geometry = volume.array, volume.geometry
        self.shape, self.dtype = volume.shape, volume.dtype

    def __getitem__(self, key: slice) -> np.ndarray:
        return self.array[key]


class _MhaStream:
    """Slabs of a single-file MetaImage, decompressed on the fly when compressed."""

    def __init__(self, path: Path, layout: dict, geometry) -> None:
        self.path, self.layout, self.geometry = path, layout, geometry
        self.shape, self.dtype = layout["shape"], layout["dtype"].newbyteorder("=")
        self.slice_bytes = int(np.prod(self.shape[1:])) * layout["dtype"].itemsize
        self._restart()

    def _restart(self) -> None:
        self._file = open(self.path, "rb")  # noqa: SIM115 - kept open between slabs
        self._file.seek(self.layout["offset"])
        self._inflate = zlib.decompressobj() if self.layout["compressed"] else None
        self._tail = b""
        self._next = 0

    def _read(self, nbytes: int) -> bytes:
        if self._inflate is None:
            data = self._file.read(nbytes)
        else:
            parts, got = [], 0
            while got < nbytes:
                if not self._tail:
                    self._tail = self._file.read(_READ_BYTES)
                    if not self._tail:
                        break
                try:
                    part = self._inflate.decompress(self._tail, nbytes - got)
                except zlib.error as exc:
                    raise InputFileError(f"{self.path}: cannot decompress the voxels: "
                                         f"{exc}") from None
                self._tail = self._inflate.unconsumed_tail
                parts.append(part)
                got += len(part)
            data = b"".join(parts)
        if len(data) != nbytes:
            raise InputFileError(f"{self.path}: voxel data ends early: expected "
                                 f"{nbytes} more bytes, found {len(data)}")
        return data

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, _ = key.indices(self.shape[0])
        if start < self._next:
            self._file.close()
            self._restart()
        if start > self._next:
            self._skip(start - self._next)
        n = max(stop - start, 0)
        data = self._read(n * self.slice_bytes)
        self._next = start + n
        slab = np.frombuffer(data, self.layout["dtype"]).reshape(n, *self.shape[1:])
        return slab.astype(self.dtype, copy=False)

    def _skip(self, slices: int) -> None:
        for _ in range(slices):
            self._read(self.slice_bytes)
        self._next += slices

    def close(self) -> None:
        self._file.close()


def open_slabs(path: str | os.PathLike):
    """A slab reader of the volume file ``path`` (see the module docstring).

    Examples
    --------
    >>> import tempfile
    >>> from leg3dus import Volume, write_volume
    >>> p = write_volume(Volume(np.arange(24, dtype=np.uint8).reshape(4, 3, 2)),
    ...                  Path(tempfile.mkdtemp()) / "v.mha")
    >>> open_slabs(p)[1:3].ravel().tolist()
    [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]
    """
    path = Path(path)
    header = read_header(path)  # checks the file is complete and 3D
    if path.suffix.lower() == ".mha" and header.components == 1:
        layout = _mha_layout(path)
        if layout is not None and layout["shape"] == tuple(header.shape) \
                and layout["dtype"].newbyteorder("=") == header.dtype:
            return _MhaStream(path, layout, header.geometry)
    return _Whole(path)
