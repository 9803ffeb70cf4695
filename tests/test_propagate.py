"""Propagation from sparse annotated slices: common checks, ZOI and shape-based (sdf)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from leg3dus import Volume
from leg3dus.core.annotated import annotated_slices
from leg3dus.core.arrays import signed_distance_2d
from leg3dus.core.errors import LabelError, OptionError
from leg3dus.propagate import (
    check_sparse,
    parse_annotated,
    propagate,
    sdf_interpolate,
    zoi_interpolate,
)
from leg3dus.propagate import zoi as zoi_module


def two_slices(top, bottom, n=5):
    """A (n, h, w) volume with ``top`` on slice 0 and ``bottom`` on slice n-1."""
    vol = np.zeros((n,) + top.shape, np.uint8)
    vol[0], vol[-1] = top, bottom
    return vol


def disk(shape, centre, radius, value=100):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.where((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2, value,
                    0).astype(np.uint8)


# ---- common ----------------------------------------------------------------------------

def test_annotated_slices_and_parse():
    a = np.zeros((6, 3, 3), np.uint8)
    a[1, 0, 0] = a[4, 2, 2] = 150
    assert annotated_slices(a).tolist() == [1, 4]
    assert annotated_slices(a, axis=2).tolist() == [0, 2]
    assert parse_annotated("0:50:20, 60 61") == [0, 20, 40, 60, 61]
    assert parse_annotated([3, 1]) == [3, 1]
    assert parse_annotated(None) is None
    with pytest.raises(OptionError, match="'x1'"):
        parse_annotated("0,x1")


def test_parse_annotated_file(tmp_path):
    f = tmp_path / "slices.txt"
    f.write_text("# drawn by A\n0\n10:31:10  # every 10\n")
    assert parse_annotated(str(f)) == [0, 10, 20, 30]
    assert parse_annotated(f) == [0, 10, 20, 30]


@pytest.mark.parametrize("make, annotated, error, words", [
    (lambda a: a, None, LabelError, "no annotated slice"),
    (lambda a: a.__setitem__((3, 1, 1), 100) or a, None, LabelError, "only one annotated"),
    (lambda a: a.__setitem__((slice(0, 6, 5), 1, 1), 7) or a, None, LabelError, "7 (2 voxels)"),
    (lambda a: a.__setitem__((slice(0, 6, 5), 1, 1), 100) or a, [0, 5, 9], OptionError,
     "out of range 0..5"),
    (lambda a: a.__setitem__((slice(0, 6, 5), 1, 1), 100) or a, [0, 3], LabelError,
     "not listed as annotated"),
])
def test_bad_input_errors(make, annotated, error, words):
    a = make(np.zeros((6, 4, 4), np.uint8))
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_sparse(a, annotated)
    for method in ("zoi", "sdf"):
        with pytest.raises(error):
            propagate(a, method, annotated=annotated)


def test_unknown_method_and_option():
    a = two_slices(disk((9, 9), (4, 4), 3), disk((9, 9), (4, 4), 2))
    with pytest.raises(OptionError, match="unknown method"):
        propagate(a, "linear")
    with pytest.raises(OptionError, match="sigma"):
        propagate(a, "sdf", sigma_mm=1.0)
    with pytest.raises(OptionError, match="one_side"):
        propagate(a, "zoi", one_side="taper")


# ---- ZOI -------------------------------------------------------------------------------

def test_zoi_copies_the_smaller_mask():
    # Not nested: the copy is the smaller mask itself, wherever it lies.
    top = np.zeros((10, 12), np.uint8)
    top[1:9, 1:7] = 100
    bottom = np.zeros_like(top)
    bottom[3:6, 8:11] = 100
    out = zoi_interpolate(two_slices(top, bottom), sigma_mm=0)
    for k in (1, 2, 3):
        np.testing.assert_array_equal(out[k], bottom)
    np.testing.assert_array_equal(out[0], top)


@pytest.mark.parametrize("equal_area, expect", [("lower", 0), ("upper", -1)])
def test_zoi_equal_area_choice(equal_area, expect):
    top, bottom = np.zeros((6, 10), np.uint8), np.zeros((6, 10), np.uint8)
    top[1:3, 1:4] = 100
    bottom[3:5, 5:8] = 100
    vol = two_slices(top, bottom)
    out = zoi_interpolate(vol, sigma_mm=0, equal_area=equal_area)
    np.testing.assert_array_equal(out[2], vol[expect])


@pytest.mark.parametrize("one_side, filled", [("stop", []), ("half", [1, 2]),
                                              ("copy", [1, 2, 3, 4])])
def test_zoi_label_on_one_side(one_side, filled):
    top = np.zeros((6, 6), np.uint8)
    top[1:5, 1:5] = 150
    bottom = np.zeros_like(top)
    bottom[0, 0] = 100  # the slice is annotated but GM has ended
    out = zoi_interpolate(two_slices(top, bottom, n=6), sigma_mm=0, one_side=one_side)
    has = [k for k in range(1, 5) if (out[k] == 150).any()]
    assert has == filled
    for k in filled:
        np.testing.assert_array_equal(out[k] == 150, top == 150)


def test_zoi_overlapping_copies_go_to_lower_value():
    top, bottom = np.zeros((4, 10), np.uint8), np.zeros((4, 10), np.uint8)
    top[:, 0:4], top[:, 4:10] = 100, 150      # SOL small here, GM big
    bottom[:, 0:10], bottom[:, 0:2] = 100, 150  # SOL big here, GM small
    out = zoi_interpolate(two_slices(top, bottom), sigma_mm=0)
    # SOL copies columns 0-3 (from the top), GM columns 0-1 (bottom): the overlap is SOL's.
    assert (out[2, :, 0:4] == 100).all() and (out[2, :, 4:] == 0).all()


def _zoi_reference(labels, spacing, sigma):
    """ZOI written the obvious way on the whole volume: an independent computation."""
    values = [v for v in np.unique(labels) if v]
    idx = annotated_slices(labels)
    scores = [np.zeros(labels.shape, np.float32) for _ in values]
    for i, v in enumerate(values):
        ind = np.zeros(labels.shape, np.float32)
        for j, k in enumerate(idx):
            ind[k] = labels[k] == v
            if j + 1 < len(idx):
                a, b = labels[k] == v, labels[idx[j + 1]] == v
                if a.any() and b.any():
                    ind[k + 1:idx[j + 1]] = a if a.sum() <= b.sum() else b
        scores[i] = ind
    bg = 1 - np.clip(sum(scores), 0, 1)
    sig = sigma / np.asarray(spacing)
    stack = np.stack([bg] + scores)
    stack = np.stack([ndimage.gaussian_filter(s, sig, mode="nearest", truncate=3.0)
                      for s in stack])
    return np.asarray([0] + values, np.uint8)[np.argmax(stack, axis=0)]


def test_zoi_matches_reference_across_slabs(monkeypatch):
    monkeypatch.setattr(zoi_module, "_SLAB", 7)  # force several slabs with halos
    rng = np.random.default_rng(3)
    dense = np.zeros((40, 30, 34), np.uint8)
    for z in range(40):
        dense[z] = np.maximum(disk((30, 34), (14 + z // 8, 11), 6 + z % 5, 100),
                              disk((30, 34), (15, 24 - z // 10), 5 + rng.integers(0, 3), 150))
    sparse = np.zeros_like(dense)
    sparse[2:38:6] = dense[2:38:6]
    spacing = (0.5, 0.3, 0.3)
    got = zoi_interpolate(sparse, spacing, sigma_mm=0.7)
    want = _zoi_reference(sparse, spacing, 0.7)
    # Gaussian truncation at box edges may flip a handful of boundary voxels.
    assert np.mean(got != want) < 1e-3
    assert set(np.unique(got)) <= {0, 100, 150}


def test_zoi_keep_annotated_and_no_extrapolation():
    top, bottom = disk((20, 20), (10, 10), 7), disk((20, 20), (9, 11), 4)
    vol = np.zeros((12, 20, 20), np.uint8)
    vol[3], vol[9] = top, bottom
    out = zoi_interpolate(vol, (1, 0.5, 0.5), sigma_mm=1.0, keep_annotated=True)
    np.testing.assert_array_equal(out[[3, 9]], vol[[3, 9]])
    assert not out[:3].any() and not out[10:].any()
    smoothed = zoi_interpolate(vol, (1, 0.5, 0.5), sigma_mm=1.0)
    assert not smoothed[:3].any() and not smoothed[10:].any()
    assert (smoothed[3] == 100).sum() < (top == 100).sum()  # smoothing rounds the end off


# ---- sdf -------------------------------------------------------------------------------

def test_signed_distance_matches_scipy():
    rng = np.random.default_rng(0)
    mask = ndimage.binary_opening(rng.random((25, 31)) < 0.6, iterations=2)
    sp = (0.3, 0.5)
    d = signed_distance_2d(mask, sp)
    inside = ndimage.distance_transform_edt(np.pad(mask, 1), sampling=sp)[1:-1, 1:-1]
    outside = ndimage.distance_transform_edt(~np.pad(mask, 1), sampling=sp)[1:-1, 1:-1]
    want = np.where(mask, -(inside - 0.15), outside - 0.15)
    np.testing.assert_allclose(d, want, atol=1e-4)
    assert ((d < 0) == mask).all()
    assert np.isinf(signed_distance_2d(np.zeros((3, 3), bool))).all()


def test_sdf_radius_varies_linearly():
    n, r0, r1 = 11, 20.0, 8.0
    vol = two_slices(disk((50, 50), (25, 25), r0), disk((50, 50), (25, 25), r1), n=n)
    out = sdf_interpolate(vol, (1.0, 0.2, 0.2))
    np.testing.assert_array_equal(out[[0, -1]], vol[[0, -1]])
    for k in range(1, n - 1):
        r = r0 + (r1 - r0) * k / (n - 1)
        assert abs((out[k] == 100).sum() / (np.pi * r * r) - 1) < 0.08


def test_sdf_align_carries_a_moving_shape():
    a, b = disk((30, 80), (15, 15), 8), disk((30, 80), (15, 62), 8)
    vol = two_slices(a, b, n=9)
    plain = sdf_interpolate(vol)
    moved = sdf_interpolate(vol, align=True)
    area = (a == 100).sum()
    assert (plain[4] == 100).sum() == 0  # disjoint disks vanish half-way without alignment
    for k in range(1, 8):
        assert abs((moved[k] == 100).sum() / area - 1) < 0.1
        cy, cx = ndimage.center_of_mass(moved[k] == 100)
        assert abs(cx - (15 + 47 * k / 8)) < 1.0


@pytest.mark.parametrize("one_side", ["taper", "stop", "half", "copy"])
def test_sdf_label_on_one_side(one_side):
    top = disk((30, 30), (15, 15), 10, 200)
    bottom = np.zeros_like(top)
    bottom[0, 0] = 100
    out = sdf_interpolate(two_slices(top, bottom, n=9), one_side=one_side)
    areas = [int((out[k] == 200).sum()) for k in range(9)]
    full = areas[0]
    if one_side == "taper":
        # Shrinks steadily and, for a disk, is gone half-way across the gap.
        assert full > areas[1] > areas[2] > areas[3] > 0
        assert areas[4:] == [0] * 5
    else:
        want = {"stop": [0] * 7, "half": [full] * 3 + [0] * 4, "copy": [full] * 7}[one_side]
        assert areas[1:8] == want


def test_sdf_multilabel_is_subset_of_single_label_runs():
    top = np.maximum(disk((40, 40), (20, 14), 10, 100), disk((40, 40), (20, 28), 6, 150))
    top[(disk((40, 40), (20, 14), 10) > 0) & (top == 150)] = 100
    bottom = np.maximum(disk((40, 40), (20, 24), 8, 150), disk((40, 40), (20, 10), 6, 100))
    vol = two_slices(top, bottom, n=7)
    both = sdf_interpolate(vol)
    union = np.zeros(both.shape, bool)
    for v in (100, 150):
        alone = sdf_interpolate(np.where(vol == v, vol, 0))
        assert not ((both == v) & (alone != v)).any()
        union |= alone == v
    np.testing.assert_array_equal(both > 0, union)


@pytest.mark.parametrize("method", ["zoi", "sdf"])
def test_axis_is_a_transpose(method):
    rng = np.random.default_rng(5)
    vol = np.zeros((12, 10, 14), np.uint8)
    for k in (0, 5, 13):
        vol[:, :, k] = disk((12, 10), (6, 5), 3 + rng.integers(0, 3), 100)
    spacing = (0.4, 0.5, 0.6)
    got = propagate(vol, method, spacing=spacing, axis=2)
    moved = propagate(np.ascontiguousarray(np.moveaxis(vol, 2, 0)), method,
                      spacing=(0.6, 0.4, 0.5))
    np.testing.assert_array_equal(got, np.moveaxis(moved, 0, 2))


@pytest.mark.parametrize("method", ["zoi", "sdf"])
def test_volume_keeps_geometry_values_and_dtype(method):
    vol = np.zeros((9, 30, 40), np.uint16)
    vol[0] = disk((30, 40), (15, 10), 8, 100)
    vol[0][disk((30, 40), (15, 27), 8) > 0] = 200
    vol[8] = disk((30, 40), (15, 11), 7, 100)
    vol[8][disk((30, 40), (15, 27), 7) > 0] = 200
    direction = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], float)
    src = Volume(vol, (0.5, 0.3, 0.3), (1.0, -2.0, 3.0), direction)
    out = propagate(src, method)
    assert out.geometry.matches(src.geometry) == []
    assert out.array.dtype == np.uint16
    assert set(np.unique(out.array)) == {0, 100, 200}
    assert all((out.array[k] == 200).any() for k in range(9))
