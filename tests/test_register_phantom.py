"""The phantom's second acquisition: its true transform follows ITK's convention, and
registration recovers it; ``leg3dus synth --second-acquisition`` writes it."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from leg3dus import read_volume
from leg3dus.phantom import Anatomy, cohort_params, make_subject
from leg3dus.phantom.second import (
    MAX_ANGLE_DEG,
    MAX_SHIFT_MM,
    make_second_acquisition,
    second_acquisition_subjects,
    write_second_acquisition,
)
from leg3dus.register import (
    register_rigid,
    target_registration_error,
    transfer_labels,
    transform_points,
)

SPACING = 1.5


@pytest.fixture(scope="module")
def subject():
    params = cohort_params(1)[0]
    anatomy = Anatomy(params)
    x1, labels1 = make_subject(params, SPACING, anatomy=anatomy)
    second = make_second_acquisition(params, x1, seed=3, anatomy=anatomy)
    return params, anatomy, x1, labels1, second


def test_pose_and_field_of_view_are_within_bounds(subject):
    _, _, x1, _, second = subject
    t = second.transform
    angles = np.rad2deg([t.GetAngleX(), t.GetAngleY(), t.GetAngleZ()])
    assert np.all(np.abs(angles) <= MAX_ANGLE_DEG)
    assert np.all(np.abs(t.GetTranslation()) <= MAX_SHIFT_MM)
    assert second.image.shape != x1.shape
    assert second.image.dtype == np.uint8 and second.labels.array.dtype == np.uint8
    assert (second.image.array == 0).any()  # never-scanned parts outside the anatomy


def test_true_transform_maps_x1_points_to_the_same_tissue_in_x2(subject):
    _, anatomy, x1, labels1, second = subject
    # A point of x1 (physical = subject frame) and its image through the transform in
    # x2's frame show the same label: sample x2's labels at T(p).
    rng = np.random.default_rng(0)
    idx = np.argwhere(labels1.array > 0)
    idx = idx[rng.choice(len(idx), 2000, replace=False)]
    p1 = x1.geometry.index_to_physical(idx.astype(float))
    p2 = transform_points(second.transform, p1)
    j = np.rint(second.labels.geometry.physical_to_index(p2)).astype(int)
    inside = np.all((j >= 0) & (j < np.asarray(second.labels.shape)), axis=1)
    got = second.labels.array[tuple(j[inside].T)]
    assert (got == labels1.array[tuple(idx[inside].T)]).mean() > 0.9
    # sitk.Resample with the transform brings x2's labels onto x1's grid.
    moved = sitk.GetArrayFromImage(sitk.Resample(second.labels.to_sitk(), labels1.to_sitk(),
                                                 second.transform, sitk.sitkNearestNeighbor))
    both = (moved > 0) | (labels1.array > 0)
    covered = transfer_labels(second.labels.with_array(np.ones_like(second.labels.array)),
                              x1.geometry, second.transform).array > 0
    assert (moved == labels1.array)[both & covered].mean() > 0.9


def test_registration_recovers_the_phantom_pose(subject):
    _, _, x1, labels1, second = subject
    result = register_rigid(x1, second.image, levels_mm=(6.0, 3.0, 1.5), samples=20_000)
    idx = np.argwhere(labels1.array > 0)[::20]
    tre = target_registration_error(result.transform, second.transform,
                                    x1.geometry.index_to_physical(idx.astype(float)))
    assert np.median(tre) < 0.5 * SPACING


def test_subject_choice():
    assert len(second_acquisition_subjects(44)) == 15
    assert second_acquisition_subjects(5, 5) == [0, 1, 2, 3, 4]
    assert second_acquisition_subjects(5, 0) == []


def test_write_and_synth_cli(subject, tmp_path, cli):
    params, anatomy, x1, _, _ = subject
    info = write_second_acquisition(tmp_path / "S", params, x1.geometry, seed=3,
                                    anatomy=anatomy)
    t = sitk.ReadTransform(str(info["transform"]))
    assert read_volume(info["image"]).shape == read_volume(info["labels"]).shape
    np.testing.assert_allclose(t.TransformPoint((1.0, 2.0, 3.0)),
                               make_second_acquisition(params, x1, seed=3, anatomy=anatomy)
                               .transform.TransformPoint((1.0, 2.0, 3.0)), atol=1e-9)
    out = tmp_path / "cohort"
    r = cli("synth", out, "--subjects", 2, "--spacing", 4.0, "--second-acquisition",
            "--second-acquisition-subjects", 1, "--quiet")
    assert r.exit_code == 0, r.output
    seconds = sorted(p.parent.name for p in out.rglob("x2.mha"))
    assert seconds == ["P001"]
    for folder in {p.parent for p in out.rglob("x2.mha")}:
        assert (folder / "masksX2.mha").exists() and (folder / "x2_true.tfm").exists()
    r = cli("synth", tmp_path / "bad", "--subjects", 2, "--spacing", 4.0,
            "--second-acquisition", "--second-acquisition-subjects", 5)
    assert r.exit_code == 2 and "second acquisitions" in r.stderr
    assert not (tmp_path / "bad").exists()
