"""``leg3dus register``: outputs, JSON, and clear failures that leave nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
from test_register import pair

from leg3dus import Volume, read_volume, write_volume
from leg3dus.register import target_registration_error

FAST = ("--levels", "4,2,1", "--samples", "10000")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reg")
    (fixed, fixed_labels), (moving, moving_labels), truth = pair(0, labels=True)
    paths = {"fixed": root / "x1.mha", "moving": root / "x2.mha",
             "labels": root / "masksX2.mha", "fixed_labels": root / "masksX1.mha"}
    write_volume(fixed, paths["fixed"])
    write_volume(moving, paths["moving"])
    write_volume(moving_labels, paths["labels"])
    write_volume(fixed_labels, paths["fixed_labels"])
    return root, paths, truth


def test_register_writes_transform_resampled_and_labels(cli, files, tmp_path):
    _, p, truth = files
    tfm, res, lab = tmp_path / "t.tfm", tmp_path / "moved.mha", tmp_path / "lab.mha"
    r = cli("register", p["fixed"], p["moving"], "-o", tfm, "--resampled", res,
            "--labels", p["labels"], "--labels-out", lab, "--json", *FAST)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["final_metric"] < out["initial_metric"]
    t = sitk.ReadTransform(str(tfm))
    pts = np.random.default_rng(0).uniform(-10, 10, (50, 3))
    assert np.median(target_registration_error(t, truth, pts)) < 0.3
    fixed = read_volume(p["fixed"])
    for path in (res, lab):
        assert read_volume(path).geometry.matches(fixed.geometry) == []
    assert set(np.unique(read_volume(lab).array)) <= {0, 100, 150, 200}
    # The JSON angles and shifts, in (z, y, x), are those of the written transform.
    np.testing.assert_allclose(out["translation_mm_zyx"],
                               np.asarray(sitk.Euler3DTransform(t).GetTranslation())[::-1],
                               atol=1e-9)


def test_register_text_output_and_init_transform(cli, files, tmp_path):
    _, p, truth = files
    start = tmp_path / "start.tfm"
    sitk.WriteTransform(truth, str(start))
    r = cli("register", p["fixed"], p["moving"], "-o", tmp_path / "t.tfm",
            "--init-transform", start, "--search-mm", "0", *FAST)
    assert r.exit_code == 0, r.output
    assert "translation (z, y, x)" in r.stdout and "wrote" in r.stdout


def _no_outputs(tmp_path):
    return [f.name for f in tmp_path.iterdir()] == []


def test_no_overlap_exits_2_and_writes_nothing(cli, files, tmp_path):
    root, p, _ = files
    moving = read_volume(p["moving"])
    far_path, far_labels = root / "far.mha", root / "far_labels.mha"
    far_origin = tuple(np.add(moving.origin, (600.0, 0, 0)))
    write_volume(Volume(moving.array, moving.spacing, far_origin), far_path)
    write_volume(Volume(read_volume(p["labels"]).array, moving.spacing, far_origin), far_labels)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    r = cli("register", p["fixed"], far_path, "-o", out_dir / "t.tfm", "--init", "identity",
            "--labels", far_labels, "--labels-out", out_dir / "l.mha", *FAST)
    assert r.exit_code == 2
    assert "no overlap" in r.stderr and r.stderr.count("\n") == 1
    assert _no_outputs(out_dir)


def test_no_convergence_exits_2_with_metric(cli, files, tmp_path):
    _, p, _ = files
    r = cli("register", p["fixed"], p["moving"], "-o", tmp_path / "t.tfm",
            "--iterations", "1", *FAST)
    assert r.exit_code == 2
    assert "no convergence" in r.stderr and "final metric" in r.stderr
    assert _no_outputs(tmp_path)


@pytest.mark.parametrize("extra,message", [
    (("--labels", "LABELS"), "go together"),
    (("--metric", "ssd"), "--metric"),
    (("--init", "centre"), "--init"),
    (("--levels", "4,x"), "--levels"),
    (("--labels", "FIXED_LABELS_WRONG_GRID", "--labels-out", "OUT/l.mha"), "not on the grid"),
    (("--resampled", "MOVING"), "overwrite the input"),
    (("--init-transform", "MISSING"), "no such transform"),
])
def test_bad_options_exit_2(cli, files, tmp_path, extra, message):
    root, p, _ = files
    wrong = root / "wrong_grid.mha"
    if not wrong.exists():
        lab = read_volume(p["labels"])
        write_volume(Volume(lab.array[1:], lab.spacing, lab.origin), wrong)
    subst = {"LABELS": p["labels"], "FIXED_LABELS_WRONG_GRID": wrong, "MOVING": p["moving"],
             "MISSING": tmp_path / "none.tfm", "OUT/l.mha": tmp_path / "l.mha"}
    args = [subst.get(a, a) for a in extra]
    r = cli("register", p["fixed"], p["moving"], "-o", tmp_path / "t.tfm", *FAST, *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr
    assert not (tmp_path / "t.tfm").exists()


def test_missing_input_and_bad_output_name(cli, files, tmp_path):
    _, p, _ = files
    r = cli("register", p["fixed"], tmp_path / "nope.mha", "-o", tmp_path / "t.tfm")
    assert r.exit_code == 2 and "nope.mha" in r.stderr
    r = cli("register", p["fixed"], p["moving"], "-o", tmp_path / "t.mha")
    assert r.exit_code == 2 and ".tfm" in r.stderr
