"""Morphology for a paper: CSA at chosen positions, muscles cut by the field of view, and
a centroid path length that tiny end slices do not inflate."""

from __future__ import annotations

import numpy as np
import pytest

from leg3dus.core.errors import OptionError
from leg3dus.morphology import measure
from leg3dus.morphology.path import centroid_path_length_mm


def _cone(nz=40, start=5, stop=35, size=32):
    """SOL whose radius grows linearly with the slice: CSA known in closed form."""
    labels = np.zeros((nz, size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for k in range(start, stop):
        labels[k][(yy - 15.5) ** 2 + (xx - 15.5) ** 2 <= (2 + 0.4 * (k - start)) ** 2] = 100
    return labels


def test_csa_at_positions_interpolates_between_slice_centres():
    labels = _cone()
    m = measure(labels, spacing=(2.0, 0.5, 0.5), csa_at=[0, 30, 50, 70, 100])
    sol = m.muscles["SOL"]
    # Leg extent = slices 5..34 (60 mm); 50 % is 30 mm from slice 5's start edge, i.e.
    # between the centres of slices 19 and 20.
    assert sol.csa_at_cm2[50.0] == pytest.approx((sol.csa_cm2[19] + sol.csa_cm2[20]) / 2)
    k30 = 5 - 0.5 + 0.3 * 60 / 2.0
    assert sol.csa_at_cm2[30.0] == pytest.approx(np.interp(k30, np.arange(40), sol.csa_cm2))
    # The ends of the extent give the outer slices' areas, not zero.
    assert sol.csa_at_cm2[0.0] == pytest.approx(sol.csa_cm2[5])
    assert sol.csa_at_cm2[100.0] == pytest.approx(sol.csa_cm2[34])
    assert m.muscles["GM"].csa_at_cm2 == {p: 0.0 for p in (0, 30, 50, 70, 100)}
    row = sol.row()
    assert row["csa_30pct_cm2"] == sol.csa_at_cm2[30.0] and "csa_70pct_cm2" in row
    # Against the whole grid the same position is another slice.
    v = measure(labels, spacing=(2.0, 0.5, 0.5), leg_extent="volume", csa_at=[50])
    assert v.muscles["SOL"].csa_at_cm2[50.0] == pytest.approx(
        (sol.csa_cm2[19] + sol.csa_cm2[20]) / 2)  # 40 slices: centre between 19 and 20
    with pytest.raises(OptionError, match="0..100"):
        measure(labels, csa_at=[50, 120])


def test_fov_clipped_by_grid_ends_and_by_scanned_slices():
    labels = np.zeros((20, 6, 6), np.uint8)
    labels[0:8, :3] = 150      # GM starts on the first slice
    labels[5:20, 3:] = 100     # SOL ends on the last slice
    labels[6:12, :3] = 200     # GL inside
    m = measure(labels)
    assert {n: x.fov_clipped for n, x in m.muscles.items()} == \
        {"SOL": "last", "GM": "first", "GL": ""}
    scanned = np.zeros(20, bool)
    scanned[6:12] = True       # the image holds data on slices 6..11 only
    s = measure(labels, scanned=scanned)
    assert {n: x.fov_clipped for n, x in s.muscles.items()} == \
        {"SOL": "both", "GM": "first", "GL": "both"}
    scanned[:] = False         # an empty image: the grid's ends
    assert measure(labels, scanned=scanned).muscles["GL"].fov_clipped == ""
    assert measure(labels).muscles["GM"].row()["fov_clipped"] == "first"
    with pytest.raises(OptionError, match="20 values"):
        measure(labels, scanned=np.ones(19, bool))


def _oblique_rod_with_ragged_tips(rng, nz=160, sz=0.5, tilt=0.35, radius=6.0):
    """A rod whose centre moves ``tilt`` mm sideways per mm along the leg, cut by
    transverse planes, with tiny tip slices scattered sideways as in drawn masks."""
    ny, nx, sp = 40, 110, 0.5
    labels = np.zeros((nz, ny, nx), np.uint8)
    yy, xx = np.mgrid[:ny, :nx] * sp
    for k in range(10, nz - 10):
        cx = 10 + tilt * (k - 10) * sz
        labels[k][(yy - 10) ** 2 + (xx - cx) ** 2 <= radius ** 2] = 150
    for k in list(range(4, 10)) + list(range(nz - 10, nz - 4)):  # tips: a few voxels
        y, x = rng.integers(2, ny - 3), rng.integers(2, nx - 3)
        labels[k, y:y + 2, x:x + 2] = 150
    axis_mm = (nz - 21) * sz * np.hypot(1, tilt)  # between the first and last full slice
    return labels, (sz, sp, sp), axis_mm


def test_path_length_of_oblique_rod_is_its_axis_not_its_tips(rng):
    labels, spacing, axis_mm = _oblique_rod_with_ragged_tips(rng)
    gm = measure(labels, spacing=spacing).muscles["GM"]
    rows = np.flatnonzero(gm.csa_cm2)
    plain = np.linalg.norm(np.diff(gm.centroids_mm[rows], axis=0), axis=1).sum()
    assert plain > axis_mm + 50  # the plain sum counts the tips' sideways jumps
    tips_mm = gm.length_mm - (len(rows) - 12) * spacing[0]  # tips + half slices, straight
    assert gm.path_length_mm == pytest.approx(axis_mm + tips_mm + spacing[0], rel=0.005)


def test_path_length_of_straight_and_curved_paths():
    z = np.arange(60.0)
    straight = np.stack([z, np.full(60, 3.0), np.full(60, -2.0)], axis=1)
    assert centroid_path_length_mm(straight, np.ones(60), 60.0, 1.0) == pytest.approx(60.0)
    # A circular arc of radius 100 mm over 60 slices: smoothing keeps its length.
    t = z / 100.0
    arc = np.stack([100 * np.sin(t), np.zeros(60), 100 * (1 - np.cos(t))], axis=1)
    exact = np.linalg.norm(np.diff(arc, axis=0), axis=1).sum()
    assert centroid_path_length_mm(arc, np.ones(60), 60.0, 1.0) == pytest.approx(exact + 1.0,
                                                                                 rel=1e-4)
    # Voxel-scale jitter is smoothed out: far below the plain sum.
    jitter = straight + np.random.default_rng(0).normal(0, 0.5, straight.shape) * [0, 1, 1]
    plain = np.linalg.norm(np.diff(jitter, axis=0), axis=1).sum()
    smooth = centroid_path_length_mm(jitter, np.ones(60), 60.0, 1.0)
    assert smooth < 60.0 + 0.3 * (plain - 60.0)
    assert centroid_path_length_mm(jitter, np.ones(60), 60.0, 1.0, smooth_mm=0) == \
        pytest.approx(plain + 1.0)
    assert centroid_path_length_mm(straight, np.zeros(60), 0.0, 1.0) == 0.0


def test_phantom_path_length_close_to_length():
    from leg3dus.phantom.params import subject_params
    from leg3dus.phantom.subject import make_labels

    m = measure(make_labels(subject_params(0), spacing=1.0))
    for muscle in m.muscles.values():
        assert muscle.length_mm <= muscle.path_length_mm <= 1.05 * muscle.length_mm
    # The phantom's gastrocnemii start on the first slice of the grid.
    assert m.muscles["GM"].fov_clipped == "first"
