"""``leg3dus morphology`` over a tree: tables, participants, Dask, errors."""

from __future__ import annotations

import csv
import json

import pytest

from leg3dus import labels as lab
from leg3dus import read_volume
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
    res = cli("morphology", tiny_dataset, "-o", out, "--quiet")
    assert res.exit_code == 1
    assert "S02" in res.stdout and "no label file" in res.stdout
    assert {r["id"] for r in read_csv(out)} == {"S01", "S03", "S04"}


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
