"""Rigid registration: known transforms recovered, the ITK convention kept, clear failures."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from leg3dus import Volume
from leg3dus.core.errors import GeometryError, InputFileError, OptionError
from leg3dus.register import (
    RegistrationError,
    euler_transform,
    read_transform,
    register_rigid,
    resample_volume,
    rigid_matrix,
    rotation_angle_deg,
    target_registration_error,
    transfer_labels,
    transform_points,
    write_transform,
)

SPACING = 1.0
LEVELS = (4.0, 2.0, 1.0)


def _world(seed: int, shape=(128, 112, 112)) -> tuple[sitk.Image, sitk.Image]:
    """A smooth piecewise-constant 'anatomy' (three echo levels) and its labels, centred on 0."""
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), 4.0)
    f /= f.std()
    labels = np.select([f < -0.5, f < 0.5], [100, 150], 200).astype(np.uint8)
    image = ndimage.gaussian_filter(
        np.select([f < -0.5, f < 0.5], [40.0, 110.0], 180.0).astype(np.float32), 1.0)
    origin = tuple(-np.asarray(shape) * 0.5)
    return (Volume(image, (0.5,) * 3, tuple(o * 0.5 for o in origin)).to_sitk(),
            Volume(labels, (0.5,) * 3, tuple(o * 0.5 for o in origin)).to_sitk())


def acquire(world, truth, shape, seed, empty=None, labels=None):
    """The world seen on a grid centred on 0 through ``truth`` (fixed -> this frame),
    with its own speckle and a never-scanned slab ``empty`` set to 0."""
    ref = sitk.Image([int(n) for n in shape[::-1]], sitk.sitkFloat32)
    ref.SetSpacing([SPACING] * 3)
    ref.SetOrigin([-n * SPACING / 2 for n in shape[::-1]])
    inverse = truth.GetInverse()
    img = sitk.GetArrayFromImage(sitk.Resample(world, ref, inverse, sitk.sitkLinear, 0.0))
    speckle = ndimage.gaussian_filter(
        np.random.default_rng(seed).rayleigh(1.0, shape).astype(np.float32), 0.7)
    img = np.clip(img * speckle / speckle.mean(), 1, 255).astype(np.uint8)
    if empty is not None:
        img[empty] = 0
    origin = tuple(ref.GetOrigin()[::-1])
    vol = Volume(img, (SPACING,) * 3, origin)
    if labels is None:
        return vol
    lab = sitk.GetArrayFromImage(sitk.Resample(labels, ref, inverse, sitk.sitkNearestNeighbor,
                                               0, sitk.sitkUInt8))
    return vol, Volume(lab, (SPACING,) * 3, origin)


def pair(seed=0, rotation=(3.0, -4.0, 2.0), shift=(6.0, -3.0, 5.0), labels=False):
    """Fixed and moving acquisitions of one world, the moving one displaced by ``truth``."""
    world, world_labels = _world(seed)
    truth = euler_transform(rotation, shift)
    fixed = acquire(world, euler_transform(), (40, 36, 36), seed + 1, np.s_[:5],
                    world_labels if labels else None)
    moving = acquire(world, truth, (36, 38, 34), seed + 2, np.s_[-4:],
                     world_labels if labels else None)
    return fixed, moving, truth


def surface_points(shape=(40, 36, 36)) -> np.ndarray:
    """Points (z, y, x) mm spread over the fixed grid's central region."""
    g = np.stack(np.meshgrid(*[np.linspace(-0.3 * n, 0.3 * n, 5) for n in shape],
                             indexing="ij"), -1)
    return g.reshape(-1, 3) * SPACING


@pytest.mark.parametrize("seed,rotation,shift", [
    (0, (3.0, -4.0, 2.0), (6.0, -3.0, 5.0)),
    (1, (-5.0, 2.0, 4.0), (-8.0, 5.0, -4.0)),
])
def test_recovers_known_transform_correlation(seed, rotation, shift):
    fixed, moving, truth = pair(seed, rotation, shift)
    result = register_rigid(fixed, moving, levels_mm=LEVELS, samples=20_000)
    tre = target_registration_error(result.transform, truth, surface_points())
    assert np.median(tre) < 0.3 * SPACING, tre
    assert result.metric < result.initial_metric
    assert result.overlap > 0.3


