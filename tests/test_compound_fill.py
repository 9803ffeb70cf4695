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
