"""Every reader fed structurally mutated inputs fails only with a one-line Leg3dusError.

Inputs start from a valid file and mutate one or more of its header fields (sizes, voxel
types, spacings, offsets, matrices, compression flags, data-file references, byte
counts, per-frame transforms and their status...) or cut the data short. A reader must
either accept the file or raise a :class:`~leg3dus.core.errors.Leg3dusError` whose message
names the file; anything else (another exception, a hang) fails. The same cases run
10,000 times per reader in ``benchmarks/fuzz_readers.py``.
"""

from __future__ import annotations

import os
import signal
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leg3dus.core.errors import Leg3dusError

#: Examples per reader in the suite; ``benchmarks/fuzz_readers.py`` raises it through
#: the LEG3DUS_FUZZ_EXAMPLES environment variable.
EXAMPLES = int(os.environ.get("LEG3DUS_FUZZ_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
#: Seconds a reader may take on one tiny input before it counts as a hang.
HANG_S = 20

_NUMBERISH = st.sampled_from(["0", "-1", "1e30", "nan", "inf", "-0", "3.5", "abc", "",
                              "1 2", "4294967297", "99999999999", "0x10", "1,5"])


def _field_value(n: int):
    """A mutated value for a header field that holds ``n`` numbers."""
    good = st.lists(st.integers(1, 4).map(str), min_size=n, max_size=n).map(" ".join)
    return st.one_of(
        good,
        st.lists(_NUMBERISH, min_size=0, max_size=n + 2).map(" ".join),
        st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=12),
        st.sampled_from(["2000000000 2000000000 2000000000", "65536 65536 65536",
                         "-4 3 2", "0 0 0", "1 1"]),
    )


def expect_clean(reader, path: Path) -> None:
    """Run ``reader(path)``: success, or a one-line Leg3dusError naming the file."""
    def _hang(signum, frame):
        raise TimeoutError(f"{path.name}: reader still running after {HANG_S} s")

    old = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(HANG_S)
    try:
        reader(path)
    except Leg3dusError as exc:
        message = str(exc)
        # the file itself, or the data file its header names
        assert path.name in message or str(path.parent) in message, \
            f"message does not name the file: {message!r}"
        assert "\n" not in message.strip(), f"message spans lines: {message!r}"
        assert "Traceback" not in message
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="fuzz"))


# --- MetaImage (.mha / .mhd) -----------------------------------------------------------

_META_FIELDS = {
    "ObjectType": 0, "NDims": 1, "DimSize": 3, "ElementType": 0, "ElementSpacing": 3,
    "Offset": 3, "TransformMatrix": 9, "CenterOfRotation": 3, "BinaryData": 0,
    "BinaryDataByteOrderMSB": 0, "CompressedData": 0, "CompressedDataSize": 1,
    "HeaderSize": 1, "ElementNumberOfChannels": 1, "ElementDataFile": 0,
}


