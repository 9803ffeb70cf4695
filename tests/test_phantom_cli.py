"""leg3dus synth: layout, cohort.csv, determinism, validation and bad options."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest

from leg3dus import read_volume
from leg3dus.dataset import find_subjects
from leg3dus.phantom import Anatomy, cohort_params
from leg3dus.phantom.cohort import assign_splits


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from typer.testing import CliRunner

    from leg3dus.apps.cli import app

    out = tmp_path_factory.mktemp("synth") / "cohort"
    result = CliRunner().invoke(app, ["synth", str(out), "--subjects", "5", "--spacing", "5",
                                      "--seed", "4", "--fractions", "0.6", "0.2", "0.2", "-q"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def test_synth_writes_the_dataset_layout_and_cohort_csv(cohort):
    subjects = find_subjects(cohort)
    assert Counter(s.split for s in subjects) == {"train": 3, "val": 1, "test": 1}
    with open(cohort / "cohort.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == [s.id for s in subjects]
    params = {p.id: p for p in cohort_params(5, seed=4)}
    for s, row in zip(subjects, rows, strict=True):
        image, labels = read_volume(s.image), read_volume(s.label)
        assert image.shape == labels.shape == (int(row["shape_z"]), int(row["shape_y"]),
                                               int(row["shape_x"]))
        assert image.dtype == np.uint8 and labels.geometry.matches(image.geometry) == []
        assert row["sex"] == params[s.id].sex and row["side"] == params[s.id].side
        true = Anatomy(params[s.id]).true_volumes_cm3()
        assert float(row["true_SOL_cm3"]) == pytest.approx(true["SOL"], abs=1e-3)
        # At 5 mm the voxel counts are already close to the continuous volumes.
        assert float(row["voxel_GM_cm3"]) == pytest.approx(true["GM"], rel=0.08)


def test_validate_passes_on_synth_output(cohort, cli):
    result = cli("validate", cohort, "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []


def test_same_seed_same_bytes_and_subject_independent_of_n(cohort, cli, tmp_path):
    again = tmp_path / "again"
    assert cli("synth", again, "--subjects", "5", "--spacing", "5", "--seed", "4",
               "--fractions", "0.6", "0.2", "0.2", "-q").exit_code == 0
    for f in sorted(p.relative_to(cohort) for p in cohort.rglob("*") if p.is_file()):
        assert (cohort / f).read_bytes() == (again / f).read_bytes(), f
    one = tmp_path / "one"
    assert cli("synth", one, "--subjects", "1", "--spacing", "5", "--seed", "4", "-q"
               ).exit_code == 0
    first = next(s for s in find_subjects(cohort) if s.id == "P001")
    assert (one / "train" / "P001" / "x1.mha").read_bytes() == first.image.read_bytes()


def test_synth_json_output(cli, tmp_path):
    result = cli("synth", tmp_path / "j", "--subjects", "1", "--spacing", "4", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)["subjects"]
    assert rows[0]["id"] == "P001" and rows[0]["true_GM_cm3"] > 0


@pytest.mark.parametrize("args, message", [
    (["--fractions", "0.5", "0.5", "0.5"], "summing to 1"),
    (["--spacing", "0"], "spacing"),
    (["--compression-level", "12"], "compression level"),
    (["--frequency", "100"], "frequency"),
])
def test_bad_options_exit_2_without_output(cli, tmp_path, args, message):
    out = tmp_path / "bad"
    result = cli("synth", out, "--subjects", "2", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not out.exists()


def test_refuses_a_foreign_non_empty_folder(cli, tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = cli("synth", out, "--subjects", "1", "--spacing", "4")
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    target = tmp_path / "file.mha"
    target.write_bytes(b"x")
    assert cli("synth", target, "--subjects", "1").exit_code == 2


def test_split_counts_follow_the_fractions():
    assert Counter(assign_splits(44)) == {"train": 30, "val": 7, "test": 7}
    assert Counter(assign_splits(20, (0.5, 0.25, 0.25))) == {"train": 10, "val": 5, "test": 5}
    assert assign_splits(3, seed=1) == ["train"] * 3


def test_figures_command_writes_a_png(tmp_path):
    from leg3dus.phantom.figures import main

    main([str(tmp_path), "--subjects", "1", "--spacing", "2.5"])
    png = tmp_path / "phantom_P001.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
