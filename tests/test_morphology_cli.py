"""``leg3dus morphology`` over a tree: tables, participants, Dask, errors."""

from __future__ import annotations

import csv
import json

import pytest

from leg3dus import read_volume, write_volume
from leg3dus.core import labels as lab
from leg3dus.morphology import read_participants, summarise


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_cohort_table_matches_label_volumes(cli, tiny_dataset, tmp_path):
    (tiny_dataset / "cohort.csv").write_text(
        "id,sex,side,age\nS01,F,L,30\nS02,male,right,41\nS03,f,left,25\nS04,M,R,52\n")
    out, prof, summ = tmp_path / "m.csv", tmp_path / "p.csv", tmp_path / "s.csv"
    res = cli("morphology", tiny_dataset, "-o", out, "--profiles", prof, "--summary", summ,
              "--quiet")
    assert res.exit_code == 0, res.stderr
    rows = read_csv(out)
    assert len(rows) == 4 * 3
    for r in rows:
        vol = read_volume(tiny_dataset / r["split"] / r["id"] / "masksX1.mha")
        expected = lab.muscle_volumes_cm3(vol.array, vol.spacing)[r["muscle"]]
        assert float(r["volume_cm3"]) == pytest.approx(expected)
    assert {(r["id"], r["sex"], r["side"]) for r in rows} == {
        ("S01", "F", "left"), ("S02", "M", "right"), ("S03", "F", "left"), ("S04", "M", "right")}
    # The profile integrates back to the volume.
    profiles = read_csv(prof)
    for r in rows:
        csa = sum(float(p["csa_cm2"]) for p in profiles
                  if p["id"] == r["id"] and p["muscle"] == r["muscle"])
        assert csa * 0.05 == pytest.approx(float(r["volume_cm3"]))  # slice 0.5 mm = 0.05 cm
    summary = read_csv(summ)
    groups = {(s["group"], s["value"]) for s in summary}
    assert groups == {("all", ""), ("sex", "F"), ("sex", "M"), ("side", "left"),
                      ("side", "right")}
    sol_f = next(s for s in summary if s["value"] == "F" and s["muscle"] == "SOL")
    vols = [float(r["volume_cm3"]) for r in rows if r["sex"] == "F" and r["muscle"] == "SOL"]
    assert int(sol_f["n"]) == 2
    assert float(sol_f["volume_cm3_mean"]) == pytest.approx(sum(vols) / 2)


def test_json_and_dask_workers_equal_serial(cli, tiny_dataset):
    serial = cli("morphology", tiny_dataset, "--json")
    assert serial.exit_code == 0, serial.stderr
    parallel = cli("morphology", tiny_dataset, "--json", "--workers", "2")
    assert parallel.exit_code == 0, parallel.stderr
    a, b = json.loads(serial.stdout), json.loads(parallel.stdout)
    assert a["rows"] == b["rows"] and a["subjects"] == b["subjects"]
    sol = a["subjects"][0]["muscles"]["SOL"]
    assert len(sol["profile"]["csa_cm2"]) == sol["last_slice"] - sol["first_slice"] + 1
    assert a["participants"] is None and {r["sex"] for r in a["rows"]} == {""}


def test_single_label_file(cli, tiny_dataset):
    res = cli("morphology", tiny_dataset / "train" / "S01" / "masksX1.mha", "--json")
    assert res.exit_code == 0, res.stderr
    assert len(json.loads(res.stdout)["rows"]) == 3


def test_missing_label_is_reported_and_others_measured(cli, tiny_dataset, tmp_path):
    (tiny_dataset / "train" / "S02" / "masksX1.mha").unlink()
    out = tmp_path / "m.csv"
    summ = tmp_path / "s.csv"
    res = cli("morphology", tiny_dataset, "-o", out, "--summary", summ, "--quiet")
    assert res.exit_code == 2  # the batch rule: the others are measured, then exit 2
    assert [line for line in res.stderr.splitlines() if "S02" in line] == [
        "error: train/S02: no label file, expected one to measure muscles"]
    assert {r["id"] for r in read_csv(out)} == {"S01", "S03", "S04"}
    failed = [r for r in read_csv(summ) if r["group"] == "failed"]
    assert [(r["value"], "no label file" in r["error"]) for r in failed] == [("train/S02", True)]