@st.composite
def meta_cases(draw):
    """(header text, payload bytes, data-file name or None, extra files) of a MetaImage."""
    shape_xyz = (3, 4, 2)
    voxels = np.arange(int(np.prod(shape_xyz)), dtype=np.uint8).tobytes()
    compress = draw(st.booleans())
    payload = zlib.compress(voxels) if compress else voxels
    fields = {"ObjectType": "Image", "NDims": "3", "BinaryData": "True",
              "BinaryDataByteOrderMSB": "False", "CompressedData": str(compress),
              "TransformMatrix": "1 0 0 0 1 0 0 0 1", "Offset": "0 0 0",
              "CenterOfRotation": "0 0 0", "ElementSpacing": "0.5 0.5 0.5",
              "DimSize": " ".join(map(str, shape_xyz)), "ElementType": "MET_UCHAR"}
    if compress:
        fields["CompressedDataSize"] = str(len(payload))
    for name in draw(st.lists(st.sampled_from(sorted(_META_FIELDS)), max_size=4, unique=True)):
        action = draw(st.sampled_from(["drop", "mutate", "mutate", "duplicate"]))
        if name == "ElementDataFile":
            continue
        if action == "drop":
            fields.pop(name, None)
        elif name == "ElementType":
            fields[name] = draw(st.sampled_from(
                ["MET_UCHAR", "MET_FLOAT", "MET_DOUBLE", "MET_USHORT", "MET_LONG_LONG",
                 "MET_UCHAR_ARRAY", "MET_STRING", "MET_OTHER", "", "uchar"]))
        elif name in ("CompressedData", "BinaryData", "BinaryDataByteOrderMSB"):
            fields[name] = draw(st.sampled_from(["True", "False", "yes", "", "1"]))
        else:
            fields[name] = draw(_field_value(max(_META_FIELDS[name], 1)))
    cut = draw(st.sampled_from([None, None, 0, 1, len(payload) // 2, len(payload) - 1]))
    if cut is not None:
        payload = payload[:cut]
    data = draw(st.sampled_from(["LOCAL", "LOCAL", "LOCAL", "v.raw", "missing.raw",
                                 "../outside.raw", "/etc/hostname", "LIST", "v%03d.raw",
                                 "sub/../../outside.raw"]))
    fields["ElementDataFile"] = data
    order = draw(st.permutations(list(fields)))
    if "ElementDataFile" in order:
        order = [k for k in order if k != "ElementDataFile"] + ["ElementDataFile"]
    header = "".join(f"{k} = {fields[k]}\n" for k in order)
    return header, payload, data


def write_meta_case(case, folder: Path, suffix: str = ".mha") -> Path:
    header, payload, data = case
    inner = folder / "in"
    inner.mkdir(parents=True, exist_ok=True)
    path = inner / f"v{suffix}"
    if data == "LOCAL":
        path.write_bytes(header.encode("utf-8") + payload)
    else:
        path.write_bytes(header.encode("utf-8"))
        if data in ("v.raw",):
            (inner / data).write_bytes(payload)
        elif data.endswith("outside.raw"):
            (folder / "outside.raw").write_bytes(payload)
    return path


def _read_volume(path):
    from leg3dus.core.volume_io import read_volume

    read_volume(path)


def _read_header(path):
    from leg3dus.core.volume_io import read_header

    read_header(path)


@SETTINGS
@given(case=meta_cases(), suffix=st.sampled_from([".mha", ".mhd"]))
def test_metaimage_reader(case, suffix):
    folder = _workdir()
    path = write_meta_case(case, folder, suffix)
    expect_clean(_read_volume, path)
    expect_clean(_read_header, path)


def test_metaimage_outside_reference_refused(tmp_path):
    (tmp_path / "outside.raw").write_bytes(bytes(24))
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "v.mhd"
    path.write_text("ObjectType = Image\nNDims = 3\nDimSize = 3 4 2\nElementType = MET_UCHAR\n"
                    "ElementDataFile = ../outside.raw\n")
    from leg3dus.core.volume_io import read_volume

    with pytest.raises(Leg3dusError, match="outside"):
        read_volume(path)


def test_metaimage_huge_claim_refused_before_reading(tmp_path):
    payload = zlib.compress(bytes(24))
    path = tmp_path / "huge.mha"
    path.write_bytes(b"ObjectType = Image\nNDims = 3\nDimSize = 100000 100000 100000\n"
                     b"ElementType = MET_UCHAR\nCompressedData = True\n"
                     b"ElementDataFile = LOCAL\n" + payload)
    from leg3dus.core.volume_io import read_volume

    with pytest.raises(Leg3dusError, match="huge.mha"):
        read_volume(path)


# --- NRRD ------------------------------------------------------------------------------

@st.composite
def nrrd_cases(draw):
    voxels = np.arange(24, dtype=np.uint8).tobytes()
    fields = {"type": "uint8", "dimension": "3", "sizes": "3 4 2",
              "space": "left-posterior-superior",
              "space directions": "(0.5,0,0) (0,0.5,0) (0,0,0.5)",
              "space origin": "(0,0,0)", "endian": "little", "encoding": "raw"}
    for name in draw(st.lists(st.sampled_from(sorted(fields) + ["data file", "byte skip"]),
                              max_size=4, unique=True)):
        action = draw(st.sampled_from(["drop", "mutate"]))
        if action == "drop":
            fields.pop(name, None)
        elif name == "type":
            fields[name] = draw(st.sampled_from(["uint8", "float", "block", "int64", "x"]))
        elif name == "encoding":
            fields[name] = draw(st.sampled_from(["raw", "gzip", "bzip2", "ascii", "hex", "?"]))
        elif name == "data file":
            fields[name] = draw(st.sampled_from(["v.raw", "../outside.raw", "missing.raw"]))
        elif name in ("space directions", "space origin"):
            fields[name] = draw(st.sampled_from(["(1,0,0) (0,1,0)", "(nan,0,0) (0,1,0) (0,0,1)",
                                                 "none (0,1,0) (0,0,1)", "(0,0,0)", "((", ""]))
        else:
            fields[name] = draw(_field_value(3))
    payload = voxels
    if fields.get("encoding") == "gzip":
        payload = zlib.compress(voxels)
    cut = draw(st.sampled_from([None, None, 0, 5, len(payload) - 1]))
    if cut is not None:
        payload = payload[:cut]
    header = "NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "\n"
    return header, payload, fields.get("data file")


def write_nrrd_case(case, folder: Path) -> Path:
    header, payload, data = case
    inner = folder / "in"
    inner.mkdir(parents=True, exist_ok=True)
    path = inner / "v.nrrd"
    if data is None:
        path.write_bytes(header.encode("utf-8") + payload)
    else:
        path.write_bytes(header.encode("utf-8"))
        if data == "v.raw":
            (inner / data).write_bytes(payload)
        elif data.endswith("outside.raw"):
            (folder / "outside.raw").write_bytes(payload)
    return path


@SETTINGS
@given(case=nrrd_cases())
def test_nrrd_reader(case):
    path = write_nrrd_case(case, _workdir())
    expect_clean(_read_volume, path)


# --- NIfTI -----------------------------------------------------------------------------

@st.composite
def nifti_cases(draw):
    """A NIfTI-1 header (348 bytes) with mutated dims, datatype, pixdim, vox_offset, qform."""
    dims = [3, 3, 4, 2, 1, 1, 1, 1]
    datatype, bitpix = 2, 8
    pixdim = [1.0, 0.5, 0.5, 0.5, 0, 0, 0, 0]
    vox_offset = 352.0
    for name in draw(st.lists(st.sampled_from(["dim", "datatype", "pixdim", "vox_offset",
                                               "magic", "sizeof"]), max_size=3, unique=True)):
        if name == "dim":
            i = draw(st.integers(0, 7))
            dims[i] = draw(st.integers(-32768, 32767))
        elif name == "datatype":
            datatype = draw(st.sampled_from([0, 1, 2, 4, 16, 32, 128, 255, 2304, 1536]))
        elif name == "pixdim":
            pixdim[draw(st.integers(0, 7))] = draw(st.sampled_from(
                [0.0, -1.0, float("nan"), float("inf"), 1e30]))
        elif name == "vox_offset":
            vox_offset = draw(st.sampled_from([0.0, 100.0, 1e9, -5.0, float("nan")]))
    magic = b"n+1\x00"
    sizeof = 348
    head = bytearray(348)
    struct.pack_into("<i", head, 0, sizeof)
    struct.pack_into("<8h", head, 40, *dims)
    struct.pack_into("<hh", head, 70, datatype, bitpix)
    struct.pack_into("<8f", head, 76, *pixdim)
    struct.pack_into("<f", head, 108, vox_offset)
    head[344:348] = magic
    payload = bytes(4) + np.arange(24, dtype=np.uint8).tobytes()
    cut = draw(st.sampled_from([None, None, 0, 10]))
    if cut is not None:
        payload = payload[:cut]
    data = bytes(head) + payload
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return data


@SETTINGS
@given(data=nifti_cases(), gz=st.booleans())
def test_nifti_reader(data, gz):
    import gzip

    folder = _workdir()
    path = folder / ("v.nii.gz" if gz else "v.nii")
    path.write_bytes(gzip.compress(data) if gz else data)
    expect_clean(_read_volume, path)


# --- Slicer .seg.nrrd ------------------------------------------------------------------

@st.composite
def seg_cases(draw):
    header, payload, data = draw(nrrd_cases())
    extra = draw(st.lists(st.sampled_from([
        "Segment0_ID:=Segment_1", "Segment0_Name:=SOL", "Segment0_LabelValue:=1",
        "Segment0_LabelValue:=abc", "Segment0_Layer:=0", "Segment0_Layer:=9",
        "Segment1_ID:=Segment_2", "Segment1_LabelValue:=1", "Segment1_Layer:=0",
        "Segmentation_ReferenceImageExtentOffset:=0 0 0",
        "Segmentation_ReferenceImageExtentOffset:=x y",
        "Segment0_Extent:=0 2 0 3 0 1", "Segment0_Extent:=9 9"]), max_size=6))
    lines = header.rstrip("\n").split("\n") + extra
    return "\n".join(lines) + "\n\n", payload, data


@SETTINGS
@given(case=seg_cases())
def test_seg_nrrd_reader(case):
    folder = _workdir()
    path = write_nrrd_case(case, folder)
    seg = path.with_name("v.seg.nrrd")
    path.rename(seg)
    expect_clean(_read_volume, seg)


# --- PLUS sequence files ---------------------------------------------------------------

_IDENT = "1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"


@st.composite
def sequence_cases(draw):
    w, h, n = 4, 3, 2
    compress = draw(st.booleans())
    voxels = np.arange(w * h * n, dtype=np.uint8).tobytes()
    payload = zlib.compress(voxels) if compress else voxels
    fields = {"ObjectType": "Image", "NDims": "3", "DimSize": f"{w} {h} {n}",
              "ElementType": "MET_UCHAR", "CompressedData": str(compress),
              "UltrasoundImageOrientation": "MF", "ElementNumberOfChannels": "1"}
    frames = {}
    for i in range(n):
        frames[f"Seq_Frame{i:04d}_ProbeToTrackerTransform"] = _IDENT
        frames[f"Seq_Frame{i:04d}_ProbeToTrackerTransformStatus"] = "OK"
        frames[f"Seq_Frame{i:04d}_Timestamp"] = f"{i * 0.1:.3f}"
        frames[f"Seq_Frame{i:04d}_ImageStatus"] = "OK"
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=3, unique=True)):
        if draw(st.booleans()):
            fields.pop(name)
        elif name == "ElementType":
            fields[name] = draw(st.sampled_from(["MET_FLOAT", "MET_DOUBLE", "MET_X", ""]))
        elif name == "UltrasoundImageOrientation":
            fields[name] = draw(st.sampled_from(["UN", "MN", "", "??", "FU"]))
        else:
            fields[name] = draw(_field_value(3 if name == "DimSize" else 1))
    keys = sorted(frames)
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        action = draw(st.sampled_from(["drop", "mutate", "mutate"]))
        if action == "drop":
            frames.pop(key)
        elif key.endswith("Transform"):
            frames[key] = draw(st.one_of(
                st.lists(_NUMBERISH, max_size=17).map(" ".join),
                st.just(_IDENT.replace("1", "nan", 1))))
        else:
            frames[key] = draw(st.sampled_from(["INVALID", "", "ok", "x", "nan", "1e400"]))
    if draw(st.booleans()):
        frames[draw(st.sampled_from(["Seq_Frame0099_ProbeToTrackerTransform",
                                     "Seq_Frame99999999999999999999_Timestamp",
                                     "Seq_Frame0001_XTransformStatus"]))] = _IDENT
    cut = draw(st.sampled_from([None, None, 0, 3, len(payload) - 1]))
    if cut is not None:
        payload = payload[:cut]
    data = draw(st.sampled_from(["LOCAL", "LOCAL", "v.raw", "../outside.raw", "missing.raw"]))
    lines = [f"{k} = {v}" for k, v in {**fields, **frames}.items()]
    lines.append(f"ElementDataFile = {data}")
    header = "\n".join(lines) + "\n"
    if draw(st.integers(0, 9)) == 0:
        header = header[: draw(st.integers(0, len(header)))]
    return header, payload, data


@SETTINGS
@given(case=sequence_cases())
def test_sequence_reader(case):
    from leg3dus.sweep.seqfile import read_sequence

    path = write_meta_case(case, _workdir(), ".igs.mha")
    expect_clean(read_sequence, path)


def test_sequence_outside_reference_refused(tmp_path):
    from leg3dus.sweep.seqfile import read_sequence

    (tmp_path / "outside.raw").write_bytes(bytes(24))
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "s.igs.mha"
    path.write_text("NDims = 3\nDimSize = 4 3 2\nElementType = MET_UCHAR\n"
                    "ElementDataFile = ../outside.raw\n")
    with pytest.raises(Leg3dusError, match="outside"):
        read_sequence(path)


def test_sequence_huge_claim_refused(tmp_path):
    from leg3dus.sweep.seqfile import read_sequence

    path = tmp_path / "s.igs.mha"
    path.write_bytes(b"NDims = 3\nDimSize = 60000 60000 60000\nElementType = MET_UCHAR\n"
                     b"CompressedData = True\nElementDataFile = LOCAL\n" + zlib.compress(bytes(64)))
    with pytest.raises(Leg3dusError, match="s.igs.mha"):
        read_sequence(path)


# --- PLUS XML configuration ------------------------------------------------------------

@st.composite
def plus_config_cases(draw):
    attrs = {"ImageCoordinateFrame": "Image", "ReferenceCoordinateFrame": "Tracker",
             "Interpolation": "NEAREST_NEIGHBOR", "CompoundingMode": "MEAN",
             "OutputSpacing": "0.5 0.5 0.5", "ClipRectangleOrigin": "0 0",
             "ClipRectangleSize": "4 3", "FillHoles": "OFF", "NumberOfThreads": "1",
             "SkipInterval": "1", "FanAnglesDeg": "-10 10", "FanOriginPixel": "2 0",
             "FanRadiusStartPixel": "0", "FanRadiusStopPixel": "3",
             "OutputOrigin": "0 0 0", "OutputExtent": "0 3 0 3 0 3"}
    for name in draw(st.lists(st.sampled_from(sorted(attrs) + ["Optimization", "Bogus"]),
                              max_size=4, unique=True)):
        if draw(st.booleans()):
            attrs.pop(name, None)
        else:
            attrs[name] = draw(st.one_of(_field_value(3), st.sampled_from(
                ["ON", "OFF", "LINEAR", "MAXIMUM", "IMPORTANCE_MASK", "FULL"])))
    rec = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    holes = draw(st.sampled_from([
        "", '<HoleFilling><HoleFillingElement Type="GAUSSIAN" Size="3" Stdev="1" '
            'MinimumKnownVoxelsRatio="0.5"/></HoleFilling>',
        '<HoleFilling><HoleFillingElement Type="NO"/></HoleFilling>',
        '<HoleFilling><HoleFillingElement Type="STICK" StickLengthLimit="x" '
        'NumberOfSticksToUse="1.5"/></HoleFilling>',
        '<HoleFilling><HoleFillingElement Type="GAUSSIAN" Size="1e9" Stdev="nan" '
        'MinimumKnownVoxelsRatio=""/></HoleFilling>']))
    matrix = draw(st.one_of(st.just(_IDENT), st.lists(_NUMBERISH, max_size=17).map(" ".join)))
    transform = draw(st.sampled_from([
        f'<Transform From="Image" To="Probe" Matrix="{matrix}"/>',
        f'<Transform From="Image" Matrix="{matrix}"/>', ""]))
    text = (f"<PlusConfiguration><CoordinateDefinitions>{transform}</CoordinateDefinitions>"
            f"<VolumeReconstruction {rec}>{holes}</VolumeReconstruction></PlusConfiguration>")
    if draw(st.integers(0, 9)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


@SETTINGS
@given(text=plus_config_cases())
def test_plus_config_reader(text):
    from leg3dus.sweep.config import check_params, read_config

    path = _workdir() / "config.xml"
    path.write_text(text)

    def read(p):
        cfg = read_config(p)
        try:
            check_params(cfg.recon)
        except Leg3dusError as exc:  # option errors do not name the file; they name the value
            assert "\n" not in str(exc)

    expect_clean(read, path)


# --- training configuration (TOML) -----------------------------------------------------

_TOML_VALUES = st.sampled_from(["1", "0", "-3", "2.5", '"x"', "true", "[1, 2]", "{a = 1}",
                                "nan", "inf", '"cosine"', "1e400", '""'])
_TOML_KEYS = st.sampled_from(["epochs", "batch_size", "lr", "lr_schedule", "threads",
                              "time_limit", "patch_size", "model", "preset", "bogus", "seed",
                              "folds", "val_every", "kind", "model.channels", "model.depth"])


@SETTINGS
@given(pairs=st.lists(st.tuples(_TOML_KEYS, _TOML_VALUES), max_size=5),
       junk=st.sampled_from(["", "[", "= 1", "a = ", "\x00", "[model]\nx = 1"]))
def test_training_config_reader(pairs, junk):
    from leg3dus.segment.config import load_config

    seen, lines = set(), []
    for key, value in pairs:
        if key not in seen:
            seen.add(key)
            lines.append(f"{key} = {value}")
    path = _workdir() / "train.toml"
    path.write_text("\n".join(lines) + "\n" + junk)
    expect_clean(load_config, path)


# --- CSV tables: morphology participants, agree ----------------------------------------

_CELLS = st.sampled_from(["S01", "S02", "", "12.5", "-1", "nan", "x", '"', '"a,b"', "F",
                          "left", "1e400", "\t", " ", "\u00e9"])
_HEADS = st.sampled_from(["subject", "participant_id", "id", "volume_cm3", "sex", "side",
                          "rater", "session", "", "subject", "muscle", "\ufeffsubject"])


@st.composite
def csv_cases(draw):
    head = draw(st.lists(_HEADS, min_size=0, max_size=5))
    rows = draw(st.lists(st.lists(_CELLS, min_size=0, max_size=6), max_size=5))
    text = "\n".join(",".join(r) for r in [head, *rows])
    raw = text.encode("utf-8")
    if draw(st.integers(0, 5)) == 0:
        raw += draw(st.sampled_from([b"\xff\xfe", b"\x00\x00", b"\xc3"]))
    return raw


@SETTINGS
@given(raw=csv_cases(), tsv=st.booleans())
def test_participants_reader(raw, tsv):
    from leg3dus.morphology import read_participants

    path = _workdir() / ("participants.tsv" if tsv else "participants.csv")
    path.write_bytes(raw.replace(b",", b"\t") if tsv else raw)
    expect_clean(read_participants, path)


@SETTINGS
@given(raw=csv_cases())
def test_agree_table_reader(raw):
    from leg3dus.agree.table import read_table

    path = _workdir() / "measures.csv"
    path.write_bytes(raw)
    expect_clean(lambda p: read_table(p, ["volume_cm3"]), path)


def test_metaimage_huge_ndims_refused_before_itk(tmp_path):
    # ITK's MetaImage reader sizes arrays from NDims before checking it, and crashes
    path = tmp_path / "ndims.mha"
    path.write_bytes(b"ObjectType = Image\nNDims = 2000000000\nDimSize = 3 4 2\n"
                     b"ElementType = MET_UCHAR\nElementDataFile = LOCAL\n" + bytes(24))
    from leg3dus.core.volume_io import read_volume

    with pytest.raises(Leg3dusError, match="NDims"):
        read_volume(path)


@pytest.mark.parametrize("reference", ["LIST\n../outside.raw", "../out%d.raw 1 2 1",
                                       "/etc/hostname"])
def test_nrrd_outside_reference_refused(tmp_path, reference):
    (tmp_path / "in").mkdir()
    path = tmp_path / "in" / "v.nhdr"
    path.write_text("NRRD0004\ntype: uint8\ndimension: 3\nsizes: 3 4 2\nencoding: raw\n"
                    f"data file: {reference}\n")
    from leg3dus.core.volume_io import read_volume

    with pytest.raises(Leg3dusError, match="outside"):
        read_volume(path)


def test_long_run_findings_stay_fixed(tmp_path):
    """Inputs the long run (benchmarks/fuzz_readers.py) found: a sequence whose data-file
    name holds a NUL byte, and a PLUS configuration with an infinite clip origin."""
    from leg3dus.sweep import read_config, read_sequence

    seq = tmp_path / "s.igs.mha"
    seq.write_bytes(b"ObjectType = Image\nNDims = 3\nDimSize = 4 3 2\nElementType = MET_UCHAR\n"
                    b"ElementDataFile =\x00\x01\x02\n" + bytes(24))
    expect_clean(read_sequence, seq)
    cfg = tmp_path / "c.xml"
    cfg.write_text('<PlusConfiguration><CoordinateDefinitions><Transform From="Image" '
                   'To="Probe" Matrix="1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1"/>'
                   '</CoordinateDefinitions><VolumeReconstruction ImageCoordinateFrame='
                   '"Image" ReferenceCoordinateFrame="Tracker" OutputSpacing="0.5 0.5 0.5" '
                   'ClipRectangleOrigin="0 inf" ClipRectangleSize="4 3" OutputOrigin="0 0 0" '
                   'OutputExtent="0 3 0 3 0 3"/></PlusConfiguration>')
    with pytest.raises(Leg3dusError, match="finite"):
        read_config(cfg)
