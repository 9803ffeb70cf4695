"""Freehand compounding: known answers, invariants, torch = numba, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi

from leg3dus.compound import Options, fill_gaussian, fill_holes_plus, reconstruct
from leg3dus.core.errors import GeometryError, OptionError, OutputError
from leg3dus.sweep import HoleFillingElement, PlusConfig, ReconParams, Sequence, write_sequence


def stack_sequence(frames, dz=1.0, pixel=(1.0, 1.0), tilt_deg=0.0, shift=(0.0, 0.0, 0.0)):
    """Frames lying in planes z = i * dz (optionally tilted about x), pixels (col, row)
    along reference (x, y); returns the sequence and its calibration config."""
    n = frames.shape[0]
    probe = np.repeat(np.eye(4)[None], n, axis=0)
    a = np.deg2rad(tilt_deg)
    probe[:, 1:3, 1:3] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    probe[:, :3, 3] = np.asarray(shift)
    probe[:, 2, 3] += np.arange(n) * dz
    calib = np.diag([pixel[0], pixel[1], 1.0, 1.0])
    seq = Sequence(frames, {"ProbeToReference": probe})
    return seq, PlusConfig({("Image", "Probe"): calib})


@pytest.fixture
def frames(rng):
    return rng.integers(1, 256, (4, 9, 7), dtype=np.uint8)


@pytest.mark.parametrize("method", ["pnn", "vnn"])
def test_aligned_frames_give_the_frames_back(frames, method):
    seq, cfg = stack_sequence(frames)
    rec = reconstruct(seq, cfg, ReconParams(compounding_mode="LATEST"),
                      Options(method=method, max_distance_mm=0.4))
    assert rec.volume.shape == frames.shape
    assert np.array_equal(rec.volume.array, frames)
    assert rec.volume.origin == (0.0, 0.0, 0.0)


def test_compounding_modes(frames):
    # two copies of each plane at the same pose: mean of a and b, maximum, latest
    a, b = frames[:2], frames[2:]
    both = np.concatenate([a, b])
    seq, cfg = stack_sequence(both, dz=0.0)
    seq.transforms["ProbeToReference"][2:, 2, 3] = seq.transforms["ProbeToReference"][:2, 2, 3]
    seq.transforms["ProbeToReference"][[1, 3], 2, 3] = 1.0
    got = {}
    for mode in ("MEAN", "MAXIMUM", "LATEST"):
        got[mode] = reconstruct(seq, cfg, ReconParams(compounding_mode=mode)).volume.array
    mean = (a.astype(int) * 256 + 0) // 256  # first insertion
    mean = (b.astype(int) * 256 + mean * 256) // 512
    assert np.array_equal(got["MEAN"], mean)
    assert np.array_equal(got["MAXIMUM"], np.maximum(a, b))
    assert np.array_equal(got["LATEST"], b)


def test_linear_spreads_a_constant_frame(rng):
    frames = np.full((3, 12, 10), 77, np.uint8)
    seq, cfg = stack_sequence(frames, dz=1.3, pixel=(0.7, 0.7), tilt_deg=8)
    rec = reconstruct(seq, cfg, ReconParams(output_spacing=(0.5, 0.5, 0.5),
                                            interpolation="LINEAR"))
    hit = rec.hit > 0
    assert hit.mean() > 0.2
    assert np.all(np.abs(rec.volume.array[hit].astype(int) - 77) <= 1)


def test_clip_rectangle_limits_what_is_inserted(frames):
    seq, cfg = stack_sequence(frames)
    p = ReconParams(compounding_mode="LATEST", clip_rectangle_origin=(2, 3),
                    clip_rectangle_size=(3, 4))
    rec = reconstruct(seq, cfg, p)
    # PLUS keeps columns 2..5 and rows 3..7 (origin + size inclusive), box from them
    assert rec.volume.shape == (4, 5, 4)
    assert np.array_equal(rec.volume.array, frames[:, 3:8, 2:6])


def test_fan_mask_removes_pixels_outside_the_fan():
    frames = np.full((1, 40, 41), 200, np.uint8)
    seq, cfg = stack_sequence(frames)
    p = ReconParams(fan_angles_deg=(-30, 30), fan_origin_pixel=(20, 0),
                    fan_radius_start_pixel=5, fan_radius_stop_pixel=30,
                    output_origin=(0.0, 0.0, 0.0), output_extent=(0, 40, 0, 39, 0, 0))
    vol = reconstruct(seq, cfg, p).volume.array[0]
    assert vol[2, 20] == 0            # inside the start radius
    assert vol[20, 20] == 200         # on the axis, inside the fan
    assert vol[10, 0] == 0 and vol[10, 40] == 0   # outside the angles
    assert vol[38, 20] == 0           # beyond the stop radius


def test_gaussian_fill_matches_scipy(rng):
    vol = rng.integers(0, 256, (12, 10, 11), dtype=np.uint8)
    hit = (rng.random(vol.shape) > 0.4).astype(np.uint8)
    out = fill_gaussian(vol * hit, hit, size_vox=5, sigma_vox=1.2, chunk=4)
    assert np.array_equal(out[hit > 0], vol[hit > 0])
    t = np.exp(-0.5 * (np.arange(-2, 3) / 1.2) ** 2)
    k = np.einsum("i,j,k->ijk", t, t, t)
    num = ndi.correlate((vol * hit).astype(float), k, mode="constant")
    den = ndi.correlate(hit.astype(float), k, mode="constant")
    expect = np.floor(num / np.maximum(den, 1e-12) + 0.5)
    holes = (hit == 0) & (den > 0)
    assert np.abs(out[holes] - expect[holes]).max() <= 1


def test_stick_interpolates_between_two_voxels():
    vol = np.zeros((1, 1, 5), np.uint8)
    acc = np.zeros_like(vol, np.uint16)
    vol[0, 0, 0], vol[0, 0, 4] = 10, 21
    acc[0, 0, [0, 4]] = 256
    out = fill_holes_plus(vol, acc, [HoleFillingElement("STICK", stick_length_limit=9)])
    # PLUS's stick weights: forward value (r + 1) / (f + r + 1), reverse the rest, with f, r
    # the steps to the filled voxels; at x=1: f=3, r=1 -> 0.6 * 10 + 0.4 * 21 = 14.4 -> 14
    assert out[0, 0].tolist() == [10, 14, 16, 18, 21]


def test_torch_path_gives_the_same_volume(rng):
    frames = rng.integers(0, 256, (6, 20, 16), dtype=np.uint8)
    seq, cfg = stack_sequence(frames, dz=0.9, pixel=(0.6, 0.5), tilt_deg=11,
                              shift=(0.3, -0.2, 0.1))
    p = ReconParams(output_spacing=(0.4, 0.4, 0.4))
    a = reconstruct(seq, cfg, p, Options(method="vnn", fill="gaussian"))
    b = reconstruct(seq, cfg, p, Options(method="vnn", fill="gaussian", device="cpu"))
    assert np.array_equal(a.hit, b.hit)
    assert np.array_equal(a.volume.array, b.volume.array)
    assert 0.1 < a.hit.mean() < 0.9
    # slab by slab (as at full size) gives the same volume too
    from leg3dus.compound.pnn import row_segments
    from leg3dus.compound.torch_path import vnn_torch
    from leg3dus.compound.vnn import frame_slabs, voxel_to_frame
    from leg3dus.sweep import image_to_reference

    m, _ = image_to_reference(seq, cfg)
    origin = np.asarray(a.volume.origin[::-1])
    sp = np.asarray(p.output_spacing)
    maps = voxel_to_frame(m, origin, sp)
    dims = np.asarray(a.volume.shape[::-1])
    boxes = frame_slabs(maps, frames.shape[1:], 0.4, origin, sp, dims)
    out, hit = vnn_torch(frames, maps, row_segments(20, 16, p), boxes, a.volume.shape,
                         origin, sp, 0.4, "cpu", slab=3)
    assert np.array_equal(hit, a.hit)


def test_labels_are_never_averaged(rng):
    labels = rng.choice(np.array([0, 100, 150, 200], np.uint8), (5, 14, 12))
    seq, cfg = stack_sequence(labels, dz=0.8, pixel=(0.5, 0.5), tilt_deg=7)
    p = ReconParams(output_spacing=(0.3, 0.3, 0.3))
    for method in ("pnn", "vnn"):
        rec = reconstruct(seq, cfg, p, Options(method=method, fill="gaussian"), labels=True)
        assert set(np.unique(rec.volume.array)) <= {0, 100, 150, 200}
    with pytest.raises(OptionError, match="never averaged"):
        reconstruct(seq, cfg, ReconParams(interpolation="LINEAR"), labels=True)


def test_all_frames_outside_the_extent(frames):
    seq, cfg = stack_sequence(frames)
    p = ReconParams(output_origin=(500.0, 500.0, 500.0), output_extent=(0, 4, 0, 4, 0, 4))
    for method in ("pnn", "vnn"):
        with pytest.raises(GeometryError, match="no frame falls inside the output extent"):
            reconstruct(seq, cfg, p, Options(method=method))


def test_refuses_a_grid_that_does_not_fit(frames):
    seq, cfg = stack_sequence(frames, pixel=(50.0, 50.0))
    with pytest.raises(OutputError, match=r"needs .* GB, only 0.0 GB available"):
        reconstruct(seq, cfg, ReconParams(output_spacing=(0.01, 0.01, 0.01)),
                    Options(max_memory_gb=0.01))


def test_invalid_frames_are_skipped(frames):
    seq, cfg = stack_sequence(frames)
    seq.transform_ok["ProbeToReference"][1] = False
    seq.image_ok[2] = False
    rec = reconstruct(seq, cfg, ReconParams(compounding_mode="LATEST"))
    assert rec.frames_used == 2
    assert not rec.hit[1].any() and not rec.hit[2].any()


def test_cli_compound_and_bad_input(cli, tmp_path, frames):
    from leg3dus.core.volume_io import read_volume
    from leg3dus.sweep import write_config

    seq, cfg = stack_sequence(frames)
    s = write_sequence(seq, tmp_path / "s.igs.mha")
    c = write_config(cfg, tmp_path / "c.xml")
    out = tmp_path / "v.mha"
    r = cli("compound", s, "--config", c, "-o", out, "--compounding", "latest", "--json")
    assert r.exit_code == 0, r.output
    assert np.array_equal(read_volume(out).array, frames)
    bad = tmp_path / "bad.mha"
    r = cli("compound", s, "-o", bad)  # no calibration: no Image-to-Reference chain
    assert r.exit_code == 2 and "no chain of transforms" in r.stderr
    r = cli("compound", s, "--config", c, "-o", bad, "--spacing", "0.001",
            "--max-memory-gb", "0.1")
    assert r.exit_code == 2 and "GB" in r.stderr
    r = cli("compound", s, "--config", c, "-o", bad, "--origin", "900 900 900",
            "--extent", "0 3 0 3 0 3")
    assert r.exit_code == 2 and "no frame falls inside" in r.stderr
    assert not bad.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("kind", ["GAUSSIAN", "GAUSSIAN_ACCUMULATION", "NEAREST_NEIGHBOR",
                                  "DISTANCE_WEIGHT_INVERSE"])
def test_plus_kernels_fill_a_hole_in_a_constant_block(kind):
    vol = np.full((5, 5, 5), 90, np.uint8)
    acc = np.full(vol.shape, 256, np.uint16)
    vol[2, 2, 2], acc[2, 2, 2] = 0, 0
    el = HoleFillingElement(kind, size=3, stdev=1.0, min_ratio=0.5)
    assert fill_holes_plus(vol, acc, [el])[2, 2, 2] == 90
    # too few known voxels for the ratio: this element fails, the next one fills
    acc[1:4, 1:4, 1:4] = 0
    acc[1, 1, 1] = 256
    out = fill_holes_plus(vol, acc, [el, HoleFillingElement(kind, size=5, stdev=1.0)])
    assert out[2, 2, 2] == 90
    assert fill_holes_plus(vol, acc, [el])[2, 2, 2] == 0


def test_cli_grid_options_are_zyx(cli, tmp_path, frames):
    from leg3dus.core.volume_io import read_volume
    from leg3dus.sweep import write_config

    seq, cfg = stack_sequence(frames)
    s = write_sequence(seq, tmp_path / "s.igs.mha")
    c = write_config(cfg, tmp_path / "c.xml")
    out = tmp_path / "crop.mha"
    r = cli("compound", s, "--config", c, "-o", out, "--compounding", "latest",
            "--origin", "1 2 3", "--extent", "0 1 0 3 0 2", "--json")
    assert r.exit_code == 0, r.output
    vol = read_volume(out)
    assert vol.shape == (2, 4, 3) and vol.origin == (1.0, 2.0, 3.0)
    assert np.array_equal(vol.array, frames[1:3, 2:6, 3:6])
    r = cli("compound", s, "--config", c, "-o", tmp_path / "fine.mha", "--spacing", "1 1 0.5",
            "--method", "vnn", "--fill", "gaussian", "--fill-size-vox", "3",
            "--fill-sigma-vox", "0.8", "--max-distance-mm", "0.5", "--json")
    assert r.exit_code == 0, r.output
    assert read_volume(tmp_path / "fine.mha").spacing == (1.0, 1.0, 0.5)


def test_overrides_turn_zyx_and_row_column_into_plus_order():
    from leg3dus.compound import PlusOverrides, parse_hole_element, parse_numbers

    o = PlusOverrides(spacing_mm=(0.5, 0.4, 0.3), origin_mm=(3.0, 2.0, 1.0),
                      extent_vox=(0, 9, 0, 19, 0, 29), clip_origin_px=(5, 7),
                      clip_size_px=(100, 200), fan_origin_px=(0.0, 110.5),
                      interpolation="linear", compounding="max",
                      hole_filling=[parse_hole_element("STICK:sticks_to_use=2")])
    p = o.apply(ReconParams())
    assert p.output_spacing == (0.3, 0.4, 0.5) and p.output_origin == (1.0, 2.0, 3.0)
    assert p.output_extent == (0, 29, 0, 19, 0, 9)
    assert p.clip_rectangle_origin == (7, 5) and p.clip_rectangle_size == (200, 100)
    assert p.fan_origin_pixel == (110.5, 0.0)
    assert (p.interpolation, p.compounding_mode) == ("LINEAR", "MAXIMUM")
    assert p.fill_holes and p.hole_filling[0].sticks_to_use == 2
    assert PlusOverrides().apply(ReconParams()) == ReconParams()
    with pytest.raises(OptionError, match="--extent: expected 6 numbers"):
        parse_numbers("0 1 2", 6, "--extent")
    with pytest.raises(OptionError, match="unknown parameter"):
        parse_hole_element("STICK:length=3")