def test_recovers_known_transform_mattes_and_inits():
    fixed, moving, truth = pair(2, (2.0, 3.0, -3.0), (-4.0, 6.0, 3.0))
    pts = surface_points()
    for kwargs in ({"metric": "mattes"}, {"init": "identity"}, {"init": "moments"},
                   {"init": truth, "search_mm": 0}):
        result = register_rigid(fixed, moving, levels_mm=LEVELS, samples=20_000, **kwargs)
        tre = target_registration_error(result.transform, truth, pts)
        assert np.median(tre) < 0.3 * SPACING, (kwargs, np.median(tre))


def test_result_is_deterministic_for_a_seed():
    fixed, moving, _ = pair(0)
    a = register_rigid(fixed, moving, levels_mm=LEVELS, samples=10_000, seed=3)
    b = register_rigid(fixed, moving, levels_mm=LEVELS, samples=10_000, seed=3)
    assert a.transform.GetParameters() == b.transform.GetParameters()


def test_zyx_helpers_follow_itk_on_reversed_points():
    t = euler_transform((4.0, -2.0, 3.0), (1.0, 2.0, -3.0), center_mm=(5.0, 0.0, -1.0))
    pts = np.random.default_rng(0).uniform(-20, 20, (10, 3))
    itk = np.array([t.TransformPoint(p[::-1].tolist()) for p in pts])[:, ::-1]
    np.testing.assert_allclose(transform_points(t, pts), itk, atol=1e-9)
    r, _ = rigid_matrix(t)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    # A rotation about axis 0 (z, along the leg) keeps the z component of every point.
    only_z = euler_transform((10.0, 0.0, 0.0))
    moved = transform_points(only_z, pts)
    np.testing.assert_allclose(moved[:, 0], pts[:, 0], atol=1e-9)
    assert rotation_angle_deg(only_z) == pytest.approx(10.0)


def test_tfm_round_trip_through_simpleitk(tmp_path):
    fixed, moving, truth = pair(0)
    result = register_rigid(fixed, moving, levels_mm=LEVELS, samples=10_000)
    path = write_transform(result.transform, tmp_path / "t.tfm")
    again = sitk.ReadTransform(str(path))
    pts = np.random.default_rng(1).uniform(-15, 15, (20, 3))
    for p in pts:
        np.testing.assert_allclose(again.TransformPoint(p.tolist()),
                                   result.transform.TransformPoint(p.tolist()), atol=1e-6)
    ours = read_transform(path)
    assert isinstance(ours, sitk.Euler3DTransform)
    np.testing.assert_allclose(target_registration_error(ours, result.transform, pts), 0,
                               atol=1e-6)
    # sitk.Resample with the file's transform gives the same image as resample_volume.
    via_sitk = sitk.GetArrayFromImage(sitk.Resample(moving.to_sitk(), fixed.to_sitk(), again,
                                                    sitk.sitkNearestNeighbor, 0))
    ours_img = resample_volume(moving, fixed, result.transform, interpolator="nearest")
    np.testing.assert_array_equal(ours_img.array, via_sitk)


def test_label_transfer_matches_truth_and_keeps_values():
    (fixed, fixed_labels), (moving, moving_labels), truth = pair(0, labels=True)
    result = register_rigid(fixed, moving, levels_mm=LEVELS, samples=20_000)
    moved = transfer_labels(moving_labels, fixed.geometry, result.transform)
    assert moved.geometry.matches(fixed.geometry) == []
    assert set(np.unique(moved.array)) <= {0, 100, 150, 200}
    ideal = transfer_labels(moving_labels, fixed.geometry, truth)
    covered = ideal.array > 0
    for v in (100, 150, 200):
        a, b = moved.array[covered] == v, ideal.array[covered] == v
        assert 2 * (a & b).sum() / (a.sum() + b.sum()) > 0.95
    # Against the fixed acquisition's own labels, where the moving grid reached.
    agree = (moved.array == fixed_labels.array)[covered].mean()
    assert agree > 0.85


def test_identity_transfer_is_exact():
    _, labels = pair(0, labels=True)[0]
    same = transfer_labels(labels, labels.geometry, euler_transform())
    np.testing.assert_array_equal(same.array, labels.array)


def test_no_overlap_is_reported():
    fixed, moving, _ = pair(0)
    far = Volume(moving.array, moving.spacing, tuple(np.add(moving.origin, (0, 0, 500.0))))
    with pytest.raises(RegistrationError, match="no overlap"):
        register_rigid(fixed, far, init="identity", levels_mm=LEVELS, samples=5000)


