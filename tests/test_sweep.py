"""PLUS sequence files, configuration XML and frame poses."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_or_skip

from leg3dus.core.errors import GeometryError, InputFileError
from leg3dus.sweep import (
    HoleFillingElement,
    PlusConfig,
    ReconParams,
    Sequence,
    check_rigid,
    concat_sequences,
    image_to_reference,
    read_config,
    read_sequence,
    write_config,
    write_sequence,
)


def _rot(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    m = np.eye(4)
    m[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return m


def small_sequence(n=3, h=6, w=5, seed=0) -> Sequence:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, h, w), dtype=np.uint8)
    probe = np.stack([_rot(10 * i) for i in range(n)])
    probe[:, :3, 3] = rng.normal(0, 10, (n, 3))
    ok = np.ones(n, bool)
    ok[1] = False
    return Sequence(frames, {"ProbeToReference": probe}, {"ProbeToReference": ok},
                    np.arange(n) * 0.05, np.ones(n, bool), {})


@pytest.mark.parametrize("compress", [True, False])
def test_sequence_round_trip(tmp_path, compress):
    seq = small_sequence()
    path = write_sequence(seq, tmp_path / "s.igs.mha", compress=compress)
    back = read_sequence(path)
    assert np.array_equal(back.frames, seq.frames)
    np.testing.assert_allclose(back.transforms["ProbeToReference"],
                               seq.transforms["ProbeToReference"], atol=1e-8)
    assert back.transform_ok["ProbeToReference"].tolist() == [True, False, True]
    np.testing.assert_allclose(back.timestamps, seq.timestamps)


def test_truncated_and_mismatched_files(tmp_path):
    path = write_sequence(small_sequence(), tmp_path / "s.seq.mha", compress=False)
    raw = path.read_bytes()
    (tmp_path / "cut.mha").write_bytes(raw[:-7])
    with pytest.raises(InputFileError, match="truncated"):
        read_sequence(tmp_path / "cut.mha")
    # a transform missing for one frame: a frame-count mismatch
    text = raw.replace(b"Seq_Frame0002_ProbeToReferenceTransform =", b"Seq_Frame0002_X =")
    (tmp_path / "miss.mha").write_bytes(text)
    with pytest.raises(InputFileError, match="given for 2 of 3 frames"):
        read_sequence(tmp_path / "miss.mha")
    text = raw.replace(b"Seq_Frame0002_Timestamp", b"Seq_Frame0007_Timestamp")
    (tmp_path / "extra.mha").write_bytes(text)
    with pytest.raises(InputFileError, match="names frame 7 but the file holds 3"):
        read_sequence(tmp_path / "extra.mha")
    with pytest.raises(InputFileError, match="no such"):
        read_sequence(tmp_path / "absent.mha")


def test_config_round_trip(tmp_path):
    cfg = PlusConfig({("Image", "Probe"): np.diag([0.2, 0.3, 1.0, 1.0])},
                     ReconParams(output_spacing=(0.5, 0.4, 0.3), clip_rectangle_origin=(1, 2),
                                 clip_rectangle_size=(30, 40), fan_angles_deg=(-30, 30),
                                 fan_origin_pixel=(15, 0), fan_radius_stop_pixel=50,
                                 interpolation="LINEAR", compounding_mode="MAXIMUM",
                                 fill_holes=True,
                                 hole_filling=[HoleFillingElement("GAUSSIAN", 5, 1.5, 0.1),
                                               HoleFillingElement("STICK")]))
    back = read_config(write_config(cfg, tmp_path / "c.xml"))
    assert back.recon == cfg.recon
    np.testing.assert_allclose(back.transforms[("Image", "Probe")],
                               cfg.transforms[("Image", "Probe")])


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text('<PlusConfiguration><VolumeReconstruction OutputSpacing="1 1" />'
                   "</PlusConfiguration>")
    with pytest.raises(InputFileError, match="OutputSpacing needs 3"):
        read_config(bad)
    bad.write_text('<PlusConfiguration><VolumeReconstruction FillHoles="ON"><HoleFilling>'
                   '<HoleFillingElement Type="GAUSSIAN" Size="3"/></HoleFilling>'
                   "</VolumeReconstruction></PlusConfiguration>")
    with pytest.raises(InputFileError, match="lacks Stdev, MinimumKnownVoxelsRatio"):
        read_config(bad)


def test_pose_chain_and_validity():
    seq = small_sequence()
    calib = np.diag([0.2, 0.3, 1.0, 1.0])
    calib[:3, 3] = [1, 2, 3]
    m, ok = image_to_reference(seq, PlusConfig({("Image", "Probe"): calib}))
    np.testing.assert_allclose(m, seq.transforms["ProbeToReference"] @ calib)
    assert ok.tolist() == [True, False, True]
    with pytest.raises(InputFileError, match="no chain of transforms from Image to Reference"):
        image_to_reference(seq, None)


def test_non_rigid_transform_is_refused():
    seq = small_sequence()
    seq.transforms["ProbeToReference"][2, 0, 0] = 1.5
    with pytest.raises(GeometryError, match="frame 2 is not rigid"):
        check_rigid(seq)


def test_concat_checks_shapes():
    a, b = small_sequence(), small_sequence(h=7)
    with pytest.raises(InputFileError, match="frames of"):
        concat_sequences([a, b], ["a", "b"])
    both = concat_sequences([a, small_sequence(seed=1)])
    assert both.n_frames == 6


def test_real_plus_sequence():
    d = shared_or_skip("conformance", "plus")
    seq = read_sequence(d / "data" / "SpinePhantomFreehand.igs.mha")
    assert seq.frames.shape == (21, 616, 820)
    cfg = read_config(d / "config" / "Config_VolumeReconstruction_SpinePhantom_NN_MEAN.xml")
    m, ok = image_to_reference(seq, cfg)
    expected = (np.linalg.inv(seq.transforms["ReferenceToTracker"])
                @ seq.transforms["ProbeToTracker"] @ cfg.transforms[("Image", "Probe")])
    np.testing.assert_allclose(m, expected, atol=1e-9)
    assert ok.all()
    check_rigid(seq)


def test_frames_are_read_in_plus_orientation(tmp_path):
    seq = small_sequence()
    path = write_sequence(seq, tmp_path / "s.igs.mha", compress=False)
    raw = path.read_bytes().replace(b"UltrasoundImageOrientation = MF",
                                    b"UltrasoundImageOrientation = UN")
    (tmp_path / "un.igs.mha").write_bytes(raw)
    back = read_sequence(tmp_path / "un.igs.mha")
    assert np.array_equal(back.frames, seq.frames[:, ::-1, ::-1])


def test_transform_names_split_like_plus():
    from leg3dus.sweep.transforms import split_name

    assert split_name("ToolToTracker") == ("Tool", "Tracker")
    assert split_name("StylusTipToStylus") == ("StylusTip", "Stylus")
    assert split_name("ImageToReference") == ("Image", "Reference")
    assert split_name("Timestamp") is None


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("orientation", ["MF", "UF", "MN", "UN"])
def test_sequence_read_in_small_blocks_and_flipped_in_place(tmp_path, monkeypatch, compress,
                                                            orientation):
    from functools import partial

    from leg3dus.sweep import seqfile

    seq = small_sequence(n=40, h=37, w=29)
    seq.frames[:20] //= 16                        # compressible and not
    path = write_sequence(seq, tmp_path / "s.igs.mha", compress=compress)
    raw = path.read_bytes().replace(b"UltrasoundImageOrientation = MF",
                                    b"UltrasoundImageOrientation = " + orientation.encode())
    path.write_bytes(raw)
    monkeypatch.setattr(seqfile, "_read_into", partial(seqfile._read_into, block=999))
    back = read_sequence(path)
    want = seq.frames[:, :, ::-1] if orientation[0] == "U" else seq.frames
    want = want[:, ::-1] if orientation[1] == "N" else want
    assert np.array_equal(back.frames, want) and back.frames.flags.c_contiguous
    if compress:
        head, data = raw[:raw.index(b"LOCAL\n") + 6], raw[raw.index(b"LOCAL\n") + 6:]
        (tmp_path / "cut.mha").write_bytes(head + data[: len(data) // 2])
        with pytest.raises(InputFileError, match="truncated"):
            read_sequence(tmp_path / "cut.mha")
        (tmp_path / "bad.mha").write_bytes(head + bytes(b ^ 0x5A for b in data))
        with pytest.raises(InputFileError, match="corrupt|truncated"):
            read_sequence(tmp_path / "bad.mha")


@pytest.mark.parametrize("compress", [True, False])
def test_sequence_pixels_in_a_separate_file_and_wider_types(tmp_path, compress):
    seq = small_sequence(n=4, h=9, w=7)
    seq.frames = seq.frames.astype(np.uint16) * 200
    path = write_sequence(seq, tmp_path / "s.mha", compress=compress)
    raw = path.read_bytes()
    at = raw.index(b"ElementDataFile = LOCAL\n")
    (tmp_path / "s.raw").write_bytes(raw[at + len(b"ElementDataFile = LOCAL\n"):])
    (tmp_path / "s.mhd").write_bytes(raw[:at] + b"ElementDataFile = s.raw\n")
    back = read_sequence(tmp_path / "s.mhd")
    assert back.frames.dtype == np.uint16 and np.array_equal(back.frames, seq.frames)


@pytest.mark.parametrize("compress", [True, False])
def test_sequence_pixels_are_held_once(tmp_path, monkeypatch, compress):
    import tracemalloc
    from functools import partial

    from leg3dus.sweep import seqfile

    rng = np.random.default_rng(1)
    seq = small_sequence(n=64, h=128, w=96)
    seq.frames = (rng.random(seq.frames.shape) * 4).astype(np.uint8)   # 786 kB of pixels
    path = write_sequence(seq, tmp_path / "s.igs.mha", compress=compress)
    monkeypatch.setattr(seqfile, "_read_into", partial(seqfile._read_into, block=1 << 16))
    tracemalloc.start()
    try:
        back = read_sequence(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(back.frames, seq.frames)
    assert peak < seq.frames.nbytes + 400_000     # the frames, the header, two blocks
