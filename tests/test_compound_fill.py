"""Label hole filling: the values voted on are counted, not sorted, with the same result."""

from __future__ import annotations

import numpy as np
import pytest

from leg3dus.compound.fill import fill_labels, smooth3
from leg3dus.core.arrays import gaussian_taps


def _reference(labels, hit, size_vox=5, sigma_vox=1.0):
    # the plain version: np.unique of every hit voxel, one vote volume per value
    taps = gaussian_taps(sigma_vox, size=size_vox)
    known = hit.astype(bool)
    best = np.zeros(labels.shape, np.float32)
    choice = np.zeros(labels.shape, labels.dtype)
    for v in np.unique(labels[known]):
        vote = smooth3((known & (labels == v)).astype(np.float32), taps)
        better = vote > best
        best[better], choice[better] = vote[better], v
    out = labels.copy()
    out[~known] = choice[~known]
    return out


@pytest.mark.parametrize("label_type, hit_type", [(np.uint8, np.uint8), (np.uint8, bool),
                                                  (np.uint16, np.uint8)])
def test_fill_labels_equals_the_unique_based_vote(label_type, hit_type, rng):
    labels = np.zeros((40, 12, 14), label_type)
    labels[:, 2:8, 2:7] = 100
    labels[:, 4:10, 7:12] = 150
    labels[10:30, 6:11, 3:9] = 200
    labels[5, 5, 5] = 7                                  # a value hit once
    hit = (rng.random(labels.shape) < 0.4).astype(hit_type)
    hit[5, 5, 5] = 1
    labels[~hit.astype(bool) & (rng.random(labels.shape) < 0.5)] = 0   # holes hold junk
    got = fill_labels(labels, hit, size_vox=5, sigma_vox=1.0, chunk=8)
    assert got.dtype == labels.dtype
    np.testing.assert_array_equal(got, _reference(labels, hit))
    np.testing.assert_array_equal(got[hit.astype(bool)], labels[hit.astype(bool)])


def test_fill_labels_without_hits_gives_background():
    labels = np.full((3, 4, 5), 100, np.uint8)
    assert not fill_labels(labels, np.zeros(labels.shape, np.uint8)).any()


def _full_convolution_fill(vol, hit, size_vox, sigma_vox):
    # the plain normalised convolution over the whole grid (every term summed)
    taps = gaussian_taps(sigma_vox, size=size_vox)
    known = (hit != 0).astype(np.float32)
    num = smooth3(vol.astype(np.float32) * known, taps)
    den = smooth3(known.copy(), taps)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.clip(np.floor(num / den + np.float32(0.5)), 0, 255)
    return np.where(hit != 0, vol, np.where(den > 0, v, 0)).astype(np.uint8)


@pytest.mark.parametrize("size_vox, sigma_vox, chunk", [(5, 1.0, 7), (3, 0.7, 64), (7, 2.0, 5)])
def test_gaussian_fill_within_row_spans_equals_the_full_convolution(size_vox, sigma_vox,
                                                                    chunk, rng):
    from leg3dus.compound.fill import fill_gaussian

    shape = (23, 19, 31)
    vol = rng.integers(0, 256, shape).astype(np.uint8)
    z, y, x = np.indices(shape)
    # a fan-like scanned region with scattered holes, empty rows and slices around it
    hit = ((np.abs(x - 15) < 3 + y // 2) & (y > 2) & (y < 16) & (z > 1) & (z != 12)
           & (rng.random(shape) < 0.8)).astype(np.uint8)
    hit[20, 3, 0] = hit[5, 18, 30] = 1  # lone hits at the grid's edges
    got = fill_gaussian(vol, hit, size_vox, sigma_vox, chunk=chunk)
    want = _full_convolution_fill(vol, hit, size_vox, sigma_vox)
    np.testing.assert_array_equal(got, want)
    # in place: the holes' old values (random here) never enter a sum
    same = vol.copy()
    assert fill_gaussian(same, hit, size_vox, sigma_vox, chunk=chunk, out=same) is same
    np.testing.assert_array_equal(same, want)
    assert (got[hit == 0] > 0).any() and (got[hit == 0] == 0).any()
