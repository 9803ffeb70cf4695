"""leg3dus validate: each check, its exit code and JSON, and the stray-value fix."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
from conftest import make_pair

from leg3dus import read_volume, write_volume
from leg3dus.dataset import find_subjects
from leg3dus.dataset.validate import (
    CheckOptions,
    check_subject,
    outside_scan_fractions,
    validate_dataset,
)

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
        # a complete dataset: every image and label file, the clean ones unchanged
        copied = _digest(out)
        assert sorted(copied) == sorted(before)
        assert {k for k in copied if copied[k] != before[k]} == {"test/S02/masksX1.mha"}
        assert cli("validate", out).exit_code == 0
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


def test_labels_where_the_image_has_no_data_are_a_finding(cli, tmp_path):
    """A label flipped in depth lies mostly below the scan: exit 1 with the fraction."""
    root = make_tree(tmp_path / "d", subjects=[("train", "S01"), ("train", "S02")])
    for sid in ("S01", "S02"):
        image = read_volume(root / "train" / sid / "x1.mha")
        image.array[:, 10:] = 0  # no data below depth index 10 (the labels' GL half)
        write_volume(image, root / "train" / sid / "x1.mha")
        labels = read_volume(root / "train" / sid / "masksX1.mha")
        labels.array[labels.array == 200] = 0  # GL lay below the scan: keep SOL and GM
        write_volume(labels, root / "train" / sid / "masksX1.mha")
    code, report = _report(cli, root, "--max-outside", "0.05")
    assert code == 1 and report["summary"]["by_check"] == {"missing-muscle": 2}
    flipped = read_volume(root / "train/S02/masksX1.mha")
    write_volume(flipped.with_array(flipped.array[:, ::-1].copy()),
                 root / "train/S02/masksX1.mha")
    code, report = _report(cli, root)
    outside = [f for f in report["findings"] if f["check"] == "labels-outside-scan"]
    assert code == 1 and [f["subject"] for f in outside] == ["train/S02"]
    # SOL and GM occupy depth 2..9 of 20; flipped, they occupy 10..17, all without data
    # except depth 10, next to the last scanned row: 7 of 8 rows
    assert "SOL 87.5%, GM 87.5%" in outside[0]["message"]
    assert outside[0]["file"].endswith("train/S02/masksX1.mha")
    code, report = _report(cli, root, "--max-outside", "0.9")
    assert "labels-outside-scan" not in report["summary"]["by_check"]
    bad = cli("validate", root, "--max-outside", "1.5")
    assert bad.exit_code == 2 and "--max-outside" in bad.stderr


def test_outside_scan_ignores_lone_zeros_in_the_speckle():
    image = np.full((6, 8, 8), 80, np.uint8)
    image[2, 3, 3] = image[4, 5, 2] = 0
    labels = np.zeros_like(image)
    labels[1:5, 2:6, 2:6] = 150
    assert outside_scan_fractions(labels, image) == {"GM": 0.0}
    assert outside_scan_fractions(np.zeros_like(image), image) == {}
    image[:, :, 4:] = 0  # x 5..7 have no data in and around them: x 5 of 2..5
    assert outside_scan_fractions(labels, image) == {"GM": 0.25}


def test_flipped_phantom_label_is_found(cli, tmp_path):
    data = tmp_path / "ph"
    r = cli("synth", data, "--subjects", "1", "--spacing", "3", "--fractions", "1", "0", "0",
            "--quiet")
    assert r.exit_code == 0, r.output
    assert cli("validate", data, "--quiet").exit_code == 0
    path = next(data.rglob("masksX1.mha"))
    labels = read_volume(path)
    write_volume(labels.with_array(labels.array[:, ::-1].copy()), path)
    code, report = _report(cli, data, "--quiet")
    by = {f["check"]: f for f in report["findings"]}
    assert code == 1 and set(by) == {"labels-outside-scan"}
    fractions = dict(re.findall(r"(SOL|GM|GL) ([\d.]+)%", by["labels-outside-scan"]["message"]))
    assert set(fractions) == {"SOL", "GM", "GL"}
    assert min(float(f) for f in fractions.values()) > 50


def test_fix_stray_copies_pairs_and_the_result_validates(cli, tmp_path):
    """Header + data pairs and subjects without strays are copied; OUT validates clean."""
    root = tmp_path / "d"
    image, labels = make_pair(spacing=ISO)
    labels.array[3, 3, 3] = 7
    write_volume(image, root / "train/S01/x1.mhd")
    write_volume(labels, root / "train/S01/masksX1.mha")
    out = tmp_path / "clean"
    res = cli("validate", root, "--image-name", "x1.mhd", "--fix-stray", "background",
              "--out", out, "--quiet")
    assert res.exit_code == 1
    names = sorted(p.name for p in (out / "train/S01").iterdir())
    assert len(names) == 3 and names[:2] == ["masksX1.mha", "x1.mhd"]  # + the data file
    np.testing.assert_array_equal(read_volume(out / "train/S01/x1.mhd").array, image.array)
    assert cli("validate", out, "--image-name", "x1.mhd", "--quiet").exit_code == 0


def test_outside_scan_slabs_give_the_whole_volume_answer(monkeypatch, rng):
    import leg3dus.dataset.validate as v

    image = (rng.random((23, 12, 10)) > 0.97).astype(np.uint8) * 50
    labels = rng.choice(np.array([0, 100, 150, 200], np.uint8), image.shape)
    whole = outside_scan_fractions(labels, image)
    assert 0 < whole["SOL"] < 1
    for slab in (1, 2, 5):
        monkeypatch.setattr(v, "_SLAB", slab)
        assert outside_scan_fractions(labels, image) == whole