def test_bad_participants_and_options_exit_2_without_output(cli, tiny_dataset, tmp_path):
    table = tmp_path / "people.csv"
    table.write_text("name,sex\nS01,F\n")
    out = tmp_path / "m.csv"
    res = cli("morphology", tiny_dataset, "--participants", table, "-o", out)
    assert res.exit_code == 2 and "subject id column" in res.stderr
    assert not out.exists()
    res = cli("morphology", tiny_dataset, "--participants", tmp_path / "none.csv", "-o", out)
    assert res.exit_code == 2 and "no such participants table" in res.stderr
    res = cli("morphology", tiny_dataset, "--leg-extent", "knee", "-o", out)
    assert res.exit_code == 2 and "--leg-extent" in res.stderr
    res = cli("morphology", tiny_dataset, "--participants", table, "-o", table)
    assert res.exit_code == 2 and "overwrite the input" in res.stderr
    assert not out.exists()


def test_participants_tsv_and_summary_without_groups(tmp_path):
    tsv = tmp_path / "participants.tsv"
    tsv.write_text("participant_id\tsex\tside\nsub-01\tFemale\tL\n")
    assert read_participants(tsv)["sub-01"]["sex"] == "F"
    assert read_participants(tsv)["sub-01"]["side"] == "left"
    rows = [{"muscle": "SOL", "voxels": 1, "volume_cm3": 2.0, "length_mm": 1.0,
             "max_csa_cm2": 1.0, "max_csa_position_pct": 50.0, "path_length_mm": 1.0}]
    summary = summarise(rows)
    assert [s["group"] for s in summary] == ["all"] * 3
    assert summary[0]["volume_cm3_mean"] == 2.0 and summary[0]["volume_cm3_sd"] == 0.0
    assert summary[1]["n"] == 0


def _as_classes(root):
    """Rewrite every label file of a tree as classes 0/1/2/3 (nnU-Net's convention)."""
    for path in root.rglob("masksX1.mha"):
        vol = read_volume(path)
        write_volume(vol.with_array(lab.to_index(vol.array)), path)


def test_class_labels_are_an_error_not_zero_volumes(cli, tiny_dataset, tmp_path):
    _as_classes(tiny_dataset)
    out = tmp_path / "m.csv"
    one = tiny_dataset / "train" / "S01" / "masksX1.mha"
    for data in (one, tiny_dataset):
        res = cli("morphology", data, "-o", out, "--quiet")
        assert res.exit_code == 2 and not out.exists()
        line = res.stderr.strip()
        assert "\n" not in line and line.startswith("error: ")
        assert "label values 1 (" in line and "--label-values" in line


def test_label_values_option_and_dataset_json(cli, tiny_dataset, tmp_path):
    truth = cli("morphology", tiny_dataset, "--json")
    _as_classes(tiny_dataset)
    res = cli("morphology", tiny_dataset, "--json", "--label-values", "SOL=1,GM=2,GL=3")
    assert res.exit_code == 0, res.stderr
    a, b = json.loads(truth.stdout), json.loads(res.stdout)
    assert a["rows"] == b["rows"]
    assert b["subjects"][0]["label_values"] == {
        "name": "classes", "source": "--label-values", "values": {"SOL": 1, "GM": 2, "GL": 3},
        "background": []}
    assert a["subjects"][0]["label_values"]["source"] == "default"
    # The convention is said on screen.
    res = cli("morphology", tiny_dataset, "--label-values", "1,2,3", "--quiet")
    assert "labels SOL=1, GM=2, GL=3 (from --label-values)" in res.stdout
    # An nnU-Net dataset.json at the top of the tree is the file's own label table.
    (tiny_dataset / "dataset.json").write_text(json.dumps(
        {"labels": {"background": 0, "SOL": 1, "GM": 2, "GL": 3}}))
    res = cli("morphology", tiny_dataset / "train" / "S01" / "masksX1.mha", "--json")
    assert res.exit_code == 0, res.stderr
    got = json.loads(res.stdout)
    strip = ("split", "id")
    assert [{k: v for k, v in r.items() if k not in strip} for r in got["rows"]] == \
        [{k: v for k, v in r.items() if k not in strip} for r in a["rows"] if r["id"] == "S01"]
    assert got["subjects"][0]["label_values"]["source"] == str(tiny_dataset / "dataset.json")
    res = cli("morphology", tiny_dataset, "--label-values", "1,2")
    assert res.exit_code == 2 and "three values" in res.stderr


