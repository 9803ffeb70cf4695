"""The end-to-end demo, in its reduced form, and how it reports missing stages."""

from __future__ import annotations

import csv
import json

import pytest

from leg3dus import read_volume
from leg3dus.apps.demo import Context, Skip, demo, need
from leg3dus.core import labels as lab

STEPS = ["synth", "compound", "annotate", "propagate", "register", "train", "predict",
         "evaluate", "morphology", "agree", "report"]


@pytest.mark.slow
def test_quick_demo_end_to_end(cli, tmp_path):
    out = tmp_path / "demo"
    res = cli("demo", "--quick", "--out", out, "--json", "--quiet")
    info = json.loads(res.stdout)
    steps = {s["name"]: s for s in info["steps"]}
    assert list(steps) == STEPS
    failed = {k: s["message"] for k, s in steps.items() if s["status"] == "failed"}
    assert not failed and res.exit_code == 0, failed
    assert all(s["status"] == "done" for s in steps.values()), {
        k: s["message"] for k, s in steps.items() if s["status"] != "done"}
    assert all(s["message"] for s in steps.values())

    data = out / "data"
    assert (data / "cohort.csv").is_file()
    # Every stage left its output, on the subjects' grids.
    x1 = read_volume(data / "train" / "P001" / "x1.mha")
    assert read_volume(out / "compounded" / "P001" / "x1.mha").shape == x1.shape
    for method in ("zoi", "sdf"):
        assert read_volume(out / "propagated" / f"P001_{method}.mha").shape == x1.shape
    assert (out / "registered" / "P001_masksX2_on_x1.mha").is_file()
    assert (out / "model" / "model.ts").is_file()
    preds = list((out / "predictions").rglob("masksX1.mha"))
    assert len(preds) == 1
    truth = read_volume(next(data.rglob(f"{preds[0].parent.name}/masksX1.mha")))
    assert read_volume(preds[0]).geometry.matches(truth.geometry) == []
    evaluation = json.loads((out / "evaluation.json").read_text())
    assert 0.0 <= evaluation[0]["metrics"]["SOL"]["dice"] <= 1.0

    with open(out / "morphology.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 3 and {r["sex"] for r in rows} <= {"F", "M"}
    for r in rows:  # the table measures the labels the phantom wrote
        vol = read_volume(data / r["split"] / r["id"] / "masksX1.mha")
        assert float(r["volume_cm3"]) == pytest.approx(
            lab.muscle_volumes_cm3(vol.array, vol.spacing)[r["muscle"]])
    report = out / "report.html"
    assert info["report"] == str(report)
    html = report.read_text()
    assert 'class="cohort"' in html and 'class="evaluation"' in html
    assert len(list((out / "meshes").glob("*.stl"))) == 3 * 3


def test_missing_inputs_and_stages_are_skipped_not_faked(tmp_path):
    lines = []
    result = demo(tmp_path / "d", only=("morphology", "report"), log=lines.append)
    assert [(s.name, s.status) for s in result.steps] == [("morphology", "skipped"),
                                                          ("report", "skipped")]
    assert "needs the output of 'synth'" in result.steps[0].message
    assert result.report is None and not (tmp_path / "d" / "report.html").exists()
    assert any("skipped" in ln for ln in lines)
    with pytest.raises(Skip, match="not part of this installation"):
        need("no_such_stage", "run")
    with pytest.raises(Skip, match="lacks no_such_function"):
        need("morphology", "measure", "no_such_function")
    with pytest.raises(Skip, match="which did not run"):
        Context().require("model", "train")
