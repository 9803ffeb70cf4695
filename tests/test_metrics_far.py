"""Surface distances when the prediction lies far from the truth: the shared cell walk of
the nearest-point search, its wider second search and its k-d tree fallback all give the
distances of brute force and of DeepMind's surface-distance (whose distance transform on
the grid of surfel corners is the reference), on small far-apart pairs with anisotropic
spacing, one-voxel and empty masks, and shapes touching the border of the volume."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from leg3dus.metrics import _kernels_nearest as nearest
from leg3dus.metrics import (
    directed_means,
    evaluate,
    hausdorff,
    hausdorff_percentile,
    nsd,
    surface_distances,
)


def ellipsoid(shape, centre, radii):
    """Boolean ellipsoid (z, y, x) with ``centre`` and ``radii`` in voxels."""
    grid = np.ogrid[tuple(slice(0, n) for n in shape)]
    r = sum(((g - c) / a) ** 2 for g, c, a in zip(grid, centre, radii, strict=True))
    return r <= 1.0


def corners(mask):
    """Surfel corners: the corners whose 8 surrounding voxels are mixed."""
    padded = np.pad(mask, 1).astype(int)
    n = [s + 1 for s in mask.shape]
    count = sum(padded[a:a + n[0], b:b + n[1], c:c + n[2]]
                for a in (0, 1) for b in (0, 1) for c in (0, 1))
    return np.argwhere((count > 0) & (count < 8))


def far_pair(shape=(40, 40, 40)):
    """Two different shapes far apart: a long ellipsoid and a bent, smaller one."""
    truth = ellipsoid(shape, (12, 12, 14), (9, 6, 8))
    pred = ellipsoid(shape, (27, 28, 25), (11, 5, 7)) | ellipsoid(shape, (33, 20, 30),
                                                                  (4, 9, 3))
    return pred, truth


def deepmind(pred, truth, spacing):
    sdm = pytest.importorskip("surface_distance")
    ref = sdm.compute_surface_distances(truth, pred, spacing)
    return [sdm.compute_robust_hausdorff(ref, 100), sdm.compute_robust_hausdorff(ref, 95),
            *sdm.compute_average_surface_distance(ref),
            sdm.compute_surface_dice_at_tolerance(ref, 1.0),
            sdm.compute_surface_dice_at_tolerance(ref, 5.0)]


def ours(sd):
    return [hausdorff(sd), hausdorff_percentile(sd, 95), *directed_means(sd), nsd(sd, 1.0),
            nsd(sd, 5.0)]


def bruteforce(pred, truth, spacing):
    d = cdist(corners(truth) * spacing, corners(pred) * spacing)
    return d.min(1), d.min(0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.554, 0.3, 0.9), (2.0, 0.25, 0.5)])
def test_far_pair_equals_deepmind_and_bruteforce(spacing):
    pred, truth = far_pair()
    sd = surface_distances(pred, truth, spacing)
    t2p, p2t = bruteforce(pred, truth, spacing)
    # Far apart: most points lie more than two search cells (4 voxels) from the other
    # surface along the finest axis.
    assert np.median(t2p) > 8 * min(spacing)
    assert np.allclose(np.sort(sd.truth_to_pred), np.sort(t2p), rtol=1e-12, atol=0)
    assert np.allclose(np.sort(sd.pred_to_truth), np.sort(p2t), rtol=1e-12, atol=0)
    np.testing.assert_allclose(ours(sd), deepmind(pred, truth, spacing), rtol=1e-10)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_one_voxel_masks_and_shapes_on_the_border():
    shape = (40, 36, 30)
    spacing = (0.7, 0.4, 1.1)
    edge = np.zeros(shape, bool)
    edge[:, :6, :] = True                      # a slab along three faces of the volume
    edge[30:, :, 25:] = True
    dot = np.zeros(shape, bool)
    dot[5, 33, 2] = True                       # one voxel, far from the slab's far end
    corner = np.zeros(shape, bool)
    corner[-1, -1, -1] = True                  # one voxel in the last corner
    for pred, truth in ((dot, edge), (edge, dot), (corner, dot), (dot, corner),
                        (edge, corner)):
        sd = surface_distances(pred, truth, spacing)
        t2p, p2t = bruteforce(pred, truth, spacing)
        assert np.allclose(np.sort(sd.truth_to_pred), np.sort(t2p), rtol=1e-12, atol=0)
        assert np.allclose(np.sort(sd.pred_to_truth), np.sort(p2t), rtol=1e-12, atol=0)
        np.testing.assert_allclose(ours(sd), deepmind(pred, truth, spacing), rtol=1e-10)


def test_far_pair_with_an_empty_mask_gives_documented_values():
    pred, truth = far_pair()
    empty = np.zeros_like(pred)
    for p, t in ((empty, truth), (pred, empty)):
        sd = surface_distances(p, t, (0.5, 0.8, 1.0))
        assert math.isinf(hausdorff(sd)) and math.isinf(hausdorff_percentile(sd))
        assert nsd(sd) == 0.0


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_evaluate_far_labels_equal_deepmind_per_structure():
    sdm = pytest.importorskip("surface_distance")
    shape, spacing = (40, 32, 36), (0.554, 0.45, 0.6)
    truth = np.zeros(shape, np.uint8)
    truth[ellipsoid(shape, (12, 10, 10), (8, 5, 6))] = 100
    truth[ellipsoid(shape, (28, 12, 24), (7, 6, 7))] = 150
    truth[ellipsoid(shape, (20, 25, 20), (5, 4, 9))] = 200
    pred = np.zeros(shape, np.uint8)   # every muscle elsewhere, GM split in two
    pred[ellipsoid(shape, (28, 22, 25), (9, 6, 7))] = 100
    pred[ellipsoid(shape, (9, 8, 28), (6, 5, 5)) | ellipsoid(shape, (35, 28, 5), (3, 3, 3))] = 150
    pred[ellipsoid(shape, (10, 26, 8), (7, 4, 5))] = 200
    res = evaluate(pred, truth, spacing)
    for name, values in (("SOL", [100]), ("GM", [150]), ("GL", [200]),
                         ("union", [100, 150, 200])):
        p, t = np.isin(pred, values), np.isin(truth, values)
        ref = sdm.compute_surface_distances(t, p, spacing)
        a2b, b2a = sdm.compute_average_surface_distance(ref)
        area_t, area_p = ref["surfel_areas_gt"].sum(), ref["surfel_areas_pred"].sum()
        expected = {"hd": sdm.compute_robust_hausdorff(ref, 100),
                    "hd95": sdm.compute_robust_hausdorff(ref, 95),
                    "masd": (a2b + b2a) / 2,
                    "assd": (a2b * area_t + b2a * area_p) / (area_t + area_p),
                    "nsd": sdm.compute_surface_dice_at_tolerance(ref, 1.0)}
        assert res[name]["hd95"] > 5.0
        for key, value in expected.items():
            assert res[name][key] == pytest.approx(value, rel=1e-10), (name, key)


def test_cell_walk_of_many_queries_matches_bruteforce():
    # Queries in many cells, inside and outside the points' grid (negative cell
    # coordinates), with repeated queries and points on a plane far from most of them.
    rng = np.random.default_rng(4)
    spacing = np.array([0.9, 0.35, 0.6])
    points = np.stack([rng.integers(10, 14, 300), rng.integers(0, 50, 300),
                       rng.integers(-5, 40, 300)], axis=1).astype(np.int32)
    queries = rng.integers(-30, 60, (2000, 3)).astype(np.int32)
    queries[1000:1010] = queries[0]
    ref = cdist(queries * spacing, points * spacing).min(1)
    got = nearest.nearest_distances(queries, points, spacing)
    assert np.allclose(got, ref, rtol=1e-12, atol=0)
    assert np.all(got[1000:1010] == got[0])


def test_unsettled_queries_are_negative_then_widened_or_sent_to_the_tree(monkeypatch):
    spacing = np.array([0.5, 0.3, 0.4])
    points = np.array([[0, 0, 0], [1, 2, 3], [40, 0, 0]], np.int32)
    queries = np.array([[2, 2, 2], [48, 1, 1], [200, 5, 5]], np.int32)
    ref = cdist(queries * spacing, points * spacing).min(1)
    raw = nearest.ring_search(queries, points, spacing, 4, 2)
    # Within 2 cells: the first query is settled; the others get minus the nearest
    # distance found (-inf when none lies within the walk).
    assert raw[0] == pytest.approx(ref[0], rel=1e-12)
    assert raw[1] == pytest.approx(-ref[1], rel=1e-12) and raw[2] == -np.inf
    # A second, wider walk settles the query whose nearest point was seen; the k-d
    # tree settles the one that saw none ...
    assert np.allclose(nearest.nearest_distances(queries, points, spacing, radius=2), ref,
                       rtol=1e-12, atol=0)
    # ... and every far query when the wider walk would be too wide.
    monkeypatch.setattr(nearest, "_MAX_RADIUS", 2)
    assert np.allclose(nearest.nearest_distances(queries, points, spacing, radius=2), ref,
                       rtol=1e-12, atol=0)


def test_no_points_or_no_queries():
    spacing = np.array([1.0, 1.0, 1.0])
    q = np.array([[1, 2, 3]], np.int32)
    none = np.zeros((0, 3), np.int32)
    assert nearest.nearest_distances(q, none, spacing).tolist() == [math.inf]
    assert nearest.nearest_distances(none, q, spacing).shape == (0,)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.554, 0.3, 0.9), (2.0, 0.25, 0.5)])
def test_distance_transform_matches_bruteforce_and_search(spacing):
    # Queries inside and outside the points' box, on its faces and on the points.
    rng = np.random.default_rng(11)
    spacing = np.array(spacing)
    points = rng.integers(0, 30, (150, 3)).astype(np.int32)
    queries = np.concatenate([rng.integers(-25, 55, (1500, 3)), points[:20],
                              [[0, 0, 0], [-25, 54, -25]]]).astype(np.int32)
    ref = cdist(queries * spacing, points * spacing).min(1)
    edt = nearest.edt_distances(queries, points, spacing)
    assert np.allclose(edt, ref, rtol=1e-12, atol=0)
    assert np.all(edt[1500:1520] == 0.0)
    search = nearest.nearest_distances(queries, points, spacing, method="search")
    # Same operations for the same nearest point: equal but for ties between points at
    # one distance whose sums round differently.
    assert np.mean(edt == search) > 0.95
    assert np.allclose(edt, search, rtol=1e-14, atol=0)


def test_distance_transform_of_one_point_and_of_nothing():
    spacing = np.array([0.5, 0.3, 0.4])
    one = np.array([[3, 4, 5]], np.int32)
    assert nearest.edt_distances(one, one, spacing).tolist() == [0.0]
    q = np.array([[3, 4, 5], [0, 0, 0]], np.int32)
    ref = cdist(q * spacing, one * spacing).min(1)
    assert np.allclose(nearest.edt_distances(q, one, spacing), ref, rtol=1e-12, atol=0)
    none = np.zeros((0, 3), np.int32)
    assert nearest.edt_distances(q, none, spacing).tolist() == [math.inf, math.inf]
    assert nearest.edt_distances(none, one, spacing).shape == (0,)
    assert nearest.nearest_distances(q, none, spacing, method="transform").tolist() == \
        [math.inf, math.inf]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_method_switches_with_distance_and_both_ways_equal_deepmind(monkeypatch):
    from scipy.spatial import cKDTree

    spacing = (0.554, 0.4, 0.6)
    shape = (48, 46, 44)
    # Close: large surfaces one voxel apart (the search); far: small ones ~40 voxels
    # apart (the transform).
    big = ellipsoid(shape, (24, 23, 22), (20, 19, 18))
    big_near = ellipsoid(shape, (25, 23, 21), (20, 18, 18))
    small = ellipsoid(shape, (10, 10, 10), (7, 6, 6))
    small_far = ellipsoid(shape, (38, 34, 31), (8, 6, 7))
    pairs = [(big_near, big, False), (small_far, small, True)]
    for pred, truth, transformed in pairs:
        q, p = corners(truth).astype(np.int32), corners(pred).astype(np.int32)
        assert nearest.use_transform(q, p, spacing) == transformed
    # No transform when the box would be too large.
    monkeypatch.setattr(nearest, "MAX_TRANSFORM_VOXELS", 1000)
    assert not nearest.use_transform(q, p, spacing)
    monkeypatch.undo()
    used = []
    real = nearest.edt_distances
    monkeypatch.setattr(nearest, "edt_distances",
                        lambda *a: used.append(len(a[0])) or real(*a))
    for pred, truth, transformed in pairs:
        used.clear()
        sd = surface_distances(pred, truth, spacing)
        assert bool(used) == transformed
        q, p = corners(truth) * spacing, corners(pred) * spacing
        t2p, p2t = cKDTree(p).query(q)[0], cKDTree(q).query(p)[0]
        assert np.allclose(np.sort(sd.truth_to_pred), np.sort(t2p), rtol=1e-12, atol=0)
        assert np.allclose(np.sort(sd.pred_to_truth), np.sort(p2t), rtol=1e-12, atol=0)
        np.testing.assert_allclose(ours(sd), deepmind(pred, truth, spacing), rtol=1e-10)
        for method in ("search", "transform"):
            got = nearest.nearest_distances(corners(truth).astype(np.int32),
                                            corners(pred).astype(np.int32),
                                            np.array(spacing), method=method)
            assert np.allclose(got, sd.truth_to_pred, rtol=1e-14, atol=0)


def test_unknown_method_raises():
    from leg3dus.core.errors import OptionError

    p = np.zeros((1, 3), np.int32)
    with pytest.raises(OptionError, match="method"):
        nearest.nearest_distances(p, p, np.ones(3), method="tree")


def test_queries_walk_together_or_alone_with_the_same_distances():
    spacing = (0.554, 0.4, 0.6)
    shape = (48, 44, 40)
    truth = corners(ellipsoid(shape, (10, 10, 10), (7, 6, 6))).astype(np.int32)
    near = corners(ellipsoid(shape, (11, 10, 9), (7, 7, 5))).astype(np.int32)
    far = corners(ellipsoid(shape, (30, 24, 22), (8, 6, 7))).astype(np.int32)
    # (Boxes this small would take the transform: ruled out here.)
    assert nearest.plan(truth, near, spacing, transform=False) == "alone"
    assert nearest.plan(truth, far, spacing, transform=False) == "shared"
    for points in (near, far):
        ref = cdist(truth * spacing, points * spacing).min(1)
        grid = nearest._Grid(points, spacing, 4)
        for shared in (True, False):
            got = grid.walk(truth, 12, shared)
            assert np.allclose(got, ref, rtol=1e-12, atol=0)
        assert np.array_equal(grid.walk(truth, 12, True), grid.walk(truth, 12, False))
