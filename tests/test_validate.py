"""leg3dus validate: each check, its exit code and JSON, and the stray-value fix."""

from __future__ import annotations

import hashlib
import json

import numpy as np
from conftest import make_pair

from leg3dus import read_volume, write_volume
from leg3dus.dataset import find_subjects
from leg3dus.dataset.validate import CheckOptions, check_subject, validate_dataset

ISO = (0.28, 0.28, 0.28)


def make_tree(root, subjects=(("train", "S01"), ("train", "S02"), ("val", "S03"),
                              ("test", "S04")), spacing=ISO):
    for i, (split, sid) in enumerate(subjects):
        image, labels = make_pair(spacing=spacing, seed=i)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    return root


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _report(cli, *args):
    result = cli("validate", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def test_clean_tree_exits_0(cli, tmp_path):
    root = make_tree(tmp_path / "d")
    code, report = _report(cli, root)
    assert code == 0
    assert report["summary"] == {"subjects": 4, "findings": 0, "subjects_with_findings": 0,
                                 "by_check": {}, "fixed": 0, "clean": True}
    assert report["subjects"][0]["label_counts"]["100"] > 0
    text = cli("validate", root)
    assert text.exit_code == 0 and "4 subjects checked: no findings" in text.stdout


def test_every_finding_is_reported_and_the_rest_still_checked(cli, tmp_path):
    root = make_tree(tmp_path / "d", subjects=[("train", s) for s in
                                               ("A", "B", "C", "D", "E", "F", "G")]
                     + [("test", "A"), ("val", "H")])
    # B: stray values; C: labels shifted in origin; D: no labels; E: labels without image
    labels = read_volume(root / "train/B/masksX1.mha")
    labels.array[0, 0, :5] = 7
    labels.array[1, 1, 1] = 99
    write_volume(labels, root / "train/B/masksX1.mha")
    shifted = read_volume(root / "train/C/masksX1.mha")
    write_volume(shifted.crop((slice(1, None), slice(None), slice(None))),
                 root / "train/C/masksX1.mha")
    (root / "train/D/masksX1.mha").unlink()
    (root / "train/E/x1.mha").unlink()
    # F: GM missing; G: truncated image; H: anisotropic spacing
    no_gm = read_volume(root / "train/F/masksX1.mha")
    no_gm.array[no_gm.array == 150] = 0
    write_volume(no_gm, root / "train/F/masksX1.mha")
    blob = (root / "train/G/x1.mha").read_bytes()
    (root / "train/G/x1.mha").write_bytes(blob[:-100])
    image, labels = make_pair(spacing=(0.28, 0.28, 0.35))
    write_volume(image, root / "val/H/x1.mha")
    write_volume(labels, root / "val/H/masksX1.mha")

    code, report = _report(cli, root)
    assert code == 1
    found = {(f["subject"], f["check"]) for f in report["findings"]}
    assert found == {("train/B", "stray-values"), ("train/C", "geometry"),
                     ("train/D", "missing-label"), ("train/E", "missing-image"),
                     ("train/F", "missing-muscle"), ("train/G", "unreadable"),
                     ("val/H", "anisotropic"), ("A", "duplicate-id")}
    by = {(f["subject"], f["check"]): f for f in report["findings"]}
    assert "7 (5 voxels), 99 (1 voxel)" in by["train/B", "stray-values"]["message"]
    assert by["train/B", "stray-values"]["file"].endswith("train/B/masksX1.mha")
    assert "shape" in by["train/C", "geometry"]["message"]
    assert "GM (150)" in by["train/F", "missing-muscle"]["message"]
    assert "truncated" in by["train/G", "unreadable"]["message"]
    assert "test, train" in by["A", "duplicate-id"]["message"]
    # the truncated image did not stop its own labels from being checked
    g = next(r for r in report["subjects"] if r["subject"] == "train/G")
    assert g["label_counts"] is not None
    text = cli("validate", root)
    assert text.exit_code == 1
    assert "9 subjects checked: 8 findings in 8 subjects" in text.stdout


def test_geometry_tolerance(tmp_path):
    root = make_tree(tmp_path / "d", subjects=[("train", "S01")])
    labels = read_volume(root / "train/S01/masksX1.mha")
    moved = type(labels)(labels.array, labels.spacing,
                         tuple(np.add(labels.origin, (0.0005, 0, 0))), labels.direction)
    write_volume(moved, root / "train/S01/masksX1.mha")
    subject = find_subjects(root)[0]
    assert check_subject(subject)["findings"] == []
    strict = check_subject(subject, CheckOptions(atol_mm=1e-4))["findings"]
    assert [f["check"] for f in strict] == ["geometry"] and "origin" in strict[0]["message"]


def test_fix_stray_writes_cleaned_copies_elsewhere(cli, tmp_path):
    root = make_tree(tmp_path / "d", subjects=[("train", "S01"), ("test", "S02")])
    labels = read_volume(root / "test/S02/masksX1.mha")
    labels.array[5, 5, 5] = 42
    write_volume(labels, root / "test/S02/masksX1.mha")
    before = _digest(root)
    for mode in ("background", "nearest"):
        out = tmp_path / f"clean-{mode}"
        code, report = _report(cli, root, "--fix-stray", mode, "--out", out)
        assert code == 1 and report["summary"]["fixed"] == 1
        assert _digest(root) == before
        assert [p.relative_to(out).as_posix() for p in out.rglob("*.mha")] == \
            ["test/S02/masksX1.mha"]
        fixed = read_volume(out / "test/S02/masksX1.mha")
        expected = 0 if mode == "background" else labels.array[5, 5, 4]
        assert fixed.array[5, 5, 5] == expected
        mask = np.ones(fixed.shape, bool)
        mask[5, 5, 5] = False
        assert np.array_equal(fixed.array[mask], labels.array[mask])
        assert fixed.geometry.matches(labels.geometry) == []
    result = validate_dataset(find_subjects(root), CheckOptions())
    assert result["summary"]["by_check"] == {"stray-values": 1}


def test_usage_errors_exit_2_with_one_line(cli, tmp_path):
    root = make_tree(tmp_path / "d", subjects=[("train", "S01")])
    for args in [("--fix-stray", "nearest"), ("--out", tmp_path / "o"),
                 ("--fix-stray", "median", "--out", tmp_path / "o"),
                 ("--fix-stray", "nearest", "--out", root), ("--iso-tol", "-1")]:
        result = cli("validate", root, *args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr
    assert cli("validate", tmp_path / "absent").exit_code == 2
    (tmp_path / "empty").mkdir()
    assert "no subjects found" in cli("validate", tmp_path / "empty").stderr
    assert not (tmp_path / "o").exists()
