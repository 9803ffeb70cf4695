"""Read and write PLUS sequence files (``.igs.mha`` / ``.seq.mha``): tracked 2D frames.

A sequence file is a MetaImage whose third axis lists frames. Per-frame fields follow
the header lines ``Seq_FrameNNNN_<Name> = value``: ``<From>To<To>Transform`` (16 numbers,
row-major, mm), ``<From>To<To>TransformStatus`` (OK / INVALID), ``Timestamp`` and
``ImageStatus``. Frames are held as a uint8 array of shape (n, height, width): row
``j`` of a frame is image row ``j`` (pixel y), column ``i`` pixel x, as PLUS indexes them.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputFileError
from ..core.integrity import MAX_DEFLATE_RATIO as _MAX_RATIO
from ..core.integrity import inside_folder

_ETYPES = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16,
           "MET_SHORT": np.int16, "MET_FLOAT": np.float32}
_FIELD = re.compile(r"^Seq_Frame(\d+)_(\w+)$")


@dataclass
class Sequence:
    """Tracked frames: pixels, per-frame transforms with their status, timestamps.

    ``frames`` is (n, height, width); ``transforms[name]`` is (n, 4, 4) float64 with
    ``name`` like ``"ProbeToTracker"``; ``transform_ok[name]`` and ``image_ok`` are (n,)
    booleans; ``timestamps`` is (n,) seconds; ``header`` keeps other header fields.

    Examples
    --------
    >>> seq = Sequence(np.zeros((2, 4, 5), np.uint8))
    >>> seq.n_frames, seq.frame_shape
    (2, (4, 5))
    """

    frames: np.ndarray
    transforms: dict[str, np.ndarray] = field(default_factory=dict)
    transform_ok: dict[str, np.ndarray] = field(default_factory=dict)
    timestamps: np.ndarray | None = None
    image_ok: np.ndarray | None = None
    header: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.frames.shape[0]
        if self.timestamps is None:
            self.timestamps = np.arange(n, dtype=np.float64)
        if self.image_ok is None:
            self.image_ok = np.ones(n, bool)
        for name in self.transforms:
            self.transform_ok.setdefault(name, np.ones(n, bool))

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.frames.shape[1:])


def _parse_header(raw: bytes, path: Path) -> tuple[dict[str, str], int]:
    start = 0
    fields: dict[str, str] = {}
    while True:
        end = raw.find(b"\n", start)
        if end < 0:
            raise InputFileError(f"{path}: no 'ElementDataFile' line; not a MetaImage sequence")
        line = raw[start:end].decode("latin-1").strip()
        start = end + 1
        if not line or "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        fields[key] = value
        if key == "ElementDataFile":
            return fields, start


def _read_header_bytes(path: Path) -> bytes:
    """The file's bytes up to and including the ``ElementDataFile`` line."""
    data = b""
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            data += chunk
            at = data.find(b"ElementDataFile")
            if at >= 0 and data.find(b"\n", at) >= 0:
                return data[:data.find(b"\n", at) + 1]
            if not chunk:
                return data