def test_stray_values_fail_the_subject(cli, tiny_dataset, tmp_path):
    path = tiny_dataset / "train" / "S02" / "masksX1.mha"
    vol = read_volume(path)
    arr = vol.array.copy()
    arr[0, 0, :3] = 7
    write_volume(vol.with_array(arr), path)
    out = tmp_path / "m.csv"
    res = cli("morphology", tiny_dataset, "-o", out, "--quiet")
    assert res.exit_code == 2
    assert "stray label values outside the scheme: 7 (3 voxels)" in res.stderr
    assert {r["id"] for r in read_csv(out)} == {"S01", "S03", "S04"}
    res = cli("morphology", path, "-o", out)
    assert res.exit_code == 2 and "label values outside the scheme: 7" in res.stderr
    # Declaring 7 as background measures it.
    res = cli("morphology", path, "--json", "--label-values", "SOL=100,GM=150,GL=200,bg=7")
    assert res.exit_code == 0, res.stderr


def test_csa_at_and_field_of_view(cli, tiny_dataset, tmp_path):
    out, summ = tmp_path / "m.csv", tmp_path / "s.csv"
    res = cli("morphology", tiny_dataset, "-o", out, "--summary", summ, "--csa-at", "25,50",
              "--quiet")
    assert res.exit_code == 0, res.stderr
    rows = read_csv(out)
    assert "csa_25pct_cm2" in rows[0] and "csa_50pct_cm2" in rows[0]
    summary = read_csv(summ)
    assert "csa_50pct_cm2_mean" in summary[0]
    # make_pair's muscles stop 2 slices from the grid's ends: nothing clipped...
    assert {r["fov_clipped"] for r in rows} == {""} and "lower bounds" not in res.stdout
    # ...unless the image holds data on fewer slices.
    path = tiny_dataset / "train" / "S01" / "x1.mha"
    img = read_volume(path)
    arr = img.array.copy()
    arr[:4] = 0
    write_volume(img.with_array(arr), path)
    res = cli("morphology", tiny_dataset, "-o", out, "--with-image", "--quiet")
    assert res.exit_code == 0, res.stderr
    clipped = {(r["id"], r["muscle"]): r["fov_clipped"] for r in read_csv(out)
               if r["fov_clipped"]}
    assert clipped == {("S01", "SOL"): "first", ("S01", "GL"): "first"}
    assert ("note: SOL, GL reach the first slice of the field of view in train/S01: their "
            "lengths and volumes are lower bounds") in res.stdout
    assert "lower bounds" in res.stdout
    one = tmp_path / "gm_last.mha"
    vol = read_volume(path.with_name("masksX1.mha"))
    arr = vol.array.copy()
    arr[-2:, arr[-3] == 150] = 150  # GM now reaches the last slice of the grid
    write_volume(vol.with_array(arr), one)
    res = cli("morphology", one, "--quiet")
    assert ("note: GM reaches the last slice of the field of view in gm_last.mha: its length "
            "and volume are lower bounds") in res.stdout
    for bad in ("30,x", "120", ""):
        res = cli("morphology", tiny_dataset, "--csa-at", bad, "-o", out)
        if bad:
            assert res.exit_code == 2 and "--csa-at" in res.stderr
    res = cli("morphology", path.with_name("masksX1.mha"), "--with-image")
    assert res.exit_code == 2 and "--with-image" in res.stderr


def test_summary_counts_a_missing_muscle_and_a_failed_subject(cli, tiny_dataset, tmp_path):
    s01 = tiny_dataset / "train" / "S01" / "masksX1.mha"
    vol = read_volume(s01)
    arr = vol.array.copy()
    arr[arr == 200] = 0  # S01 has no GL
    write_volume(vol.with_array(arr), s01)
    (tiny_dataset / "train" / "S02" / "masksX1.mha").write_bytes(b"not a volume")
    summ = tmp_path / "s.csv"
    res = cli("morphology", tiny_dataset, "-o", tmp_path / "m.csv", "--summary", summ,
              "--quiet")
    assert res.exit_code == 2  # a subject failed: the batch rule
    rows = {s["muscle"]: s for s in read_csv(summ) if s["group"] == "all"}
    assert (rows["GL"]["n"], rows["GL"]["n_absent"], rows["GL"]["n_failed"]) == ("2", "1", "1")
    assert (rows["SOL"]["n"], rows["SOL"]["n_absent"], rows["SOL"]["n_failed"]) == ("3", "0", "1")
    screen = res.stdout.splitlines()
    gl_line = next(line for line in screen if line.split()[:2] == ["all", "GL"])
    assert gl_line.split()[2:5] == ["2", "1", "1"]
