"""The label scheme: mapping to classes and back, stray values, cleaning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from leg3dus.core import labels as lab
from leg3dus.core.errors import LabelError


def test_scheme_values_names_and_classes():
    assert lab.VALUES == (0, 100, 150, 200)
    assert [m.name for m in lab.MUSCLES] == ["SOL", "GM", "GL"]
    assert [m.index for m in lab.MUSCLES] == [1, 2, 3]
    assert lab.muscle("gm").value == 150 and lab.muscle(200).name == "GL"
    assert len({m.color for m in lab.MUSCLES}) == 3
    with pytest.raises(LabelError, match="SOL, GM, GL"):
        lab.muscle("TA")


@given(arrays(np.uint8, (3, 4, 5), elements=st.sampled_from([0, 100, 150, 200])))
@settings(max_examples=30, deadline=None)
def test_to_index_and_back_is_identity(values):
    classes = lab.to_index(values)
    assert classes.dtype == np.uint8 and classes.max() <= 3
    assert np.array_equal(lab.to_value(classes), values)
    # the same answer for a wider integer type (no lookup-table path)
    assert np.array_equal(lab.to_index(values.astype(np.int32)), classes)
    inplace = values.copy()
    assert lab.to_index(inplace, in_place=True) is inplace and np.array_equal(inplace, classes)


def test_to_index_strict_names_stray_values_with_counts():
    labels = np.array([[[0, 100, 7, 7, 255]]], np.uint8)
    with pytest.raises(LabelError, match=r"7 \(2 voxels\), 255 \(1 voxel\)"):
        lab.to_index(labels)
    assert lab.to_index(labels, strict=False).tolist() == [[[0, 1, 0, 0, 0]]]
    with pytest.raises(LabelError):
        lab.to_value(np.array([0, 4]))


@given(arrays(np.uint8, (4, 6, 7)))
@settings(max_examples=40, deadline=None)
def test_value_counts_match_numpy_unique(values):
    counts = lab.value_counts(values)
    u, c = np.unique(values, return_counts=True)
    assert counts == dict(zip(u.tolist(), c.tolist(), strict=True))
    assert sum(counts.values()) == values.size
    assert lab.stray_values(values) == {v: n for v, n in counts.items() if v not in lab.VALUES}


def test_value_counts_other_types_and_non_contiguous():
    a = np.array([[[0, 100, 100, 2.5]]])
    assert lab.value_counts(a) == {0: 1, 2.5: 1, 100: 2}
    big = np.arange(2 * 3 * 8, dtype=np.uint8).reshape(2, 3, 8)[:, :, ::2]
    assert lab.value_counts(big) == {int(v): 1 for v in big.ravel()}
    assert lab.value_counts(np.zeros((0, 2, 2), np.uint8)) == {}


def test_muscle_volumes_in_cm3():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[:5] = 100
    labels[5:, :2] = 200
    vols = lab.muscle_volumes_cm3(labels, spacing=(0.5, 0.5, 0.5))
    assert vols == pytest.approx({"SOL": 500 * 0.125 / 1000, "GM": 0.0,
                                  "GL": 100 * 0.125 / 1000})


def _noisy_labels(rng):
    labels = np.zeros((12, 14, 16), np.uint8)
    labels[2:10, 2:7, 2:14] = 100
    labels[2:10, 7:12, 2:8] = 150
    labels[2:10, 7:12, 8:14] = 200
    stray = rng.random(labels.shape) < 0.03
    noisy = labels.copy()
    noisy[stray] = rng.choice([1, 99, 101, 254], size=int(stray.sum()))
    return labels, noisy, stray


def test_clean_stray_background(rng):
    labels, noisy, stray = _noisy_labels(rng)
    clean = lab.clean_stray(noisy, "background")
    assert lab.stray_values(clean) == {}
    assert np.array_equal(clean[~stray], labels[~stray]) and not clean[stray].any()
    assert noisy[stray].all()  # the input is not modified


def test_clean_stray_nearest_matches_an_independent_distance_transform(rng):
    labels, noisy, stray = _noisy_labels(rng)
    clean = lab.clean_stray(noisy, "nearest")
    assert lab.stray_values(clean) == {}
    assert np.array_equal(clean[~stray], noisy[~stray])
    dist = ndimage.distance_transform_edt(stray)
    # every filled voxel took a scheme value found at exactly the nearest distance
    for z, y, x in np.argwhere(stray)[:200]:
        d = dist[z, y, x]
        zz, yy, xx = np.indices(labels.shape)
        near = (np.abs(np.sqrt((zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2) - d) < 1e-9) & ~stray
        assert clean[z, y, x] in set(noisy[near].tolist())


def test_clean_stray_edge_cases():
    assert lab.clean_stray(np.full((2, 2, 2), 7, np.uint8), "nearest").tolist() == \
        np.zeros((2, 2, 2), int).tolist()
    clean = np.array([[[0, 100, 150]]], np.uint8)
    assert np.array_equal(lab.clean_stray(clean, "nearest"), clean)
    with pytest.raises(LabelError, match="nearest"):
        lab.clean_stray(clean, "median")
    floats = lab.clean_stray(np.array([[[100.0, 3.5, 150.0]]]), "background")
    assert floats.dtype == np.uint8 and floats.tolist() == [[[100, 0, 150]]]
    assert lab.describe_counts({7: 1, 9: 2}) == "7 (1 voxel), 9 (2 voxels)"


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.int32, np.int64,
                                   np.uint32, np.uint64, np.uint8, bool])
def test_value_counts_of_every_integer_type_match_numpy_unique(dtype, rng):
    if dtype is bool:
        sets = [[0, 1]]
    else:
        info = np.iinfo(dtype)
        sets = [[v for v in lab.VALUES if v <= info.max],            # the scheme
                [max(info.min, -5), 3, 100, 7],                      # negatives
                [info.min, info.max, 0, 1],                          # the whole range
                [0, info.max // 3, 5]]                               # a sparse wide range
    for values in sets:
        a = rng.choice(np.array(values, dtype=dtype), size=(5, 6, 7))[:, ::2]
        u, c = np.unique(a, return_counts=True)
        counts = lab.value_counts(a)
        assert counts == dict(zip(u.tolist(), c.tolist(), strict=True))
        assert list(counts) == sorted(counts)
    many = rng.integers(-2**62, 2**62, size=5000)              # the hash table grows
    u, c = np.unique(np.r_[many, many[:50]], return_counts=True)
    assert lab.value_counts(np.r_[many, many[:50]]) == dict(zip(u.tolist(), c.tolist(),
                                                                 strict=True))


def _old_clean_nearest(noisy):
    # the transform over the whole volume that clean_stray replaced
    stray = lab.stray_mask(noisy)
    out = noisy.copy()
    nearest = ndimage.distance_transform_edt(stray, return_distances=False,
                                             return_indices=True)
    out[stray] = out[tuple(n[stray] for n in nearest)]
    return out


@pytest.mark.parametrize("case", ["shell", "thick", "dense"])
def test_clean_stray_nearest_by_slabs_equals_one_transform(case, rng):
    labels, noisy, _ = _noisy_labels(rng)
    noisy = labels.copy()
    if case == "shell":        # strays line every border: one component spanning the box
        stray = np.ones(labels.shape, bool)
        stray[1:-1, 1:-1, 1:-1] = False
    elif case == "thick":      # a stray block far thicker than the slab and its margin
        stray = np.zeros(labels.shape, bool)
        stray[:9] = True
        stray[8, 13, 15] = False
    else:
        stray = rng.random(labels.shape) < 0.7
    noisy[stray] = 7
    want = _old_clean_nearest(noisy)
    for slab in (1, 3, 32):
        assert np.array_equal(lab.clean_stray(noisy, "nearest", slab=slab), want)
