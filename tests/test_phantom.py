"""Phantom: cohort parameters, anatomy, labels and volumes."""

from __future__ import annotations

import numpy as np
import pytest

from leg3dus.core.errors import OptionError
from leg3dus.phantom import Anatomy, cohort_params, make_labels, make_subject, subject_params
from leg3dus.phantom import tissue as T


@pytest.fixture(scope="module")
def right_leg():
    return cohort_params(2, seed=5)[0].replace(side="right")


def test_default_cohort_has_the_datasets_sex_and_side_counts():
    cohort = cohort_params(44)
    assert sum(p.sex == "F" for p in cohort) == 22
    assert sum(p.side == "left" for p in cohort) == 20
    assert len({p.id for p in cohort}) == 44
    assert len({p.shape_seed for p in cohort}) == 44


def test_subject_does_not_depend_on_cohort_size():
    small, large = cohort_params(3, seed=9), cohort_params(60, seed=9)
    assert small == large[:3]
    assert subject_params(50, seed=9) == large[50]
    assert cohort_params(3, seed=10) != small


def test_cohort_parameters_stay_in_adult_ranges():
    cohort = cohort_params(88, seed=2)
    fat = np.array([p.fat_mm for p in cohort])
    assert fat.min() >= 3 and fat.max() <= 12
    women = [p.leg_length_mm for p in cohort if p.sex == "F"]
    men = [p.leg_length_mm for p in cohort if p.sex == "M"]
    assert np.mean(women) < np.mean(men)
    for p in cohort:
        assert all(15 <= a <= 23 for a in p.pennation_deg)


def test_muscle_volumes_in_mri_ranges():
    vols = np.array([[*Anatomy(p).true_volumes_cm3().values()] for p in cohort_params(8)])
    mean = vols.mean(axis=0)
    assert 380 < mean[0] < 560  # SOL
    assert 180 < mean[1] < 320  # GM
    assert 100 < mean[2] < 190  # GL
    assert (vols[:, 0] > vols[:, 1]).all() and (vols[:, 1] > vols[:, 2]).all()


def test_bad_options_raise_clear_errors():
    with pytest.raises(OptionError, match="at least 1"):
        cohort_params(0)
    with pytest.raises(OptionError, match="side"):
        cohort_params(1)[0].replace(side="up")
    with pytest.raises(OptionError, match=r"\(\.\.\., 3\)"):
        Anatomy(cohort_params(1)[0]).tissue_at(np.zeros((4, 2), np.float32))


def test_points_and_grid_agree_exactly(right_leg):
    anat = Anatomy(right_leg)
    labels = make_labels(right_leg, spacing=2.0, anatomy=anat)
    idx = np.argwhere(np.ones(labels.shape, bool))[::7]
    points = ((idx + 0.5) * 2.0).astype(np.float32)
    assert np.array_equal(anat.labels_at(points), labels.array[tuple(idx.T)])
    assert labels.origin == (1.0, 1.0, 1.0)


def test_orientation_skin_on_top_and_muscles_ordered_in_depth(right_leg):
    anat = Anatomy(right_leg)
    ext = anat.extent_mm
    depth = np.linspace(0, ext[1], 800)
    z = 0.25 * ext[0]
    line = np.stack([np.full_like(depth, z), depth, np.full_like(depth, ext[2] / 2)], axis=-1)
    codes = T.base(anat.tissue_at(line))
    first = {c: int(np.argmax(codes == c)) for c in (T.SKIN, T.FAT, T.SOL, T.DEEP)}
    assert codes[0] == T.GEL
    assert first[T.SKIN] < first[T.FAT] < first[T.SOL] < first[T.DEEP]
    assert np.isin(codes, [T.GM, T.GL]).any()
    # Along the leg: gastrocnemius only in the proximal part, soleus to near the ankle.
    zs = np.linspace(0, ext[0], 400)
    pts = np.stack(np.broadcast_arrays(zs[:, None], depth[None, ::4], ext[2] / 2), -1)
    lab = anat.labels_at(pts)
    has = {v: zs[(lab == v).any(axis=1)] for v in (100, 150)}
    assert has[150].max() < 0.65 * ext[0]
    assert has[100].min() > 0.08 * ext[0] and has[100].max() > 0.85 * ext[0]


def test_medial_gastrocnemius_is_medial_and_left_mirrors_right(right_leg):
    left = right_leg.replace(side="left")
    a_r, a_l = Anatomy(right_leg), Anatomy(left)
    assert a_r.extent_mm == a_l.extent_mm
    lab_r = make_labels(right_leg, 2.0, anatomy=a_r).array
    lab_l = make_labels(left, 2.0, anatomy=a_l).array
    # GM lies towards +x (medial) in a right leg.
    gm_x = np.argwhere(lab_r == 150)[:, 2].mean()
    gl_x = np.argwhere(lab_r == 200)[:, 2].mean()
    assert gm_x > gl_x
    # Point-wise mirror: the left leg at x equals the right leg at width - x.
    rng = np.random.default_rng(0)
    ext = np.asarray(a_r.extent_mm)
    pts = (rng.random((20000, 3)) * ext).astype(np.float32)
    mirrored = pts.copy()
    mirrored[:, 2] = np.float32(ext[2]) - pts[:, 2]
    agree = a_l.labels_at(mirrored) == a_r.labels_at(pts)
    assert agree.mean() > 0.999
    assert abs(int((lab_l == 150).sum()) - int((lab_r == 150).sum())) < 0.01 * (lab_r == 150).sum()


