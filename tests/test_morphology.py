"""Muscle morphology on shapes of known volume, length and cross-section."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import oblique_direction
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from leg3dus import Volume
from leg3dus.core.errors import OptionError
from leg3dus.morphology import ObliqueAxisWarning, measure, slice_statistics


def ellipsoid(shape, spacing, centre_mm, semi_mm, value=100):
    """Labels of an ellipsoid given in mm, sampled at voxel centres."""
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)],
                        indexing="ij", sparse=True)
    r2 = sum(((g - c) / a) ** 2 for g, c, a in zip(grids, centre_mm, semi_mm, strict=True))
    return np.where(r2 <= 1.0, value, 0).astype(np.uint8)


def test_box_exact_volume_length_and_area():
    labels = np.zeros((20, 10, 12), np.uint8)
    labels[4:14, 2:7, 3:11] = 150  # 10 slices of 5 x 8 voxels
    m = measure(labels, spacing=(2.0, 0.5, 0.25)).muscles["GM"]
    assert m.voxels == 400
    assert m.volume_cm3 == pytest.approx(400 * 2.0 * 0.5 * 0.25 / 1000)
    assert m.length_mm == pytest.approx(20.0)
    assert m.max_csa_cm2 == pytest.approx(40 * 0.125 / 100)
    np.testing.assert_allclose(m.csa_cm2[4:14], 0.05)
    assert not m.csa_cm2[:4].any() and not m.csa_cm2[14:].any()
    assert (m.first_slice, m.last_slice) == (4, 13)


def test_ellipsoid_matches_analytic_volume_length_and_profile():
    spacing = (0.8, 0.5, 0.4)
    semi = (30.0, 9.0, 12.0)
    centre = (40.0, 12.0, 15.0)
    labels = ellipsoid((100, 48, 76), spacing, centre, semi)
    m = measure(labels, spacing=spacing).muscles["SOL"]
    assert m.volume_cm3 == pytest.approx(4 / 3 * np.pi * np.prod(semi) / 1000, rel=0.01)
    assert m.length_mm == pytest.approx(2 * semi[0], abs=2 * spacing[0])
    z = (np.arange(100) * spacing[0] - centre[0]) / semi[0]
    analytic = np.pi * semi[1] * semi[2] * np.clip(1 - z**2, 0, None) / 100
    inner = np.abs(z) < 0.9  # away from the tips, where few voxels make each slice
    np.testing.assert_allclose(m.csa_cm2[inner], analytic[inner], rtol=0.03)
    assert m.max_csa_cm2 == pytest.approx(np.pi * semi[1] * semi[2] / 100, rel=0.01)
    assert m.max_csa_slice * spacing[0] == pytest.approx(centre[0], abs=2 * spacing[0])
    assert m.max_csa_position_pct == pytest.approx(50.0, abs=3.0)


def test_cylinder_cross_section_is_pi_r_squared():
    labels = np.zeros((30, 64, 64), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    labels[5:25][:, (yy - 31.5) ** 2 + (xx - 31.5) ** 2 <= 25**2] = 200
    m = measure(labels, spacing=(1.0, 0.3, 0.3)).muscles["GL"]
    area = np.pi * (25 * 0.3) ** 2 / 100
    np.testing.assert_allclose(m.csa_cm2[5:25], area, rtol=0.01)
    assert m.volume_cm3 == pytest.approx(area * 20 / 10, rel=0.01)


def test_leg_extent_positions():
    labels = np.zeros((40, 4, 4), np.uint8)
    labels[10:30] = 100          # SOL fills the labelled extent
    labels[20, :, :2] = 150      # GM one slice, half the section
    labels[20, :, 2:] = 150
    m = measure(labels, spacing=(1.0, 1.0, 1.0))
    assert m.leg_length_mm == 20.0
    assert m.muscles["GM"].max_csa_position_pct == pytest.approx(100 * 10.5 / 20)
    v = measure(labels, spacing=(1.0, 1.0, 1.0), leg_extent="volume")
    assert v.leg_length_mm == 40.0
    assert v.muscles["GM"].max_csa_position_pct == pytest.approx(100 * 20.5 / 40)
    with pytest.raises(OptionError, match="leg extent"):
        measure(labels, leg_extent="knee")


def test_centroid_path_of_tilted_cylinder_in_physical_space():
    # A disk whose centre moves 1 voxel in x every slice: a straight oblique rod.
    labels = np.zeros((20, 24, 40), np.uint8)
    yy, xx = np.mgrid[:24, :40]
    for k in range(20):
        labels[k][(yy - 12) ** 2 + (xx - 10 - k) ** 2 <= 16] = 100
    spacing, origin, direction = (0.5, 0.4, 0.3), (10.0, -4.0, 2.5), oblique_direction()
    vol = Volume(labels, spacing, origin, direction)
    with pytest.warns(ObliqueAxisWarning, match="35.0 deg"):  # axis 0 is 35 deg off z
        m = measure(vol).muscles["SOL"]
    expected = vol.geometry.index_to_physical(
        np.stack([np.arange(20), np.full(20, 12.0), 10.0 + np.arange(20)], axis=1))
    np.testing.assert_allclose(m.centroids_mm, expected, atol=1e-9)
    # The 19 steps between slice centres, plus the two half slices counted straight.
    assert m.path_length_mm == pytest.approx(19 * np.hypot(0.5, 0.3) + 0.5)


def test_empty_muscles_and_stray_values():
    labels = np.zeros((6, 5, 5), np.uint8)
    labels[1:3, 1:3, 1:3] = 100
    labels[4, 0, 0] = 7
    m = measure(labels)
    assert m.stray == {7: 1}
    gm = m.muscles["GM"]
    assert not gm.present and gm.volume_cm3 == 0.0 and gm.length_mm == 0.0
    assert np.isnan(gm.max_csa_position_pct) and np.isnan(gm.centroids_mm).all()
    nothing = measure(np.zeros((3, 3, 3), np.uint8))
    assert nothing.leg_length_mm == 0.0
    assert all(not x.present for x in nothing.muscles.values())


def test_bad_input():
    with pytest.raises(OptionError, match="3D"):
        measure(np.zeros((4, 4), np.uint8))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), chunk=st.integers(1, 9))
def test_slice_statistics_match_scipy(seed, chunk):
    rng = np.random.default_rng(seed)
    labels = rng.choice(np.array([0, 100, 150, 200], np.uint8), size=(11, 7, 9),
                        p=[0.4, 0.2, 0.2, 0.2])
    stats = slice_statistics(labels, chunk=chunk)
    for v, (counts, sum_y, sum_x) in stats.items():
        for k in range(labels.shape[0]):
            sl = labels[k] == v
            assert counts[k] == sl.sum()
            if sl.any():
                cy, cx = ndimage.center_of_mass(sl)
                assert sum_y[k] / counts[k] == pytest.approx(cy)
                assert sum_x[k] / counts[k] == pytest.approx(cx)
    total = measure(labels, spacing=(0.5, 0.4, 0.3))
    for muscle in total.muscles.values():
        assert muscle.csa_cm2.sum() * 0.5 / 10 == pytest.approx(muscle.volume_cm3)
