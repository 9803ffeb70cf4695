"""Metrics against independent computations: brute-force distances (scipy cdist) on
small random shapes, analytic shapes with anisotropic spacing, DeepMind's and MONAI's
implementations where installed, and the documented values of empty masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.distance import cdist

from leg3dus.core.errors import OptionError
from leg3dus.metrics import (
    assd,
    confusion,
    dice,
    directed_means,
    hausdorff,
    hausdorff_percentile,
    iou,
    masd,
    nsd,
    precision,
    recall,
    surface_distances,
    volume_cm3,
    volume_error_percent,
)
from leg3dus.metrics._surfel_table import surfel_area_table


def random_shape(rng, shape, p=0.45):
    return ndimage.binary_opening(rng.random(shape) < p)


def border_voxels_bruteforce(mask):
    """Voxels of the mask with a face neighbour outside it (outside the array counts)."""
    padded = np.pad(mask, 1)
    eroded = ndimage.binary_erosion(padded)[1:-1, 1:-1, 1:-1]
    return np.argwhere(mask & ~eroded)


def surfel_corners_bruteforce(mask):
    """Corners whose 8 surrounding voxels are neither all inside nor all outside."""
    padded = np.pad(mask, 1).astype(int)
    count = sum(padded[a:a + mask.shape[0] + 1, b:b + mask.shape[1] + 1,
                       c:c + mask.shape[2] + 1]
                for a in (0, 1) for b in (0, 1) for c in (0, 1))
    return np.argwhere((count > 0) & (count < 8))


@pytest.mark.parametrize("surface", ["voxel", "surfel"])
@pytest.mark.parametrize("seed", range(6))
def test_distances_match_bruteforce(surface, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(6, 16, 3))
    spacing = tuple(rng.uniform(0.2, 1.5, 3))
    a, b = random_shape(rng, shape), random_shape(rng, shape)
    a[0, 0, 0] = b[-1, -1, -1] = True  # never empty (empty masks have their own test)
    sd = surface_distances(b, a, spacing, surface=surface)
    find = border_voxels_bruteforce if surface == "voxel" else surfel_corners_bruteforce
    pa, pb = find(a) * spacing, find(b) * spacing
    d = cdist(pa, pb)
    t2p, p2t = d.min(1), d.min(0)
    assert np.allclose(np.sort(sd.truth_to_pred), np.sort(t2p), rtol=1e-12)
    assert np.allclose(np.sort(sd.pred_to_truth), np.sort(p2t), rtol=1e-12)
    assert hausdorff(sd) == pytest.approx(max(t2p.max(), p2t.max()), rel=1e-12)
    if surface == "voxel":
        # Unweighted points: the definitions reduce to plain statistics.
        assert hausdorff_percentile(sd, 95) == pytest.approx(
            max(np.percentile(t2p, 95), np.percentile(p2t, 95)), rel=1e-12)
        both = np.concatenate([t2p, p2t])
        assert hausdorff_percentile(sd, 95, "pooled") == pytest.approx(
            np.percentile(both, 95), rel=1e-12)
        assert assd(sd) == pytest.approx(both.mean(), rel=1e-12)
        assert masd(sd) == pytest.approx((t2p.mean() + p2t.mean()) / 2, rel=1e-12)
        assert nsd(sd, 0.8) == pytest.approx((both <= 0.8).mean(), rel=1e-12)


def sphere(shape, centre_mm, radius_mm, spacing):
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing, strict=True)],
                        indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre_mm, strict=True)) <= radius_mm ** 2


@pytest.mark.parametrize("spacing", [(0.5, 0.5, 0.5), (0.8, 0.4, 0.3)])
def test_concentric_spheres_known_distances(spacing):
    # Surfaces of concentric spheres of radii 6 and 9 mm lie 3 mm apart everywhere; the
    # discretisation moves each by at most half a voxel diagonal.
    shape = tuple(int(26 / s) for s in spacing)
    centre = tuple(13.0 for _ in spacing)
    small, big = sphere(shape, centre, 6.0, spacing), sphere(shape, centre, 9.0, spacing)
    tol = float(np.linalg.norm(spacing))
    for surface in ("surfel", "voxel"):
        sd = surface_distances(big, small, spacing, surface)
        for value in (hausdorff(sd), hausdorff_percentile(sd, 95), assd(sd), masd(sd)):
            assert abs(value - 3.0) <= tol
        assert nsd(sd, 1.0) == 0.0
        assert nsd(sd, 3.0 + tol) == 1.0


def test_shifted_sphere_hausdorff_equals_shift():
    spacing = (0.5, 0.25, 0.4)
    shape = (40, 80, 50)
    a = sphere(shape, (10.0, 10.0, 10.0), 5.0, spacing)
    b = np.roll(a, 8, axis=1)  # 8 voxels of 0.25 mm along y
    sd = surface_distances(b, a, spacing)
    assert hausdorff(sd) == pytest.approx(2.0)
    # Most of the surface moves less than the shift (the sides slide along themselves):
    # the 95th percentile lies near the shift and well above the median.
    hd95, median = hausdorff_percentile(sd, 95), hausdorff_percentile(sd, 50)
    assert 1.6 < hd95 < 2.0 and median < 0.6 * hd95
    for d, w in ((sd.truth_to_pred, sd.truth_weights), (sd.pred_to_truth, sd.pred_weights)):
        assert w[d <= hd95].sum() / w.sum() >= 0.95  # each direction's 95 % lie within


def test_surfel_areas_of_a_box():
    # Marching cubes puts the faces of a box exactly on the voxel faces and chamfers
    # its edges, so the surfel area lies between the area of the box with half a voxel
    # cut from every edge and the area of the box itself.
    spacing = (0.5, 0.3, 0.2)
    mask = np.zeros((10, 12, 14), bool)
    mask[2:6, 2:8, 2:10] = True
    sd = surface_distances(mask, mask, spacing)
    area = sd.truth_weights.sum()
    a, b, c = 4 * 0.5, 6 * 0.3, 8 * 0.2
    assert 2 * ((a - .5) * (b - .3) + (b - .3) * (c - .2) + (c - .2) * (a - .5)) < area
    assert area < 2 * (a * b + b * c + c * a)
    assert np.all(sd.truth_to_pred == 0) and hausdorff(sd) == 0.0


def test_surfel_table_flat_faces():
    table = surfel_area_table((2.0, 3.0, 5.0))
    # Code 0b11110000: the lower z-layer of the cell is inside, a flat z-face of area
    # s_y * s_x; likewise y- and x-faces.
    assert table[0b11110000] == pytest.approx(15.0)
    assert table[0b11001100] == pytest.approx(10.0)
    assert table[0b10101010] == pytest.approx(6.0)
    assert table[0] == table[255] == 0.0


def test_surfel_table_corner_and_complement():
    spacing = (0.7, 1.3, 2.1)
    table = surfel_area_table(spacing)
    # One inside voxel: the triangle through the midpoints of its three edges.
    s = np.array(spacing) / 2
    tri = np.diag(s)
    corner = 0.5 * np.linalg.norm(np.cross(tri[1] - tri[0], tri[2] - tri[0]))
    for bit in range(8):
        assert table[1 << bit] == pytest.approx(corner, rel=1e-12)
    codes = np.arange(256)
    assert np.allclose(table, table[255 - codes], rtol=1e-12)


def test_surfel_table_equals_deepmind():
    lookup = pytest.importorskip("surface_distance.lookup_tables")
    rng = np.random.default_rng(5)
    for _ in range(10):
        spacing = rng.uniform(0.1, 3.0, 3)
        ref = lookup.create_table_neighbour_code_to_surface_area(spacing)
        np.testing.assert_allclose(surfel_area_table(spacing), ref, rtol=1e-12, atol=0)


def test_overlap_known_counts():
    p = np.array([1, 1, 1, 0, 0, 1], bool)
    t = np.array([1, 1, 0, 1, 0, 0], bool)
    assert confusion(p, t) == (2, 2, 1)
    assert dice(p, t) == pytest.approx(4 / 7)
    assert iou(p, t) == pytest.approx(2 / 5)
    assert precision(p, t) == pytest.approx(0.5)
    assert recall(p, t) == pytest.approx(2 / 3)
    assert volume_cm3(np.ones((10, 20, 10)), (0.5, 1.0, 1.0)) == pytest.approx(1.0)
    assert volume_error_percent(90.0, 100.0) == pytest.approx(-10.0)


def test_empty_masks_give_documented_values():
    e = np.zeros((6, 6, 6), bool)
    f = e.copy()
    f[2:4, 2:4, 2:4] = True
    both = surface_distances(e, e)
    assert (dice(e, e), iou(e, e), precision(e, e), recall(e, e)) == (1.0, 1.0, 1.0, 1.0)
    assert (hausdorff(both), hausdorff_percentile(both), assd(both), masd(both)) == (0,) * 4
    assert nsd(both) == 1.0
    assert volume_error_percent(0.0, 0.0) == 0.0
    for pred, truth in ((e, f), (f, e)):
        sd = surface_distances(pred, truth)
        assert dice(pred, truth) == 0.0 and iou(pred, truth) == 0.0
        assert math.isinf(hausdorff(sd)) and math.isinf(hausdorff_percentile(sd, 95, "pooled"))
        assert math.isinf(assd(sd)) and math.isinf(masd(sd)) and nsd(sd) == 0.0
        assert directed_means(sd) == (math.inf, math.inf)
    assert math.isnan(recall(f, e)) and precision(f, e) == 0.0
    assert math.isnan(precision(e, f)) and recall(e, f) == 0.0
    assert math.isinf(volume_error_percent(1.0, 0.0))
    assert volume_error_percent(0.0, 2.0) == -100.0


def test_bad_options_raise():
    a = np.ones((3, 3, 3), bool)
    sd = surface_distances(a, a)
    with pytest.raises(OptionError, match="HD95 mode"):
        hausdorff_percentile(sd, 95, "median")
    with pytest.raises(OptionError, match="percentile"):
        hausdorff_percentile(sd, 120)
    with pytest.raises(OptionError, match="surface"):
        surface_distances(a, a, surface="mesh")
    with pytest.raises(OptionError, match="one shape"):
        surface_distances(a, a[:2])
    with pytest.raises(OptionError, match="tolerance"):
        nsd(sd, -1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_matches_deepmind_surface_distance():
    sdm = pytest.importorskip("surface_distance")
    rng = np.random.default_rng(7)
    for _ in range(5):
        shape = tuple(rng.integers(8, 18, 3))
        spacing = tuple(rng.uniform(0.2, 2.0, 3))
        a, b = random_shape(rng, shape), random_shape(rng, shape)
        if not a.any() or not b.any():
            continue
        ref = sdm.compute_surface_distances(a, b, spacing)
        sd = surface_distances(b, a, spacing)
        expected = [sdm.compute_robust_hausdorff(ref, 100), sdm.compute_robust_hausdorff(ref, 95),
                    *sdm.compute_average_surface_distance(ref),
                    sdm.compute_surface_dice_at_tolerance(ref, 1.0)]
        got = [hausdorff(sd), hausdorff_percentile(sd, 95), *directed_means(sd), nsd(sd, 1.0)]
        assert np.allclose(got, expected, rtol=1e-10)


def test_far_outlier_and_bounded_search_are_exact():
    from leg3dus.metrics._kernels import nearest_distances

    # An outlier 60 voxels away is beyond the ring search: the k-d tree settles it.
    mask = np.zeros((80, 20, 20), bool)
    mask[5:12, 5:12, 5:12] = True
    pred = mask.copy()
    pred[75, 10, 10] = True
    spacing = (0.5, 0.3, 0.4)
    sd = surface_distances(pred, mask, spacing)
    d = cdist(surfel_corners_bruteforce(pred) * spacing, surfel_corners_bruteforce(mask) * spacing)
    assert hausdorff(sd) == pytest.approx(d.min(1).max(), rel=1e-12)
    rng = np.random.default_rng(2)
    q = rng.integers(-40, 80, (500, 3)).astype(np.int32)
    p = rng.integers(0, 40, (60, 3)).astype(np.int32)
    ref = cdist(q * spacing, p * spacing).min(1)
    got = nearest_distances(q, p, spacing, max_mm=3.0)
    assert np.array_equal(got <= 3.0, ref <= 3.0)
    assert np.allclose(got[ref <= 3.0], ref[ref <= 3.0], rtol=1e-12)


def test_weighted_percentile_follows_deepmind_rule_with_ties():
    from leg3dus.metrics.surface import _weighted_percentile

    def reference(d, w, q):  # DeepMind: sort by (distance, area), first cumulative share >= q
        order = np.lexsort((w, d))
        cum = np.cumsum(w[order])
        return d[order][min(np.searchsorted(cum / cum[-1], q), len(d) - 1)]

    rng = np.random.default_rng(11)
    for _ in range(400):
        n = int(rng.integers(1, 200))
        # Few distinct distances and areas: many exact ties of the cumulative share.
        d = np.sqrt(rng.integers(0, 30, n) * rng.choice([0.3, 1.0]))
        w = rng.choice([0.125, 0.25, 0.5, 1.0], n)
        for q in (0.05, 0.5, 0.9, 0.95, rng.random()):
            assert _weighted_percentile(d, w, 100 * q, "surfel") == reference(d, w, q)


def test_nearest_distances_near_widened_and_far_queries():
    from leg3dus.metrics._kernels import nearest_distances

    rng = np.random.default_rng(4)
    points = rng.integers(0, 30, (300, 3)).astype(np.int32)
    # Queries from inside the cloud (settled at once) to 20-150 voxels away (a widened
    # search, then the k-d tree).
    queries = np.concatenate([rng.integers(0, 30, (200, 3)),
                              rng.integers(-150, 180, (300, 3))]).astype(np.int32)
    spacing = (0.8, 0.3, 0.5)
    expected = cdist(queries * spacing, points * spacing).min(1)
    got = nearest_distances(queries, points, spacing)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
