"""PLUS's remaining reconstruction options: Optimization levels, IMPORTANCE_MASK,
PixelRejectionThreshold, SkipInterval, fan-angle auto-detection, pixel types, statuses.

Known answers are worked out by hand from IGSIO's arithmetic (files and functions named
in the modules under test)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import SimpleITK as sitk
from conftest import shared_or_skip

from leg3dus.compound import reconstruct
from leg3dus.compound.fan_detect import detect_fan_angles
from leg3dus.compound.pnn import paste_frames, row_segments
from leg3dus.compound.pnn_nn import unoptimized_mask
from leg3dus.core.errors import InputFileError, OptionError
from leg3dus.sweep import (
    PlusConfig,
    ReconParams,
    Sequence,
    read_config,
    read_sequence,
    write_config,
)

LEVELS = ("FULL", "PARTIAL", "NONE")


def _paste(frames, mats, shape, level, compounding="mean", interp="nearest", imp=None,
           thr=None, p=None, dtype=None):
    frames = np.asarray(frames)
    h, w = frames.shape[1:]
    p = p or ReconParams()
    out = np.zeros(shape, dtype or frames.dtype)
    acc = np.zeros(shape, np.uint16)
    seg = row_segments(h, w, p)
    mask = unoptimized_mask(h, w, (0, w - 1, 0, h - 1), None)
    paste_frames(frames, np.asarray(mats, np.float64), seg, out, acc, interp, compounding,
                 level, imp, thr, mask)
    return out, acc


def _shift(x=0.0, y=0.0, z=0.0):
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def test_full_rounds_the_matrix_to_fixed_point_partial_and_none_do_not():
    # pixel (0, 0) lands at x = 0.49999: doubles round to voxel 0; FULL first rounds the
    # matrix to 2**-14 (0.49999 -> 8192/16384 = 0.5) and then up, to voxel 1.
    frames = np.full((1, 1, 1), 50, np.uint8)
    mats = [_shift(x=0.49999)]
    for level, voxel in (("FULL", 1), ("PARTIAL", 0), ("NONE", 0)):
        out, _ = _paste(frames, mats, (1, 1, 2), level)
        assert out[0, 0].tolist() == [50 if i == voxel else 0 for i in range(2)], level


def test_maximum_accumulates_only_on_the_unoptimized_path():
    frames = np.array([[[10]], [[30]]], np.uint8)
    mats = [np.eye(4), np.eye(4)]
    for level, acc_value in (("FULL", 256), ("PARTIAL", 256), ("NONE", 512)):
        out, acc = _paste(frames, mats, (1, 1, 1), level, "maximum")
        assert (out.item(), acc.item()) == (30, acc_value), level


def test_fan_border_pixels_none_keeps_optimized_drops():
    # fan of +-40 deg from (4, 0), row 4: the fan spans x = 4 -+ 3.356. NONE keeps every
    # pixel inside (columns 1..7); the optimized rows run from ceil(4 - 3.356 + 1) = 2 to
    # floor(4 + 3.356 - 1) = 6, one pixel in from each side.
    p = ReconParams(fan_angles_deg=(-40.0, 40.0), fan_origin_pixel=(4.0, 0.0),
                    fan_radius_start_pixel=0.0, fan_radius_stop_pixel=100.0)
    seg = row_segments(5, 9, p)
    assert seg[4, :2].tolist() == [2, 6]
    t = np.tan(np.radians(40.0))
    mask = unoptimized_mask(5, 9, (0, 8, 0, 4), (-t, t, 4.0, 0.0, 0.0, 100.0))
    assert np.flatnonzero(mask[4]).tolist() == [1, 2, 3, 4, 5, 6, 7]


def test_linear_mean_in_doubles():
    # one pixel of 100 at x = 0.25: weights 0.75 and 0.25; each voxel's mean is 100 and
    # its accumulation Round(256 * weight) = 192 and 64.
    frames = np.full((1, 1, 1), 100, np.uint8)
    for level in ("PARTIAL", "NONE"):
        out, acc = _paste(frames, [_shift(x=0.25)], (1, 1, 2), level, interp="linear")
        assert out[0, 0].tolist() == [100, 100] and acc[0, 0].tolist() == [192, 64]
    # a second pixel of 0 at x = 0.5: voxel 0 -> Round((0.5 * 0 + 0.75 * 100) / 1.25) = 60
    frames = np.array([[[100]], [[0]]], np.uint8)
    out, acc = _paste(frames, [_shift(x=0.25), _shift(x=0.5)], (1, 1, 2), "PARTIAL",
                      interp="linear")
    assert out[0, 0].tolist() == [60, 33] and acc[0, 0].tolist() == [320, 192]


@pytest.mark.parametrize("level", LEVELS)
def test_importance_mask_weights_the_mean(level):
    # 100 with weight 200, then 10 with weight 50 into one voxel:
    # (10 * 50 + 100 * 200) / 250 = 82 (integer division), accumulation 250
    frames = np.array([[[100]], [[10]]], np.uint8)
    imp = [np.array([[200]], np.uint8), np.array([[50]], np.uint8)]
    out = np.zeros((1, 1, 1), np.uint8)
    acc = np.zeros((1, 1, 1), np.uint16)
    seg = row_segments(1, 1, ReconParams())
    for i in range(2):
        paste_frames(frames[i:i + 1], np.eye(4)[None], seg, out, acc, "nearest",
                     "importance_mask", level, imp[i], None, np.ones((1, 1), bool))
    assert (out.item(), acc.item()) == (82, 250)


def test_importance_zero_weight_leaves_the_row_on_the_optimized_paths():
    # row 0 weights 5 0 5 5: the optimized helpers stop at the 0 without moving their
    # pointers, so row 1 is read 3 pixels early: its first pixel meets the same 0 weight
    # again and the rest of the frame is lost, as IGSIO's source implies.
    frames = np.array([[[10, 20, 30, 40], [50, 60, 70, 80]]], np.uint8)
    imp = np.array([[5, 0, 5, 5], [5, 5, 5, 5]], np.uint8)
    mats = [np.eye(4)]
    for level in ("FULL", "PARTIAL"):
        out, acc = _paste(frames, mats, (1, 2, 4), level, "importance_mask", imp=imp)
        assert out[0, 0].tolist() == [10, 0, 0, 0], level
        assert out[0, 1].tolist() == [0, 0, 0, 0], level
        assert acc[0].tolist() == [[5, 0, 0, 0], [0, 0, 0, 0]], level
    out, acc = _paste(frames, mats, (1, 2, 4), "NONE", "importance_mask", imp=imp)
    assert out[0, 0].tolist() == [10, 0, 30, 40] and out[0, 1].tolist() == [50, 60, 70, 80]
    assert acc[0, 0].tolist() == [5, 0, 5, 5]


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("interp", ["nearest", "linear"])
def test_pixel_rejection_threshold(level, interp):
    frames = np.array([[[5, 200], [9, 10]]], np.uint8)
    out, acc = _paste(frames, [np.eye(4)], (1, 3, 3), level, interp=interp, thr=10)
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 0 and acc[0, 0, 0] == 0
    assert out[0, 0, 1] == 200 and out[0, 1, 1] == 10


@pytest.mark.parametrize("level", LEVELS)
def test_int16_mean_truncates_toward_zero_like_c(level):
    # (-4 * 256 + -3 * 256) / 512 = -3.5 -> -3 in C (Python's floor would give -4)
    frames = np.array([[[-3]], [[-4]]], np.int16)
    out, acc = _paste(frames, [np.eye(4)] * 2, (1, 1, 1), level)
    assert out.dtype == np.int16 and out.item() == -3 and acc.item() == 512


@pytest.mark.parametrize("level", LEVELS)
def test_float32_mean_is_not_truncated(level):
    frames = np.array([[[1.0]], [[2.0]]], np.float32)
    out, _ = _paste(frames, [np.eye(4)] * 2, (1, 1, 1), level)
    assert out.dtype == np.float32 and out.item() == 1.5
    out, _ = _paste(frames, [_shift(x=0.25)] * 2, (1, 1, 2), "PARTIAL" if level == "FULL"
                    else level, interp="linear")
    np.testing.assert_allclose(out[0, 0], [1.5, 1.5], rtol=1e-6)


# ---- through reconstruct(): grid, statuses, skip interval, mask files, errors ---------

def _sequence(n=6, h=4, w=5, dtype=np.uint8):
    frames = (np.arange(n * h * w).reshape(n, h, w) % 200 + 20).astype(dtype)
    mats = np.stack([_shift(z=2.0 * i) for i in range(n)])
    return Sequence(frames, {"ImageToReference": mats})


def _params(**kw):
    return ReconParams(output_spacing=(1.0, 1.0, 1.0), **kw)


def test_skip_interval_inserts_every_kth_frame_on_the_full_grid():
    seq = _sequence()
    full = reconstruct(seq, None, _params())
    skip = reconstruct(seq, None, _params(skip_interval=2))
    assert skip.volume.shape == full.volume.shape and skip.frames_used == 3
    assert (skip.hit[::2] > 0).sum(axis=(1, 2))[::2].all()  # frames 0, 2, 4 at z 0, 4, 8
    assert not skip.hit[2].any() and full.hit[2].any()  # frame 1 (z = 2) skipped


def test_transform_and_image_status_invalid_frames_are_not_inserted():
    seq = _sequence()
    seq.transform_ok["ImageToReference"][1] = False
    seq.image_ok[3] = False
    rec = reconstruct(seq, None, _params())
    assert rec.frames_used == 4
    assert not rec.hit[2].any() and not rec.hit[6].any() and rec.hit[4].any()


def test_pixel_types_follow_the_frames_float_full_linear_mean_is_refused():
    for dtype in (np.int16, np.float32):
        for level in LEVELS:
            rec = reconstruct(_sequence(dtype=dtype), None, _params(
                optimization=level, interpolation="LINEAR",
                compounding_mode="MAXIMUM" if dtype == np.float32 else "MEAN"))
            assert rec.volume.array.dtype == dtype
        assert reconstruct(_sequence(dtype=dtype), None, _params()).volume.array.dtype == dtype
    with pytest.raises(OptionError, match="MEAN compounding need Optimization PARTIAL or NONE"):
        reconstruct(_sequence(dtype=np.float32), None, _params(interpolation="LINEAR"))


def test_importance_mask_file_png_and_mha(tmp_path):
    seq = _sequence()
    weights = np.full((4, 5), 7, np.uint8)
    weights[:, 0] = 0
    for name in ("mask.png", "mask.mha"):
        sitk.WriteImage(sitk.GetImageFromArray(weights), str(tmp_path / name))
        rec = reconstruct(seq, None, _params(compounding_mode="IMPORTANCE_MASK",
                                             optimization="NONE",
                                             importance_mask=str(tmp_path / name)))
        assert rec.hit[0, :, 0].tolist() == [0, 0, 0, 0] and rec.hit[0, 0, 1] == 7
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((3, 3), np.uint8)), str(tmp_path / "s.png"))
    with pytest.raises(InputFileError, match=r"s\.png.*5 x 4.*found 3 x 3"):
        reconstruct(seq, None, _params(compounding_mode="IMPORTANCE_MASK",
                                       importance_mask=str(tmp_path / "s.png")))


def test_config_reads_and_writes_the_new_attributes(tmp_path):
    p = _params(optimization="PARTIAL", pixel_rejection_threshold=12.5, skip_interval=3,
                compounding_mode="IMPORTANCE_MASK", importance_mask=str(tmp_path / "m.png"),
                fan_angles_auto_detect=True, fan_angles_deg=(-20.0, 20.0))
    path = write_config(PlusConfig(recon=p), tmp_path / "c.xml")
    q = read_config(path).recon
    assert (q.optimization, q.pixel_rejection_threshold, q.skip_interval) == ("PARTIAL", 12.5, 3)
    assert q.importance_mask == str(tmp_path / "m.png") and q.fan_angles_auto_detect
    text = path.read_text().replace('ImportanceMaskFilename="', 'Other="')
    (tmp_path / "bad.xml").write_text(text)
    with pytest.raises(InputFileError, match="bad.xml.*ImportanceMaskFilename"):
        read_config(tmp_path / "bad.xml")
    (tmp_path / "opt.xml").write_text(path.read_text().replace('"PARTIAL"', '"FAST"'))
    with pytest.raises(InputFileError, match="Optimization must be one of FULL, PARTIAL, NONE"):
        read_config(tmp_path / "opt.xml")


def test_fan_auto_detect_skips_empty_frames_and_narrows_the_fan():
    p = _params(fan_angles_deg=(-40.0, 40.0), fan_origin_pixel=(30.0, 0.0),
                fan_radius_start_pixel=2.0, fan_radius_stop_pixel=60.0,
                fan_detect_filter_radius_pixel=2)
    rows, cols = np.mgrid[0:60, 0:61]
    theta = np.degrees(np.arctan2(cols - 30, rows))
    frame = np.where(np.abs(theta) < 15, 150, 0).astype(np.uint8)
    left, right = detect_fan_angles(frame, p)
    assert -22 < left < -12 and 12 < right < 22  # the 15 deg edges, +- the window
    frames = np.stack([frame, np.zeros_like(frame), frame])
    seq = Sequence(frames, {"ImageToReference": np.stack([_shift(z=i) for i in range(3)])})
    auto = reconstruct(seq, None, dataclasses.replace(p, fan_angles_auto_detect=True))
    fixed = reconstruct(seq, None, p)
    assert auto.frames_used == 2 and fixed.frames_used == 3
    assert 0 < (auto.hit[0] > 0).sum() < (fixed.hit[0] > 0).sum()


@pytest.fixture(scope="module")
def spine():
    d = shared_or_skip("conformance", "plus")
    cfg = read_config(d / "config" / "Config_VolumeReconstruction_SpinePhantom_NN_MEAN.xml")
    return read_sequence(d / "data" / "SpinePhantomFreehand.igs.mha"), cfg


def test_levels_on_the_spine_sweep_differ_where_rounding_moves_a_pixel(spine):
    seq, cfg = spine
    vols = {lv: reconstruct(seq, cfg, dataclasses.replace(cfg.recon, optimization=lv))
            for lv in LEVELS}
    full = vols["FULL"].volume.array.astype(int)
    for lv in ("PARTIAL", "NONE"):
        arr = vols[lv].volume.array.astype(int)
        changed = (arr != full).mean()
        # a pixel whose position PLUS's fixed point rounds across a voxel border lands
        # elsewhere: a few percent of the voxels change, the rest are identical
        assert 0.03 < changed < 0.08, lv  # about 5 % of the voxels
        assert (np.abs(arr - full) > 2).mean() < 0.02, lv
        assert ((vols[lv].hit > 0) == (vols["FULL"].hit > 0)).mean() > 0.996
    # the two double-precision paths agree on this sweep
    np.testing.assert_array_equal(vols["PARTIAL"].volume.array, vols["NONE"].volume.array)


def test_rejection_and_skip_on_the_spine_sweep(spine):
    seq, cfg = spine
    base = reconstruct(seq, cfg)
    rej = reconstruct(seq, cfg, dataclasses.replace(cfg.recon, pixel_rejection_threshold=40))
    assert (rej.hit > 0).sum() < (base.hit > 0).sum()
    kept = rej.volume.array[rej.hit > 0]
    assert kept.min() >= 40  # only pixels >= 40 were inserted (NN mean of such pixels)
    skip = reconstruct(seq, cfg, dataclasses.replace(cfg.recon, skip_interval=2))
    assert skip.frames_used == 11 and skip.volume.shape == base.volume.shape


def test_cli_plus_options(tmp_path, cli):
    from leg3dus.sweep import write_sequence

    seq_path = write_sequence(_sequence(), tmp_path / "s.igs.mha")
    sitk.WriteImage(sitk.GetImageFromArray(np.full((4, 5), 3, np.uint8)), str(tmp_path / "w.png"))
    out = tmp_path / "v.mha"
    res = cli("compound", str(seq_path), "-o", str(out), "--optimization", "partial",
              "--pixel-rejection", "30", "--skip-interval", "2", "--compounding",
              "importance_mask", "--importance-mask", str(tmp_path / "w.png"), "--json")
    assert res.exit_code == 0, res.output
    assert '"frames_used": 3' in res.output and out.is_file()
    bad = tmp_path / "bad.mha"
    res = cli("compound", str(seq_path), "-o", str(bad), "--optimization", "fast")
    assert res.exit_code == 2 and "optimization must be one of FULL, PARTIAL, NONE" in res.output
    assert not bad.exists()


def _recon_xml(tmp_path, attrs: str):
    path = tmp_path / "c.xml"
    path.write_text(f'<PlusConfiguration><VolumeReconstruction {attrs} /></PlusConfiguration>')
    return read_config(path).recon


@pytest.mark.parametrize("attrs, mode", [
    ('', "MEAN"),
    ('Compounding="OFF"', "LATEST"),
    ('Compounding="ON" Calculation="WEIGHTED_AVERAGE"', "MEAN"),
    ('Compounding="OFF" Calculation="MAXIMUM"', "MAXIMUM"),
    ('Compounding="OFF" CompoundingMode="MEAN"', "MEAN"),  # the new name wins
])
def test_deprecated_compounding_and_calculation_as_plus_reads_them(tmp_path, attrs, mode):
    assert _recon_xml(tmp_path, attrs).compounding_mode == mode


def test_deprecated_fan_names_are_read_as_pixels_new_names_win(tmp_path):
    p = _recon_xml(tmp_path, 'FanAngles="-9 9" FanOrigin="410 12" FanDepth="380"')
    assert (p.fan_angles_deg, p.fan_origin_pixel, p.fan_radius_stop_pixel) == (
        (-9.0, 9.0), (410.0, 12.0), 380.0)
    p = _recon_xml(tmp_path, 'FanOrigin="1 2" FanOriginPixel="3 4" FanDepth="5" '
                             'FanRadiusStopPixel="6"')
    assert (p.fan_origin_pixel, p.fan_radius_stop_pixel) == ((3.0, 4.0), 6.0)
    with pytest.raises(InputFileError, match="c.xml: Calculation must be one of"):
        _recon_xml(tmp_path, 'Calculation="MEDIAN"')


def test_recompute_output_spacing_stretches_z_to_whole_voxels(tmp_path):
    # frames at z = 0, 2, ..., 10 mm; 3 mm spacing: PLUS makes it 10 / floor(10 / 3)
    seq = _sequence()
    plain = reconstruct(seq, None, ReconParams(output_spacing=(1.0, 1.0, 3.0)))
    p = _recon_xml(tmp_path, 'OutputSpacing="1 1 3" RecomputeOutputSpacing="TRUE"')
    rec = reconstruct(seq, None, p)
    assert plain.volume.spacing[0] == 3.0 and plain.volume.shape[0] == 4  # round(10/3)+1
    assert rec.volume.spacing[0] == pytest.approx(10 / 3) and rec.volume.shape[0] == 4
    assert rec.volume.spacing[1:] == (1.0, 1.0)
    again = write_config(PlusConfig(recon=p), tmp_path / "again.xml")
    assert read_config(again).recon.recompute_output_spacing


def test_invalid_frames_do_not_size_the_grid_and_other_types_refuse_fill_and_vnn(tmp_path):
    from leg3dus.compound import Options

    seq = _sequence()
    full = reconstruct(seq, None, _params())
    seq.transform_ok["ImageToReference"][5] = False  # the last frame, at z = 10
    assert reconstruct(seq, None, _params()).volume.shape[0] == full.volume.shape[0] - 2
    with pytest.raises(OptionError, match="gaussian hole filling takes uint8"):
        reconstruct(_sequence(dtype=np.int16), None, _params(), Options(fill="gaussian"))
    with pytest.raises(InputFileError, match="expected uint8 frames"):
        reconstruct(_sequence(dtype=np.float32), None, _params(), Options(method="vnn"))
    # a relative ImportanceMaskFilename resolves against the configuration's folder
    sitk.WriteImage(sitk.GetImageFromArray(np.full((4, 5), 9, np.uint8)),
                    str(tmp_path / "w.png"))
    p = _params(compounding_mode="IMPORTANCE_MASK", importance_mask="w.png")
    path = write_config(PlusConfig(recon=p), tmp_path / "c.xml")
    cfg = read_config(path)
    assert cfg.recon.importance_mask == str(tmp_path / "w.png")
    assert reconstruct(_sequence(), cfg).hit.max() == 9


def test_plus_only_options_refused_with_vnn():
    from leg3dus.compound import Options

    with pytest.raises(OptionError, match="PixelRejectionThreshold apply to pnn"):
        reconstruct(_sequence(), None, _params(pixel_rejection_threshold=5.0),
                    Options(method="vnn"))
