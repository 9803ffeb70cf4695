"""The torch path (device cpu here, cuda where present) gives the numba kernels' volumes
bit for bit: vnn, pnn nearest and linear at every optimisation level and compounding
mode, pixel types, clip and fan, pixel rejection, importance masks, Gaussian fill."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
from conftest import shared_or_skip

from leg3dus.compound import Options, fill_gaussian, reconstruct
from leg3dus.compound.pnn import paste_frames, row_segments
from leg3dus.compound.pnn_nn import unoptimized_mask
from leg3dus.core.errors import OptionError
from leg3dus.sweep import PlusConfig, ReconParams, Sequence

torch = pytest.importorskip("torch")
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
LEVELS = ("FULL", "PARTIAL", "NONE")
MODES = ("MEAN", "MAXIMUM", "LATEST")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny tensors: torch's thread pool only costs time here (on a shared CPU, a lot)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def sweeps(rng, n=8, h=18, w=15, dtype=np.uint8, dz=0.35):
    """Two overlapping oblique sweeps (the second backwards), pixels 0.5 x 0.4 mm."""
    if np.dtype(dtype).kind == "f":
        frames = (rng.random((n, h, w)) * 300 - 20).astype(dtype)
    else:
        info = np.iinfo(dtype)
        frames = rng.integers(max(info.min, -300), min(info.max, 3000) + 1, (n, h, w))
        frames = frames.astype(dtype)
    poses = np.repeat(np.eye(4)[None], n, axis=0)
    for i in range(n):
        a, b, c = np.deg2rad(rng.uniform(-12, 12, 3))
        rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
        ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
        rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
        poses[i, :3, :3] = rz @ ry @ rx
        k = i if i < n // 2 else n - 1 - i
        poses[i, :3, 3] = (1.5 * (i >= n // 2) + rng.uniform(-0.2, 0.2),
                           rng.uniform(-0.2, 0.2), k * dz)
    calib = np.diag([0.5, 0.4, 1.0, 1.0])
    return Sequence(frames, {"ProbeToReference": poses}), PlusConfig({("Image", "Probe"): calib})


def both(seq, cfg, p, device="cpu", **kw):
    """numba and torch give the same reconstruction, or both refuse the options."""
    try:
        a = reconstruct(seq, cfg, p, Options(**kw))
    except OptionError as exc:
        with pytest.raises(OptionError, match=str(exc)[:20]):
            reconstruct(seq, cfg, p, Options(device=device, **kw))
        return None
    b = reconstruct(seq, cfg, p, Options(device=device, **kw))
    assert a.volume.array.dtype == b.volume.array.dtype
    assert np.array_equal(a.hit, b.hit)
    assert np.array_equal(a.volume.array, b.volume.array)
    assert a.frames_used == b.frames_used
    assert a.volume.origin == b.volume.origin and a.volume.spacing == b.volume.spacing
    return a


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fill", ["none", "gaussian"])
def test_vnn_equals_numba(rng, device, fill):
    seq, cfg = sweeps(rng)
    p = ReconParams(output_spacing=(0.3, 0.3, 0.3), clip_rectangle_origin=(1, 2),
                    clip_rectangle_size=(11, 14))
    a = both(seq, cfg, p, device, method="vnn", fill=fill, max_distance_mm=0.35)
    assert 0.1 < (a.hit > 0).mean() < 0.9  # holes left for the fill


def test_vnn_slabs_and_chunks_do_not_change_the_volume(rng):
    from leg3dus.compound.torch_vnn import vnn_device
    from leg3dus.compound.vnn import frame_slabs, vnn_insert, voxel_to_frame
    from leg3dus.sweep import image_to_reference

    seq, cfg = sweeps(rng)
    m, _ = image_to_reference(seq, cfg)
    origin, sp, dims = np.array([-4.0, -3.0, -2.0]), np.array([0.3, 0.25, 0.35]), [40, 36, 14]
    a = voxel_to_frame(m, origin, sp)
    boxes = frame_slabs(a, seq.frame_shape, 0.3, origin, sp, dims)
    seg = row_segments(*seq.frame_shape, ReconParams())
    shape = tuple(dims[::-1])
    out, hit = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
    vnn_insert(seq.frames, a, seg, boxes, out, hit, origin, sp, 0.3)
    assert hit.any()
    frames_t = torch.as_tensor(seq.frames)
    for slab, budget in ((1, 7), (5, 300), (64, 1 << 20)):
        o, h = vnn_device(frames_t, a, seg, boxes, shape, origin, sp, 0.3, slab, budget)
        assert np.array_equal(o.numpy(), out) and np.array_equal(h.numpy(), hit)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("interp", "mode"),
                         list(itertools.product(("NEAREST_NEIGHBOR", "LINEAR"), MODES)))
def test_pnn_equals_numba(rng, device, interp, mode):
    seq, cfg = sweeps(rng)
    for level in LEVELS:
        p = ReconParams(output_spacing=(0.3, 0.3, 0.3), interpolation=interp,
                        compounding_mode=mode, optimization=level,
                        clip_rectangle_origin=(1, 2), clip_rectangle_size=(11, 14))
        both(seq, cfg, p, device, method="pnn", fill="none")
    both(seq, cfg, p, device, method="pnn", fill="gaussian")


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.float32])
def test_pnn_pixel_types(rng, dtype):
    seq, cfg = sweeps(rng, dtype=dtype)
    refused = 0
    for interp, mode, level in itertools.product(("NEAREST_NEIGHBOR", "LINEAR"), MODES,
                                                 LEVELS):
        p = ReconParams(output_spacing=(0.3, 0.3, 0.3), interpolation=interp,
                        compounding_mode=mode, optimization=level)
        refused += both(seq, cfg, p, method="pnn", fill="none") is None
    # numba refuses FULL linear means of float frames only
    assert refused == (1 if np.dtype(dtype).kind == "f" else 0)


def test_fan_and_pixel_rejection(rng):
    seq, cfg = sweeps(rng, h=24, w=21)
    for level, interp in itertools.product(LEVELS, ("NEAREST_NEIGHBOR", "LINEAR")):
        p = ReconParams(output_spacing=(0.3, 0.3, 0.3), interpolation=interp,
                        optimization=level, fan_angles_deg=(-30.0, 25.0),
                        fan_origin_pixel=(10.0, -2.0), fan_radius_start_pixel=5.0,
                        fan_radius_stop_pixel=22.0, pixel_rejection_threshold=40.0)
        a = both(seq, cfg, p, method="pnn", fill="none")
        assert a.hit.any()


def test_fan_auto_detect_per_frame(rng):
    rows, cols = np.mgrid[0:30, 0:31]
    theta = np.degrees(np.arctan2(cols - 15, rows))
    seq, cfg = sweeps(rng, n=6, h=30, w=31)
    fan = np.abs(theta) < np.array([15, 10, 0, 20, 12, 15])[:, None, None]
    seq.frames[...] = np.where(fan, seq.frames | 128, 0)  # frame 2 is empty: skipped
    for level in LEVELS:
        p = ReconParams(output_spacing=(0.4, 0.4, 0.4), optimization=level,
                        fan_angles_deg=(-40.0, 40.0), fan_origin_pixel=(15.0, 0.0),
                        fan_radius_start_pixel=2.0, fan_radius_stop_pixel=30.0,
                        fan_detect_filter_radius_pixel=2, fan_angles_auto_detect=True)
        assert both(seq, cfg, p, method="pnn", fill="none").frames_used == 5


def _paste_both(frames, mats, shape, interp, compounding, level, imp=None):
    from leg3dus.compound.torch_path import pnn_torch

    h, w = frames.shape[1:]
    seg = row_segments(h, w, ReconParams())
    mask = unoptimized_mask(h, w, (0, w - 1, 0, h - 1), None)
    out, acc = np.zeros(shape, frames.dtype), np.zeros(shape, np.uint16)
    paste_frames(frames, mats, seg, out, acc, interp, compounding, level, imp, None, mask)
    o, a = pnn_torch(frames, mats, seg, shape, "cpu", interp, compounding, level, imp,
                     None, mask)
    assert np.array_equal(o, out) and np.array_equal(a, acc)
    return out, acc


def test_mean_overflow_past_255_frames(rng):
    # 700 frames into the same voxels: the accumulation passes 65279 and PLUS switches
    # to its recursive filter; the torch rounds follow it frame by frame
    frames = rng.integers(0, 256, (700, 2, 3), dtype=np.uint8)
    mats = np.repeat(np.eye(4)[None], 700, axis=0)
    mats[:, :3, 3] = rng.uniform(0, 0.4, (700, 3))
    for interp, level in itertools.product(("nearest", "linear"), LEVELS):
        out, acc = _paste_both(frames, mats, (2, 3, 4), interp, "mean", level)
        assert acc.max() > 65279  # past the threshold: the recursive filter ran


@pytest.mark.parametrize("interp_level", [("nearest", "NONE"), ("linear", "FULL"),
                                          ("linear", "PARTIAL"), ("linear", "NONE")])
def test_importance_mask(rng, interp_level):
    interp, level = interp_level
    frames = rng.integers(0, 256, (12, 6, 5), dtype=np.uint8)
    imp = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    imp[2, 1:3] = 0
    mats = np.repeat(np.diag([0.7, 0.6, 1.0, 1.0])[None], 12, axis=0)
    mats[:, :3, 3] = rng.uniform(0, 1.5, (12, 3))
    out, acc = _paste_both(frames, mats, (4, 5, 5), interp, "importance_mask", level, imp)
    assert acc.any()


def test_rounds_keep_the_insertion_order():
    # PLUS's truncated running mean: 3, 0, 0 gives 0 and 0, 0, 3 gives 1
    frames = np.array([[[3]], [[0]], [[0]]], np.uint8)
    mats = np.repeat(np.eye(4)[None], 3, axis=0)
    assert _paste_both(frames, mats, (1, 1, 1), "nearest", "mean", "FULL")[0].item() == 0
    assert _paste_both(frames[::-1].copy(), mats, (1, 1, 1), "nearest", "mean",
                       "FULL")[0].item() == 1


def test_labels_on_the_torch_path(rng):
    seq, cfg = sweeps(rng)
    seq.frames[...] = rng.choice(np.array([0, 100, 150, 200], np.uint8), seq.frames.shape)
    p = ReconParams(output_spacing=(0.3, 0.3, 0.3))
    for method in ("pnn", "vnn"):
        a = reconstruct(seq, cfg, p, Options(method=method, fill="gaussian"), labels=True)
        b = reconstruct(seq, cfg, p, Options(method=method, fill="gaussian", device="cpu"),
                        labels=True)
        assert np.array_equal(a.volume.array, b.volume.array)
        assert np.array_equal(a.hit, b.hit)


@pytest.mark.parametrize(("size", "sigma"), [(3, 0.7), (5, 1.0), (7, 2.0)])
def test_fill_gaussian_torch(rng, size, sigma):
    from leg3dus.compound.torch_path import fill_gaussian_torch

    vol = rng.integers(0, 256, (13, 9, 11), dtype=np.uint8)
    hit = (rng.random(vol.shape) < 0.3).astype(np.uint8)
    expect = fill_gaussian(vol, hit, size, sigma, chunk=4)
    assert np.array_equal(fill_gaussian_torch(vol, hit, size, sigma, "cpu", chunk=5), expect)
    assert np.array_equal(fill_gaussian_torch(vol, hit, size, sigma, "cpu"), expect)


@pytest.mark.parametrize("case", ["NN_MEAN", "NN_LATE", "LN_MAXI", "LN_MEAN"])
def test_plus_spine_sweep(case):
    # the configuration as PLUS's test runs it (FillHoles ON for the MEAN cases: PLUS's
    # hole filling, on numba, after the torch insertion; the coverage compared too)
    from leg3dus.sweep import read_config, read_sequence

    d = shared_or_skip("conformance", "plus")
    seq = read_sequence(d / "data" / "SpinePhantomFreehand.igs.mha")
    name = {"NN_MEAN": "SpinePhantom_NN_MEAN", "NN_LATE": "SonixRP_TRUS_D70mm_NN_LATE",
            "LN_MAXI": "SpinePhantom_LN_MAXI", "LN_MEAN": "SonixRP_TRUS_D70mm_LN_MEAN"}[case]
    cfg = read_config(d / "config" / f"Config_VolumeReconstruction_{name}.xml")
    # PLUS's own configs (clip, fan, spacing, modes) on three of the sweep's frames:
    # each frame holds ~30 pixels per voxel, so the running means see many insertions
    seq = Sequence(seq.frames[::10].copy(), {k: v[::10] for k, v in seq.transforms.items()})
    both(seq, cfg, cfg.recon, method="pnn")


def test_refusals(rng, monkeypatch):
    seq, cfg = sweeps(rng, n=2)
    for level in ("FULL", "PARTIAL"):
        p = ReconParams(compounding_mode="IMPORTANCE_MASK", importance_mask="w.png",
                        optimization=level)
        with pytest.raises(OptionError, match="torch path.*IMPORTANCE_MASK.*numba"):
            reconstruct(seq, cfg, p, Options(device="cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="no CUDA device"):
            reconstruct(seq, cfg, ReconParams(), Options(device="cuda"))
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    for method in ("pnn", "vnn"):
        with pytest.raises(OptionError, match="device cpu runs on torch.*not installed"):
            reconstruct(seq, cfg, ReconParams(), Options(method=method, device="cpu"))


def test_vnn_ties_go_to_the_first_frame(rng):
    # frames 0 and 2 share a pose: every voxel they reach is at the same distance from
    # both, and numba's strict '<' in frame order keeps frame 0's pixel
    seq, cfg = sweeps(rng, n=4)
    poses = seq.transforms["ProbeToReference"]
    poses[2] = poses[0]
    p = ReconParams(output_spacing=(0.3, 0.3, 0.3))
    a = both(seq, cfg, p, method="vnn", fill="none", max_distance_mm=0.3)
    alone = Sequence(seq.frames[[0, 1, 3]].copy(), {"ProbeToReference": poses[[0, 1, 3]]})
    b = reconstruct(alone, cfg, p, Options(method="vnn", fill="none", max_distance_mm=0.3,
                                           device="cpu"))
    assert np.array_equal(a.volume.array, b.volume.array)
    later = Sequence(seq.frames[[2, 1, 3]].copy(), {"ProbeToReference": poses[[2, 1, 3]]})
    c = reconstruct(later, cfg, p, Options(method="vnn", fill="none", max_distance_mm=0.3))
    assert not np.array_equal(a.volume.array, c.volume.array)  # the tie decided something


def test_pnn_frame_chunks_keep_the_order(rng):
    from leg3dus.compound.torch_pnn import pnn_device, to_numpy

    frames = rng.integers(0, 256, (9, 5, 4), dtype=np.uint8)
    mats = np.repeat(np.diag([0.6, 0.7, 1.0, 1.0])[None], 9, axis=0)
    mats[:, :3, 3] = rng.uniform(0, 1.0, (9, 3))
    seg = row_segments(5, 4, ReconParams())
    for interp in ("nearest", "linear"):
        out, acc = np.zeros((3, 5, 4), np.uint8), np.zeros((3, 5, 4), np.uint16)
        paste_frames(frames, mats, seg, out, acc, interp, "mean", "PARTIAL")
        for budget in (1, 50, 1 << 20):  # one frame per chunk ... all frames in one
            o, a = pnn_device(frames, mats, seg, (3, 5, 4), np.uint8, "cpu", interp,
                              "mean", "PARTIAL", budget=budget)
            o, a = to_numpy(o, a, np.uint8)
            assert np.array_equal(o, out) and np.array_equal(a, acc)


def test_maximum_of_float_frames_with_nan(rng):
    # numba's 'o < v' never takes a NaN; the torch path's maximum must not either
    frames = (rng.random((6, 3, 3)) * 100 - 50).astype(np.float32)
    frames[1, 0, :] = np.nan
    frames[4, 1, 1] = np.nan
    mats = np.repeat(np.eye(4)[None], 6, axis=0)
    mats[:, :3, 3] = rng.uniform(0, 0.4, (6, 3))
    for level in LEVELS:
        out, _ = _paste_both(frames, mats, (2, 3, 3), "nearest", "maximum", level)
        assert not np.isnan(out).any() and (out > 0).any()


def test_label_vote_on_the_device(rng):
    from leg3dus.compound.fill import fill_labels
    from leg3dus.compound.torch_fill import fill_labels_device

    labels = rng.choice(np.array([0, 100, 150, 200], np.uint8), (11, 9, 10))
    hit = (rng.random(labels.shape) < 0.25).astype(np.uint8)
    labels[4:6] = 150  # a block of one label next to mixed ones
    for size, sigma, chunk in ((3, 0.8, 4), (5, 1.0, 64)):
        expect = fill_labels(labels, hit, size, sigma)
        got = fill_labels_device(torch.as_tensor(labels), torch.as_tensor(hit), size, sigma,
                                 chunk)
        assert np.array_equal(got.numpy(), expect)
