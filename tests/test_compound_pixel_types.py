"""Frames of other pixel types than uint8 through PLUS's FULL (fixed-point) trilinear
insertion and PLUS's hole filling.

The arithmetic follows IGSIO's ``vtkTrilinearInterpolation`` (F = fixed) and
``fixed.h``: a fixed-point weight times an integer pixel is a C int product, so the
results do not depend on the pixel type until a product leaves the 32-bit range, where
they wrap as PLUS's do."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from leg3dus.compound import reconstruct
from leg3dus.compound.holes_plus import fill_holes_plus
from leg3dus.compound.pnn import paste_frames, row_segments
from leg3dus.sweep import ReconParams, Sequence
from leg3dus.sweep.config import HoleFillingElement


def _full_linear(frames, mats, shape, compounding, imp=None):
    frames = np.asarray(frames)
    out = np.zeros(shape, frames.dtype)
    acc = np.zeros(shape, np.uint16)
    seg = row_segments(frames.shape[1], frames.shape[2], ReconParams())
    paste_frames(frames, np.asarray(mats, np.float64), seg, out, acc, "linear", compounding,
                 "FULL", imp)
    return out, acc


def _shifted_frames(n=12, h=5, w=6, seed=0):
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n, h, w)).astype(np.uint8)
    mats = []
    for i in range(n):
        m = np.eye(4)
        m[:3, 3] = rng.uniform(0.0, 1.0, 3) + (0.0, 0.0, 0.3 * i)
        mats.append(m)
    return frames, mats, (6, h + 2, w + 2)


@pytest.mark.parametrize("compounding", ["mean", "maximum", "latest", "importance_mask"])
@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int8])
def test_integer_types_give_the_uint8_result_while_no_product_overflows(compounding, dtype):
    frames, mats, shape = _shifted_frames()
    if dtype == np.int8:
        frames = frames // 2
    imp = np.arange(30, dtype=np.uint8).reshape(5, 6) * 8
    ref, ref_acc = _full_linear(frames, mats, shape, compounding, imp)
    out, acc = _full_linear(frames.astype(dtype), mats, shape, compounding, imp)
    assert out.dtype == dtype and ref_acc.any()
    np.testing.assert_array_equal(out.astype(int), ref.astype(int))
    np.testing.assert_array_equal(acc, ref_acc)


def test_int16_mean_wraps_its_products_at_32_bits_as_plus_does():
    # 300 frames of one pixel, all on voxel 0: weight f = 1.0 (16384 in fixed point), the
    # running mean r * out with r = acc / 256 leaves the int range once acc * 64 * out
    # > 2**31 - 1; C ints wrap there (ctypes.c_int32 reproduces that independently).
    n, value = 300, 1000
    frames = np.full((n, 1, 1), value, np.int16)
    out, acc = _full_linear(frames, [np.eye(4)] * n, (1, 1, 1), "mean")

    def c_int(x):
        return ctypes.c_int32(x).value

    o, a_buf = 0, 0
    for _ in range(n):
        f, r = 16384, a_buf * 64
        a = f + r
        num = c_int(c_int(f * value) + c_int(r * o))
        q = int(round(num / a * 16384))  # fixed / fixed: the quotient rounded to 2**-14
        o = ctypes.c_int16((q + 8192) >> 14).value
        a_buf = min(65535, ((a * 256) + 8192) >> 14)
    assert (out.item(), acc.item()) == (o, a_buf)
    assert out.item() != value  # the wrap happened (an exact mean would stay 1000)


@pytest.mark.parametrize("compounding", ["maximum", "latest"])
def test_float32_full_linear_copies_pixels_without_rounding(compounding):
    frames, mats, shape = _shifted_frames()
    ref, ref_acc = _full_linear(frames, mats, shape, compounding)
    out, acc = _full_linear(frames.astype(np.float32) + np.float32(0.25), mats, shape,
                            compounding)
    hit = ref_acc > 0
    assert out.dtype == np.float32 and hit.any()
    np.testing.assert_array_equal(out[hit], ref[hit].astype(np.float32) + np.float32(0.25))
    np.testing.assert_array_equal(acc, ref_acc)


def test_plus_hole_filling_keeps_the_pixel_type():
    stick = HoleFillingElement("STICK", stick_length_limit=9)
    acc = np.zeros((1, 1, 7), np.uint16)
    acc[0, 0, [0, 6]] = 256
    # voxel i of 1..5 gets (rv * (6 - i) + fv * (i + 1)) / 7 (PLUS's stick weights),
    # cast as C casts: integers truncate toward zero (-32.86 -> -32), floats do not
    for dtype, ends, want in (
            (np.int16, (-50, 10), [-50, -32, -24, -15, -7, 1, 10]),
            (np.uint16, (1000, 4000), [1000, 1857, 2285, 2714, 3142, 3571, 4000]),
            (np.float32, (0.5, 3.5), None)):
        vol = np.zeros((1, 1, 7), dtype)
        vol[0, 0, [0, 6]] = ends
        out = fill_holes_plus(vol, acc, [stick])[0, 0]
        assert out.dtype == dtype
        if want is not None:
            assert out.tolist() == want
        else:
            assert out[0] == 0.5 and out[-1] == 3.5 and np.all(np.diff(out) > 0)
            assert not np.all(out == np.trunc(out))  # float means are not truncated


def test_reconstruct_fills_int16_volumes_with_plus_elements():
    frames = (np.arange(6 * 4 * 5).reshape(6, 4, 5) % 200 - 60).astype(np.int16)
    mats = np.stack([np.eye(4) for _ in range(6)])
    mats[:, 2, 3] = 2.0 * np.arange(6)
    seq = Sequence(frames, {"ImageToReference": mats})
    p = ReconParams(output_spacing=(1.0, 1.0, 1.0), fill_holes=True,
                    hole_filling=[HoleFillingElement("STICK", stick_length_limit=5)])
    rec = reconstruct(seq, None, p)
    vol = rec.volume.array
    assert vol.dtype == np.int16 and (vol < 0).any()
    # an empty slice between two frames: the z stick (1 voxel each way, total 3) weighs
    # the far side 2/3, as PLUS's applySticks does; C truncates toward zero, twice: the
    # stick's value (T values[]), then (value * weight) / weight, which is not always exact
    wf, weight = 2 / 3.0, 1.0 / 3.0
    value = np.trunc((1.0 - wf) * vol[0] + wf * vol[2])
    want = np.trunc(value * weight / weight).astype(np.int16)
    assert (want != value).any()  # -31 * (1/3) / (1/3) = -30.99..., so -30, in PLUS too
    np.testing.assert_array_equal(vol[1], want)