def read_sequence(path: str | os.PathLike, pixels: bool = True) -> Sequence:
    """Read a PLUS sequence file (compressed or not, data inline or in a separate file).

    ``pixels=False`` reads the header only (poses, statuses, timestamps): ``frames`` is
    then a read-only array of zeros of the right shape and type that takes no memory.

    Examples
    --------
    >>> seq = read_sequence("SpinePhantomFreehand.igs.mha")  # doctest: +SKIP
    >>> seq.frames.shape, sorted(seq.transforms)             # doctest: +SKIP
    ((21, 616, 820), ['ProbeToTracker', 'ReferenceToTracker', 'StylusToTracker'])
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such sequence file")
    raw = _read_header_bytes(path)
    fields, offset = _parse_header(raw, path)
    del raw
    try:
        dims = [int(v) for v in fields["DimSize"].split()]
        dtype = np.dtype(_ETYPES[fields.get("ElementType", "MET_UCHAR")])
        if len(dims) not in (2, 3) or min(dims[:2]) < 1 or min(dims) < 0:
            raise ValueError
    except (KeyError, ValueError):
        raise InputFileError(
            f"{path}: expected DimSize (2 or 3 positive sizes) and a supported ElementType "
            f"({', '.join(_ETYPES)}), found {fields.get('DimSize')!r}, "
            f"{fields.get('ElementType')!r}") from None
    if fields.get("ElementNumberOfChannels", "1").strip() != "1":
        raise InputFileError(f"{path}: expected one channel per pixel, found "
                             f"{fields['ElementNumberOfChannels']!r}")
    if len(dims) == 2:
        dims.append(1)
    width, height, n = dims[0], dims[1], dims[2]
    expected = width * height * n * dtype.itemsize
    data_file = fields["ElementDataFile"]
    source, start = (path, offset) if data_file == "LOCAL" else (_external(path, data_file), 0)
    stored = source.stat().st_size - start
    if expected > _MAX_RATIO * max(stored, 0):  # refused before any memory is taken
        raise InputFileError(f"{path}: DimSize claims {expected} bytes of pixels but the "
                             f"file holds {stored}; expected a header that matches its data")
    if not pixels:
        frames = np.broadcast_to(np.zeros((), dtype), (n, height, width))
        fields["UltrasoundImageOrientation"] = "MF"
        return _sequence_from_fields(frames, fields, path)
    # The pixels are read (and inflated) straight into the frame array: one copy in memory.
    frames = np.empty((n, height, width), dtype)
    compressed = fields.get("CompressedData", "False").lower() == "true"
    got = _read_into(source, start, memoryview(frames.reshape(-1).view(np.uint8)), compressed,
                     path)
    if got < expected:
        raise InputFileError(f"{path}: truncated pixel data; expected {expected} bytes for "
                             f"{n} frames of {width}x{height}, found {got}")
    # PLUS works on MF frames (columns toward the probe's marked side, rows away from the
    # transducer); U(nmarked) or N(ear) frames are flipped into MF on reading, as PLUS does,
    # one frame at a time in place.
    orient = fields.get("UltrasoundImageOrientation", "MF").upper()
    flip = (slice(None), slice(None, None, -1) if orient[:1] == "U" else slice(None))
    if orient[1:2] == "N":
        flip = (slice(None, None, -1), flip[1])
    if flip != (slice(None), slice(None)):
        for frame in frames:
            frame[...] = frame[flip].copy()
    fields["UltrasoundImageOrientation"] = "MF"
    return _sequence_from_fields(frames, fields, path)


def _read_into(source: Path, start: int, buffer: memoryview, compressed: bool,
               path: Path, block: int = 1 << 22) -> int:
    """Fill ``buffer`` with the pixel bytes of ``source`` from byte ``start`` (inflating
    zlib data as it streams, ``block`` bytes of file at a time); returns the bytes filled."""
    filled = 0
    with open(source, "rb") as fh:
        fh.seek(start)
        if not compressed:
            while filled < len(buffer):
                got = fh.readinto(buffer[filled:])
                if not got:
                    break
                filled += got
            return filled
        inflate = zlib.decompressobj()
        try:
            while filled < len(buffer) and not inflate.eof:
                data = inflate.unconsumed_tail or fh.read(block)
                if not data:
                    break
                chunk = inflate.decompress(data, min(len(buffer) - filled, block))
                buffer[filled:filled + len(chunk)] = chunk
                filled += len(chunk)
        except zlib.error as exc:
            raise InputFileError(f"{path}: compressed pixel data is corrupt ({exc})") from None
    return filled


def _external(path: Path, name: str) -> Path:
    data = inside_folder(path, name)
    if not data.is_file():
        raise InputFileError(f"{path}: its pixel data file {data} is missing")
    return data


def _sequence_from_fields(frames: np.ndarray, fields: dict[str, str], path: Path) -> Sequence:
    n = frames.shape[0]
    transforms: dict[str, np.ndarray] = {}
    status: dict[str, np.ndarray] = {}
    timestamps = np.full(n, np.nan)
    image_ok = np.ones(n, bool)
    header = {}
    for key, value in fields.items():
        m = _FIELD.match(key)
        if not m:
            header[key] = value
            continue
        idx, name = int(m.group(1)), m.group(2)
        if idx >= n:
            raise InputFileError(f"{path}: field {key} names frame {idx} but the file holds "
                                 f"{n} frames")
        if name.endswith("TransformStatus"):
            tname = name[: -len("TransformStatus")]
            status.setdefault(tname, np.ones(n, bool))[idx] = value.upper() == "OK"
        elif name.endswith("Transform"):
            tname = name[: -len("Transform")]
            numbers = value.split()
            if len(numbers) != 16:
                raise InputFileError(f"{path}: {key} needs 16 numbers, found {len(numbers)}")
            arr = transforms.setdefault(tname, np.full((n, 4, 4), np.nan))
            arr[idx] = _floats(numbers, key, path)
        elif name == "Timestamp":
            timestamps[idx] = _floats([value], key, path)[0]
        elif name == "ImageStatus":
            image_ok[idx] = value.upper() == "OK"
    for tname, arr in transforms.items():
        missing = np.isnan(arr).any(axis=(1, 2))
        if missing.any():
            raise InputFileError(
                f"{path}: {tname}Transform is given for {n - int(missing.sum())} of {n} "
                f"frames (first missing: frame {int(np.argmax(missing))}); expected one per "
                f"frame")
        status.setdefault(tname, np.ones(n, bool))
    return Sequence(frames, transforms, status, timestamps, image_ok, header)


def _floats(numbers: list[str], key: str, path: Path) -> np.ndarray:
    try:
        values = np.asarray([float(v) for v in numbers], np.float64)
    except ValueError:
        raise InputFileError(f"{path}: {key} must be numbers, found "
                             f"{' '.join(numbers)!r}") from None
    if not np.isfinite(values).all():
        raise InputFileError(f"{path}: {key} must be finite numbers, found "
                             f"{' '.join(numbers)!r}")
    return values.reshape(4, 4) if len(values) == 16 else values


def concat_sequences(seqs: list[Sequence], names: list[str] | None = None) -> Sequence:
    """One sequence holding the frames of ``seqs`` in order (same frame size and transforms).

    Examples
    --------
    >>> both = concat_sequences([read_sequence(a), read_sequence(b)])  # doctest: +SKIP
    """
    names = names or [f"sequence {i + 1}" for i in range(len(seqs))]
    first = seqs[0]
    for seq, name in zip(seqs[1:], names[1:], strict=True):
        if seq.frame_shape != first.frame_shape or seq.frames.dtype != first.frames.dtype:
            raise InputFileError(
                f"{name}: frames of {seq.frame_shape} {seq.frames.dtype}, expected "
                f"{first.frame_shape} {first.frames.dtype} as in {names[0]}")
        if set(seq.transforms) != set(first.transforms):
            raise InputFileError(
                f"{name}: transforms {sorted(seq.transforms)}, expected "
                f"{sorted(first.transforms)} as in {names[0]}")
    return Sequence(
        np.concatenate([s.frames for s in seqs]),
        {k: np.concatenate([s.transforms[k] for s in seqs]) for k in first.transforms},
        {k: np.concatenate([s.transform_ok[k] for s in seqs]) for k in first.transforms},
        np.concatenate([s.timestamps for s in seqs]),
        np.concatenate([s.image_ok for s in seqs]), dict(first.header))


def write_sequence(seq: Sequence, path: str | os.PathLike, compress: bool = True) -> Path:
    """Write ``seq`` as a PLUS sequence file (atomically); ``compress`` uses zlib.

    Examples
    --------
    >>> write_sequence(seq, "sweep1.igs.mha")  # doctest: +SKIP
    """
    path = Path(path)
    n, h, w = seq.frames.shape
    inverse = {np.dtype(v): k for k, v in _ETYPES.items()}
    etype = inverse.get(seq.frames.dtype)
    if etype is None:
        raise InputFileError(f"{path}: cannot write frames of type {seq.frames.dtype}")
    payload = np.ascontiguousarray(seq.frames).tobytes()
    if compress:
        payload = zlib.compress(payload, 1)
    lines = ["ObjectType = Image", "NDims = 3", "AnatomicalOrientation = RAI",
             "BinaryData = True", "BinaryDataByteOrderMSB = False",
             "CenterOfRotation = 0 0 0", f"CompressedData = {compress}"]
    if compress:
        lines.append(f"CompressedDataSize = {len(payload)}")
    lines += [f"DimSize = {w} {h} {n}", "Kinds = domain domain list",
              "ElementSpacing = 1 1 1", f"ElementType = {etype}", "Offset = 0 0 0",
              "TransformMatrix = 1 0 0 0 1 0 0 0 1",
              f"UltrasoundImageOrientation = {seq.header.get('UltrasoundImageOrientation', 'MF')}"]
    for i in range(n):
        for name, arr in seq.transforms.items():
            nums = " ".join(f"{v:.10g}" for v in arr[i].ravel())
            lines.append(f"Seq_Frame{i:04d}_{name}Transform = {nums}")
            ok = seq.transform_ok[name][i]
            lines.append(f"Seq_Frame{i:04d}_{name}TransformStatus = {'OK' if ok else 'INVALID'}")
        lines.append(f"Seq_Frame{i:04d}_Timestamp = {seq.timestamps[i]:.6f}")
        lines.append(f"Seq_Frame{i:04d}_ImageStatus = {'OK' if seq.image_ok[i] else 'INVALID'}")
    lines.append("ElementDataFile = LOCAL")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(("\n".join(lines) + "\n").encode("ascii"))
            fh.write(payload)
    return path
