"""The leg axis of morphology: from the direction matrix, chosen with ``axis``/``--axis``,
and said when it is oblique to the superior-inferior axis."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

from leg3dus import read_volume, write_volume
from leg3dus.core.layout import Subject
from leg3dus.core.volume import Volume
from leg3dus.morphology import (
    ObliqueAxisWarning,
    leg_axis,
    measure,
    measure_subject,
    slice_statistics,
)
from leg3dus.morphology.cohort import scanned_slices

SPACING = (0.5, 0.4, 0.3)  # (z, y, x) mm: the leg along z
#: The same voxels stored with the leg along array axis 2: array axes (y, x, z).
LEG_ON_AXIS_2 = np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])


def leg_labels() -> np.ndarray:
    """(z, y, x) = (40, 20, 24): SOL a cylinder of growing then shrinking radius around
    slice 20, GM a 10 x 6 x 5 box from slice 0 (it reaches the first slice), GL a
    cylinder of radius 4 voxels over slices 5..34."""
    a = np.zeros((40, 20, 24), np.uint8)
    yy, xx = np.mgrid[:20, :24]
    for k in range(4, 36):
        r = 7.0 - abs(k - 20) * 0.3
        a[k][(yy - 10) ** 2 + (xx - 8) ** 2 <= r * r] = 100
        if 5 <= k < 35:
            a[k][(yy - 10) ** 2 + (xx - 18) ** 2 <= 16] = 200
    a[0:10, 1:7, 1:6] = 150
    return a


def on_axis_2(a: np.ndarray) -> np.ndarray:
    return np.moveaxis(a, 0, 2)  # (y, x, z)


def rotation_about_x(deg: float) -> np.ndarray:
    """A direction whose array axis 0 lies ``deg`` off physical z (in the z-y plane)."""
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])


def same_measures(m0, m2) -> None:
    for name, a in m0.muscles.items():
        b = m2.muscles[name]
        assert a.row() == pytest.approx(b.row(), nan_ok=True), name
        np.testing.assert_allclose(a.csa_cm2, b.csa_cm2)
        np.testing.assert_allclose(a.centroids_mm, b.centroids_mm, atol=1e-9)


def test_leg_axis_rule():
    assert leg_axis(None) == (0, 0.0)
    assert leg_axis(LEG_ON_AXIS_2) == (2, 0.0)
    assert leg_axis(LEG_ON_AXIS_2, "1") == (1, 90.0)
    assert leg_axis(-np.eye(3)) == (0, 0.0)  # either way along z
    axis, deg = leg_axis(rotation_about_x(20))
    assert axis == 0 and deg == pytest.approx(20.0)


def test_known_box_and_cylinder_along_axis_0():
    a = leg_labels()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the identity direction is not oblique
        m = measure(a, spacing=SPACING, csa_at=[50])
    assert (m.leg_axis, m.axis_oblique_deg, m.oblique) == (0, 0.0, False)
    gm = m.muscles["GM"]
    assert gm.volume_cm3 == pytest.approx(10 * 6 * 5 * 0.5 * 0.4 * 0.3 / 1000)
    assert gm.max_csa_cm2 == pytest.approx(6 * 5 * 0.4 * 0.3 / 100)
    assert gm.length_mm == pytest.approx(10 * 0.5) and gm.fov_clipped == "first"
    gl = m.muscles["GL"]
    assert gl.length_mm == pytest.approx(30 * 0.5) and gl.fov_clipped == ""
    assert gl.csa_cm2[20] == pytest.approx(np.pi * 16 * 0.4 * 0.3 / 100, rel=0.1)
    sol = m.muscles["SOL"]
    assert sol.max_csa_slice == 20 and sol.path_length_mm == pytest.approx(sol.length_mm, abs=0.01)
    # The profile integrates to the volume; labelled extent: slices 0..35 (36 x 0.5 mm).
    assert sol.csa_cm2.sum() * 0.05 == pytest.approx(sol.volume_cm3)
    assert m.leg_length_mm == pytest.approx(18.0)
    assert sol.max_csa_position_pct == pytest.approx(100 * 20.5 / 36)


def test_leg_on_axis_2_found_from_the_direction_gives_the_same_numbers():
    a = leg_labels()
    m0 = measure(a, spacing=SPACING, csa_at=[30, 50, 70])
    b = Volume(on_axis_2(a), (0.4, 0.3, 0.5), (0.0, 0.0, 0.0), LEG_ON_AXIS_2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m2 = measure(b, csa_at=[30, 50, 70])
    assert (m2.leg_axis, m2.axis_oblique_deg) == (2, 0.0)
    assert m2.leg_length_mm == m0.leg_length_mm and m2.slice_mm == 0.5
    same_measures(m0, m2)
    assert measure(b, axis=2, csa_at=[30, 50, 70]).muscles["SOL"].row() == \
        m2.muscles["SOL"].row()
    # The scanned field of view follows the axis too.
    image = np.ones(b.shape, np.uint8)
    image[:, :, :3] = 0
    scanned = scanned_slices(image, axis=2)
    assert scanned.tolist() == [False] * 3 + [True] * 37
    gm = measure(b, scanned=scanned).muscles["GM"]
    assert gm.fov_clipped == "first"
    assert measure(a, spacing=SPACING, scanned=scanned).muscles["SOL"].fov_clipped == ""


def test_axis_overrides_the_direction():
    a = leg_labels()
    b = Volume(on_axis_2(a), (0.4, 0.3, 0.5), (0.0, 0.0, 0.0), LEG_ON_AXIS_2)
    with pytest.warns(ObliqueAxisWarning, match="array axis 0.*90.0 deg"):
        m = measure(b, axis=0)
    assert (m.leg_axis, m.axis_oblique_deg, m.oblique) == (0, 90.0, True)
    gm = m.muscles["GM"]  # now along b's axis 0, the y of the leg: 6 slices of 0.4 mm
    assert gm.length_mm == pytest.approx(6 * 0.4) and gm.first_slice == 1
    assert gm.max_csa_cm2 == pytest.approx(10 * 5 * 0.5 * 0.3 / 100)
    assert gm.volume_cm3 == pytest.approx(10 * 6 * 5 * 0.5 * 0.4 * 0.3 / 1000)


def test_oblique_direction_warns_and_reports_the_angle():
    a = leg_labels()
    with pytest.warns(ObliqueAxisWarning, match="20.0 deg"):
        m = measure(Volume(a, SPACING, (0.0, 0.0, 0.0), rotation_about_x(20)))
    assert m.leg_axis == 0 and m.axis_oblique_deg == pytest.approx(20.0) and m.oblique
    # Measured along the array axis all the same: the grid's slices.
    for name, muscle in measure(a, spacing=SPACING).muscles.items():
        assert m.muscles[name].volume_cm3 == pytest.approx(muscle.volume_cm3)
        np.testing.assert_allclose(m.muscles[name].csa_cm2, muscle.csa_cm2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 4 degrees is within the 5 degree tolerance
        assert measure(Volume(a, SPACING, direction=rotation_about_x(4))).axis_oblique_deg \
            == pytest.approx(4.0)


def test_measure_subject_with_image_follows_the_axis(tmp_path):
    a = leg_labels()
    b = Volume(on_axis_2(a), (0.4, 0.3, 0.5), (0.0, 0.0, 0.0), LEG_ON_AXIS_2)
    image = np.full(b.shape, 9, np.uint8)
    image[:, :, -1] = 0  # nothing scanned on the last slice along the leg
    write_volume(b, tmp_path / "masksX1.mha")
    write_volume(b.with_array(image), tmp_path / "x1.mha")
    subject = Subject("P", "", tmp_path / "x1.mha", tmp_path / "masksX1.mha")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = measure_subject(subject, csa_at=(50,), with_image=True)
    assert (r["leg_axis"], r["axis_oblique_deg"]) == (2, 0.0)
    m0 = measure(a, spacing=SPACING, csa_at=[50])
    same_measures(m0, r["morphology"])
    r = measure_subject(subject, axis="0")  # no warning here: the angle is in the result
    assert (r["leg_axis"], r["axis_oblique_deg"]) == (0, 90.0)


# -- the command ------------------------------------------------------------------------

def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def axis_tree(tmp_path):
    """Three subjects with the same voxels: leg along axis 0, along axis 2, and along
    axis 0 with a direction 20 degrees off z."""
    a = leg_labels()
    root = tmp_path / "tree" / "train"
    write_volume(Volume(a, SPACING), root / "A0" / "masksX1.mha")
    write_volume(Volume(on_axis_2(a), (0.4, 0.3, 0.5), direction=LEG_ON_AXIS_2),
                 root / "A2" / "masksX1.mha")
    write_volume(Volume(a, SPACING, direction=rotation_about_x(20)),
                 root / "OB" / "masksX1.mha")
    return tmp_path / "tree"


MEASURES = ("voxels", "volume_cm3", "length_mm", "max_csa_cm2", "max_csa_position_pct",
            "path_length_mm", "csa_50pct_cm2", "fov_clipped", "first_slice", "last_slice",
            "leg_length_mm")


def test_cli_auto_axis_same_numbers_and_oblique_warning(cli, axis_tree, tmp_path):
    out, prof = tmp_path / "m.csv", tmp_path / "p.csv"
    res = cli("morphology", axis_tree, "-o", out, "--profiles", prof, "--csa-at", "50",
              "--quiet")
    assert res.exit_code == 0, res.stderr
    rows = {(r["id"], r["muscle"]): r for r in read_csv(out)}
    for muscle in ("SOL", "GM", "GL"):
        a0, a2, ob = (rows[(s, muscle)] for s in ("A0", "A2", "OB"))
        assert [a2[k] for k in MEASURES] == [a0[k] for k in MEASURES]
        assert [ob[k] for k in MEASURES] == [a0[k] for k in MEASURES]
        assert (a0["leg_axis"], a2["leg_axis"], ob["leg_axis"]) == ("0", "2", "0")
        assert (a0["axis_oblique_deg"], a2["axis_oblique_deg"]) == ("0", "0")
        assert float(ob["axis_oblique_deg"]) == pytest.approx(20.0)
    profiles = read_csv(prof)
    for key in ("A0", "A2"):
        assert len([p for p in profiles if p["id"] == key and p["muscle"] == "SOL"]) == 32
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert warned == ["warning: leg axis (array axis 0) is 20.0 deg off the superior-inferior "
                      "axis in train/OB: cross-sections are slices of the grid, oblique to "
                      "the transverse plane (axis_oblique_deg)"]
    assert "GM reaches the first slice" in res.stdout


def test_cli_axis_option_and_bad_value(cli, axis_tree, tmp_path):
    out = tmp_path / "m.csv"
    one = axis_tree / "train" / "A2" / "masksX1.mha"
    res = cli("morphology", one, "--axis", "0", "--json")
    assert res.exit_code == 0, res.stderr
    import json

    subject = json.loads(res.stdout)["subjects"][0]
    assert (subject["leg_axis"], subject["axis_oblique_deg"]) == (0, 90.0)
    assert subject["muscles"]["GM"]["length_mm"] == pytest.approx(6 * 0.4)
    assert "90.0 deg" in res.stderr
    res = cli("morphology", one, "--axis", "2", "-o", out)
    assert res.exit_code == 0 and "warning" not in res.stderr
    assert {r["leg_axis"] for r in read_csv(out)} == {"2"}
    out.unlink()
    for bad in ("3", "z", "-1"):
        res = cli("morphology", axis_tree, "--axis", bad, "-o", out)
        assert res.exit_code == 2 and not out.exists()
        assert res.stderr.strip().splitlines() == [
            f"error: --axis must be one of auto, 0, 1, 2, found '{bad}'"]
    assert read_volume(one).shape == (20, 24, 40)  # inputs untouched


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_slice_statistics_along_each_axis(axis):
    rng = np.random.default_rng(axis)
    a = rng.choice(np.array([0, 100, 150, 200, 7], np.uint8), size=(7, 9, 11))
    moved = np.moveaxis(a, axis, 0)
    grid_a, grid_b = np.mgrid[:moved.shape[1], :moved.shape[2]]
    for labels in (a, a.astype(np.int16)):
        stats = slice_statistics(labels, axis=axis)
        for v, (counts, sum_a, sum_b) in stats.items():
            mask = moved == v
            np.testing.assert_array_equal(counts, mask.sum(axis=(1, 2)))
            np.testing.assert_allclose(sum_a, (mask * grid_a).sum(axis=(1, 2)))
            np.testing.assert_allclose(sum_b, (mask * grid_b).sum(axis=(1, 2)))


def test_oblique_subjects_share_one_warning_line():
    from leg3dus.morphology import CohortMorphology

    a = np.zeros((6, 4, 4), np.uint8)
    a[1:4, 1:3, 1:3] = 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ObliqueAxisWarning)
        tilted = measure(Volume(a, direction=rotation_about_x(20)))
        across = measure(a, axis=1)
    done = [{"split": "train", "id": f"P{i}", "morphology": tilted} for i in range(5)]
    done += [{"split": "", "id": "Q", "morphology": across},
             {"split": "", "id": "R", "morphology": measure(a)}]
    lines = CohortMorphology(None, done, [], [], []).warnings()
    assert [line.split(":")[0] for line in lines] == [
        "leg axis (array axis 0) is 20.0 deg off the superior-inferior axis in 5 subjects",
        "leg axis (array axis 1) is 90.0 deg off the superior-inferior axis in Q"]