def test_muscles_never_overlap_and_are_separated_by_aponeuroses(right_leg):
    anat = Anatomy(right_leg)
    rng = np.random.default_rng(1)
    pts = (rng.random((200000, 3)) * np.asarray(anat.extent_mm)).astype(np.float32)
    codes = anat.tissue_at(pts)
    labels = T.label_lut()[codes]
    # One code per point by construction; check that each label comes from its tissue.
    for value, tissue in ((100, T.SOL), (150, T.GM), (200, T.GL)):
        assert np.array_equal(labels == value, T.base(codes) == tissue)
    assert (T.base(codes) == T.APONEUROSIS).any()


def test_voxel_volumes_match_the_continuous_model_at_half_a_millimetre():
    # A short leg keeps the grid small; the anatomy scales with it, so every muscle
    # (and the tapering ends) is still there.
    params = cohort_params(1, seed=3)[0].replace(leg_length_mm=160.0)
    anat = Anatomy(params)
    true = anat.true_volumes_cm3()
    labels = make_labels(params, spacing=0.5, anatomy=anat)
    voxel_mm3 = 0.125
    for name, value in (("SOL", 100), ("GM", 150), ("GL", 200)):
        measured = (labels.array == value).sum() * voxel_mm3 / 1000.0
        assert measured == pytest.approx(true[name], rel=0.02), name


def test_make_subject_geometry_and_determinism(right_leg):
    image, labels = make_subject(right_leg, spacing=3.0)
    again, _ = make_subject(right_leg, spacing=3.0)
    assert image.shape == labels.shape == Anatomy(right_leg).shape_at(3.0)
    assert image.dtype == labels.dtype == np.uint8
    assert image.spacing == (3.0, 3.0, 3.0) and image.origin == labels.origin
    assert np.array_equal(image.array, again.array)
    assert set(np.unique(labels.array)) == {0, 100, 150, 200}


def _line_angle_deg(mask: np.ndarray) -> float:
    """Orientation (degrees from axis 0) of the lines of a binary (z, y) image, from
    its structure tensor."""
    from scipy import ndimage

    gz, gy = np.gradient(ndimage.gaussian_filter(mask.astype(float), 4))
    ang = 0.5 * np.arctan2(2 * (gz * gy).sum(), (gz * gz).sum() - (gy * gy).sum())
    return float((np.degrees(ang) + 180) % 180 - 90)


@pytest.mark.parametrize("seed", [1, 4])
@pytest.mark.parametrize("muscle, frac, index", [(T.GM, 0.2, 0), (T.GL, 0.25, 1),
                                                 (T.SOL, 0.6, 2)])
def test_fascicles_run_at_the_pennation_angle(muscle, frac, index, seed):
    params = cohort_params(1, seed=seed)[0].replace(side="right")
    anat = Anatomy(params)
    z0 = frac * anat.extent_mm[0]
    yc, xc = anat.axis_mm(z0)
    # The plane through the leg's axis and the middle of the muscle at z0, sampled in
    # (z, r) with r the distance from the axis.
    theta = np.linspace(-np.pi, np.pi, 721)
    r = np.arange(0, 90, 0.25)
    ring = np.stack(np.broadcast_arrays(z0, yc - np.outer(np.cos(theta), r),
                                        xc + np.outer(np.sin(theta), r)), -1)
    in_muscle = (T.base(anat.tissue_at(ring)) == muscle).sum(axis=1)
    mid = np.median(np.repeat(theta, in_muscle))
    h = 0.05
    zs, rs = np.arange(z0 - 12, z0 + 12, h), np.arange(90, 0, -h)
    zz, rr = np.meshgrid(zs, rs, indexing="ij")
    pts = np.stack([zz, yc - rr * np.cos(mid), xc + rr * np.sin(mid)], -1).astype(np.float32)
    codes = anat.tissue_at(pts)  # axis 1 runs into depth, towards the leg's axis
    rows = np.flatnonzero((T.base(codes) == muscle).mean(axis=0) > 0.9)
    band = slice(rows[len(rows) // 4], rows[3 * len(rows) // 4])
    # Relative to the muscle's superficial boundary in this window.
    top = np.argmax(T.base(codes) == muscle, axis=1) * h
    surface = np.degrees(np.arctan(np.polyfit(zs, top, 1)[0]))
    angle = _line_angle_deg((codes[:, band] & T.STRIATION) > 0) - surface
    # GM and GL fascicles descend distally from the superficial aponeurosis, SOL's rise.
    assert np.sign(angle) == (1 if muscle != T.SOL else -1)
    assert abs(abs(angle) - params.pennation_deg[index]) < 3.5  # surfaces curve a little
