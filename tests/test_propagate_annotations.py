"""Sparse annotations made from dense labels (leg3dus.phantom.annotations)."""

from __future__ import annotations

import numpy as np
import pytest

from leg3dus.core.annotated import annotated_slices
from leg3dus.core.errors import OptionError
from leg3dus.phantom.annotations import (
    annotation_indices,
    annotator_volume_spread,
    sparse_annotations,
)


def _dense(n=60):
    zz, yy, xx = np.mgrid[:n, :60, :90]
    ell = ((yy - 30) / 22.0) ** 2 + ((xx - 45) / 40.0) ** 2 < 1
    out = np.zeros((n, 60, 90), np.uint8)
    out[ell & (xx < 45)] = 100
    out[ell & (xx >= 45) & (zz < 40)] = 150
    out[:4] = 0
    return out


def test_indices_every_slices_and_mm():
    dense = _dense()
    assert annotation_indices(dense, every=20).tolist() == [4, 24, 44, 59]
    assert annotation_indices(dense, every=20, ends=False).tolist() == [4, 24, 44]
    # 2.77 mm at 0.277 mm is 10 slices; 1 mm is 3.61 slices, rounded each time.
    sp = (0.277, 0.2, 0.2)
    assert annotation_indices(dense, every_mm=2.77, spacing=sp).tolist()[:3] == [4, 14, 24]
    assert annotation_indices(dense, every_mm=1.0, spacing=sp).tolist()[:4] == [4, 8, 11, 15]
    with pytest.raises(OptionError, match="exactly one"):
        annotation_indices(dense, every=2, every_mm=1.0)
    with pytest.raises(OptionError, match="at least one slice"):
        annotation_indices(dense, every=0)


def test_sparse_without_noise_is_an_exact_subset():
    dense = _dense()
    sparse, idx = sparse_annotations(dense, every=10)
    np.testing.assert_array_equal(sparse[idx], dense[idx])
    assert annotated_slices(sparse).tolist() == idx.tolist()
    assert sparse.dtype == dense.dtype and sparse.shape == dense.shape


def test_jitter_moves_boundaries_by_about_the_asked_amount():
    dense = _dense()
    sp = (0.277, 0.277, 0.277)
    a, idx = sparse_annotations(dense, every=5, spacing=sp, jitter_mm=0.5, seed=1)
    b, _ = sparse_annotations(dense, every=5, spacing=sp, jitter_mm=0.5, seed=1)
    c, _ = sparse_annotations(dense, every=5, spacing=sp, jitter_mm=0.5, seed=2)
    np.testing.assert_array_equal(a, b)  # same seed, same annotator
    assert (a != c).any()
    assert annotated_slices(a).tolist() == idx.tolist()
    assert set(np.unique(a)) == {0, 100, 150}
    # Changed voxels lie within a few jitter widths of the true boundary.
    from scipy import ndimage

    k = idx[3]
    changed = a[k] != dense[k]
    lab = dense[k]
    boundary = ndimage.grey_dilation(lab, size=3) != ndimage.grey_erosion(lab, size=3)
    edge = ndimage.distance_transform_edt(~boundary)
    assert changed.any() and (edge[changed] * 0.277 <= 4 * 0.5 + 0.3).all()


def test_volume_spread_grows_with_jitter():
    dense = _dense()
    sp = (0.277, 0.277, 0.277)
    small = annotator_volume_spread(dense, sp, every=10, jitter_mm=0.2, seed=0)
    large = annotator_volume_spread(dense, sp, every=10, jitter_mm=1.0, seed=0)
    assert set(small) == {100, 150}
    assert all(large[v] > small[v] for v in small)
