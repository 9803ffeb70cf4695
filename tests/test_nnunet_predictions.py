"""nnU-Net back into leg3dus: evaluate and report read nnUNetv2_predict's output folder
(<case>.nii.gz with classes 0-3, dataset.json, plans.json) against a LEG-3D-US tree."""

from __future__ import annotations

import json

from conftest import make_pair

from leg3dus import read_volume, write_volume
from leg3dus.core import labels as lab
from leg3dus.core.layout import case_name, find_subjects


def _tree(root):
    for split, sid, seed in [("train", "S01", 1), ("test", "S.02", 2), ("test", "S03", 3)]:
        image, labels = make_pair(shape=(10, 20, 16), seed=seed)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")


def _nnunet_predictions(data, folder, split="test", exported_dataset_json=None):
    """What nnUNetv2_predict writes for the subjects of ``split``: the truth as classes."""
    folder.mkdir(parents=True)
    for s in find_subjects(data, splits=[split]):
        truth = read_volume(s.label)
        write_volume(truth.with_array(lab.to_index(truth.array)),
                     folder / f"{case_name(s)}.nii.gz")
    (folder / "dataset.json").write_text(exported_dataset_json)
    (folder / "plans.json").write_text("{}")
    (folder / "predict_from_raw_data_args.json").write_text("{}")


def test_evaluate_and_report_read_an_nnunet_prediction_folder(cli, tmp_path):
    data = tmp_path / "data"
    _tree(data)
    assert cli("export", data, tmp_path / "raw", "--to", "nnunet").exit_code == 0
    dataset_json = next((tmp_path / "raw").glob("Dataset*/dataset.json")).read_text()
    pred = tmp_path / "nnunet_pred"
    _nnunet_predictions(data, pred, exported_dataset_json=dataset_json)
    assert sorted(p.name for p in pred.glob("*.nii.gz")) == ["S03.nii.gz", "S_02.nii.gz"]
    r = cli("evaluate", pred, data, "--split", "test", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert sorted(row["id"] for row in result["subjects"]) == ["S.02", "S03"]
    for row in result["subjects"]:
        assert all(row[m]["dice"] == 1.0 for m in ("SOL", "GM", "GL"))
        assert row["label_values"]["prediction"]["values"] == {"SOL": 1, "GM": 2, "GL": 3}
    report = cli("report", data, "--predictions", pred, "-o", tmp_path / "r.html")
    assert report.exit_code == 0, report.output


def test_unknown_case_names_are_one_clear_error(cli, tmp_path):
    data = tmp_path / "data"
    _tree(data)
    pred = tmp_path / "nnunet_pred"
    _nnunet_predictions(data, pred, exported_dataset_json=json.dumps(
        {"labels": {"background": 0, "SOL": 1, "GM": 2, "GL": 3}, "file_ending": ".nii.gz"}))
    write_volume(read_volume(next(pred.glob("*.nii.gz"))), pred / "P999.nii.gz")
    r = cli("evaluate", pred, data, "--split", "test", "--out", tmp_path / "e.json")
    assert r.exit_code == 2 and "no subject" in r.stderr and "P999.nii.gz" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "e.json").exists()
    report = cli("report", data, "--predictions", pred, "-o", tmp_path / "r.html")
    assert report.exit_code == 2 and "P999.nii.gz" in report.stderr
    assert not (tmp_path / "r.html").exists()
