"""Invariants of the metrics under symmetry, translation, axis permutation and scaling,
checked on random shapes with hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leg3dus.metrics import (
    assd,
    dice,
    hausdorff,
    hausdorff_percentile,
    iou,
    masd,
    nsd,
    precision,
    recall,
    surface_distances,
)

SETTINGS = settings(max_examples=20, deadline=None)


@st.composite
def mask_pair(draw):
    shape = tuple(draw(st.integers(3, 9)) for _ in range(3))
    seed = draw(st.integers(0, 2 ** 31))
    rng = np.random.default_rng(seed)
    a = rng.random(shape) < draw(st.floats(0.1, 0.7))
    b = rng.random(shape) < draw(st.floats(0.1, 0.7))
    a.flat[0] = b.flat[-1] = True  # never empty: empty masks have their own test
    spacing = tuple(draw(st.floats(0.2, 2.0)) for _ in range(3))
    surface = draw(st.sampled_from(["surfel", "voxel"]))
    return a, b, spacing, surface


def all_metrics(p, t, spacing, surface, tol=1.0):
    sd = surface_distances(p, t, spacing, surface)
    return np.array([dice(p, t), iou(p, t), hausdorff(sd), hausdorff_percentile(sd, 95),
                     hausdorff_percentile(sd, 95, "pooled"), assd(sd), masd(sd),
                     nsd(sd, tol)])


@SETTINGS
@given(mask_pair())
def test_symmetric_in_prediction_and_truth(pair):
    a, b, spacing, surface = pair
    assert np.allclose(all_metrics(a, b, spacing, surface),
                       all_metrics(b, a, spacing, surface), rtol=1e-12)
    assert precision(a, b) == pytest.approx(recall(b, a))


@SETTINGS
@given(mask_pair(), st.tuples(*[st.integers(0, 3)] * 3))
def test_invariant_to_translation(pair, shift):
    a, b, spacing, surface = pair
    pad = [(3, 3)] * 3
    pa, pb = np.pad(a, pad), np.pad(b, pad)
    sa, sb = (np.roll(m, shift, axis=(0, 1, 2)) for m in (pa, pb))
    assert np.allclose(all_metrics(pa, pb, spacing, surface),
                       all_metrics(sa, sb, spacing, surface), rtol=1e-12)


@SETTINGS
@given(mask_pair(), st.permutations([0, 1, 2]))
def test_invariant_to_axis_order_with_spacing(pair, order):
    a, b, spacing, surface = pair
    sp = tuple(spacing[i] for i in order)
    assert np.allclose(all_metrics(a, b, spacing, surface),
                       all_metrics(a.transpose(order), b.transpose(order), sp, surface),
                       rtol=1e-12)


@SETTINGS
@given(mask_pair(), st.floats(0.5, 4.0))
def test_distances_scale_with_spacing(pair, k):
    a, b, spacing, surface = pair
    m1 = all_metrics(a, b, spacing, surface, tol=1.0)
    m2 = all_metrics(a, b, tuple(s * k for s in spacing), surface, tol=k)
    assert np.allclose(m2[:2], m1[:2])  # overlap ignores spacing
    assert np.allclose(m2[2:7], k * m1[2:7], rtol=1e-9)  # distances scale
    assert m2[7] == pytest.approx(m1[7], abs=1e-12)  # NSD at a scaled tolerance


@SETTINGS
@given(mask_pair())
def test_ranges_and_identity(pair):
    a, b, spacing, surface = pair
    m = all_metrics(a, b, spacing, surface)
    d, j, hd, hd95, hd95p = m[:5]
    inter = np.count_nonzero(a & b)
    assert d == pytest.approx(2 * inter / (np.count_nonzero(a) + np.count_nonzero(b)))
    assert j == pytest.approx(inter / np.count_nonzero(a | b))
    assert (d == 1) == np.array_equal(a, b) and (hd == 0) == np.array_equal(a, b)
    assert 0 <= hd95 <= hd and 0 <= hd95p <= hd and 0 <= m[5] <= hd and 0 <= m[7] <= 1
    same = all_metrics(a, a, spacing, surface)
    assert np.allclose(same, [1, 1, 0, 0, 0, 0, 0, 1])