def test_no_convergence_gives_the_final_metric():
    fixed, moving, _ = pair(0)
    with pytest.raises(RegistrationError,
                       match=r"no convergence at the 1.00 mm level.*iteration limit.*metric -"):
        register_rigid(fixed, moving, levels_mm=LEVELS, samples=5000, iterations=1)


def test_poor_alignment_threshold():
    fixed, moving, _ = pair(0)
    with pytest.raises(RegistrationError, match=r"poor alignment: final metric -?\d"):
        register_rigid(fixed, moving, levels_mm=LEVELS, samples=5000, max_metric=-0.999)


def test_bad_inputs():
    fixed, moving, _ = pair(0)
    with pytest.raises(GeometryError, match="empty"):
        register_rigid(fixed.with_array(np.zeros_like(fixed.array)), moving)
    with pytest.raises(OptionError, match="metric"):
        register_rigid(fixed, moving, metric="ssd")
    with pytest.raises(OptionError, match="initialisation"):
        register_rigid(fixed, moving, init="centre")
    with pytest.raises(GeometryError, match="mask"):
        register_rigid(fixed, moving, fixed_mask=moving)
    for bad in ({"restarts": -1}, {"tolerance": -0.1}, {"tolerance": float("nan")}):
        with pytest.raises(OptionError, match="restarts and tolerance must be >= 0"):
            register_rigid(fixed, moving, **bad)


def test_read_transform_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such"):
        read_transform(tmp_path / "none.tfm")
    bad = tmp_path / "bad.tfm"
    bad.write_text("not a transform\n")
    with pytest.raises(InputFileError, match="bad.tfm"):
        read_transform(bad)
    scaled = tmp_path / "scaled.tfm"
    sitk.WriteTransform(sitk.ScaleTransform(3, (2.0, 1.0, 1.0)), str(scaled))
    with pytest.raises(InputFileError, match="rigid"):
        read_transform(scaled)
    with pytest.raises(OptionError, match=".tfm"):
        write_transform(euler_transform(), tmp_path / "t.mha")


@pytest.mark.parametrize("interpolator", ["nearest", "linear"])
def test_slab_by_slab_resampling_equals_one_whole_resampling(monkeypatch, interpolator):
    """The fixed grid is filled a few planes at a time, each from the part of the moving
    volume it maps into (memory): the same voxels as SimpleITK resampling it whole."""
    from leg3dus.register import resample as slabs

    (fixed, _), (moving, moving_labels), _ = pair(0, labels=True)
    t = euler_transform((2.5, -1.5, 3.0), (1.3, -0.8, 2.1), (0.7, -0.3, 1.1))
    f = sitk.ResampleImageFilter()
    f.SetReferenceImage(fixed.to_sitk())
    f.SetTransform(t)
    f.SetInterpolator(sitk.sitkNearestNeighbor if interpolator == "nearest" else sitk.sitkLinear)
    if interpolator == "linear":
        f.SetOutputPixelType(sitk.sitkFloat32)
    whole = sitk.GetArrayFromImage(f.Execute(moving.to_sitk()))
    if interpolator == "linear":
        whole = np.clip(np.rint(whole), 0, 255).astype(moving.array.dtype)
    monkeypatch.setattr(slabs, "SLAB_VOXELS", 3 * fixed.shape[1] * fixed.shape[2])
    got = resample_volume(moving, fixed.geometry, t, interpolator)
    np.testing.assert_array_equal(got.array, whole)
    assert got.array.dtype == moving.array.dtype
    if interpolator == "nearest":
        labels = transfer_labels(moving_labels, fixed.geometry, t)
        f.SetOutputPixelType(sitk.sitkUInt8)
        np.testing.assert_array_equal(labels.array, sitk.GetArrayFromImage(
            f.Execute(moving_labels.to_sitk())))


def test_pyramid_levels_shrunk_slab_by_slab_equal_binshrink():
    from leg3dus.register.pyramid import shrink_slabs

    vol = Volume(np.random.default_rng(1).integers(0, 256, (37, 20, 23)).astype(np.uint8),
                 (0.3, 0.4, 0.5), (1.0, 2.0, 3.0))
    for factors in [(2, 2, 2), (3, 1, 2), (4, 3, 3), (1, 2, 2)]:
        a = shrink_slabs(vol, factors, slab_voxels=500)
        b = sitk.BinShrink(vol.to_sitk(), list(factors[::-1]))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))
        assert (a.GetOrigin(), a.GetSpacing()) == (b.GetOrigin(), b.GetSpacing())
