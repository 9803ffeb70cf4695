"""nnU-Net export with sparse annotations: unannotated slices as nnU-Net's ignore label,
declared in dataset.json; nnU-Net's own integrity check accepts dense and sparse exports
(when nnunetv2 is installed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leg3dus import read_volume
from leg3dus.core import labels as lab


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from typer.testing import CliRunner

    from leg3dus.apps.cli import app

    data = tmp_path_factory.mktemp("nn") / "data"
    r = CliRunner().invoke(app, ["synth", str(data), "--subjects", "4", "--spacing", "4",
                                 "--sparse-every-mm", "20", "--quiet"])
    assert r.exit_code == 0, r.output
    return data


def _annotated(folder):
    return [int(x) for x in (folder / "sparseX1_slices.txt").read_text().split() if x.isdigit()]


def test_sparse_export_writes_the_ignore_label(cli, cohort, tmp_path):
    r = cli("export", cohort, tmp_path / "raw", "--to", "nnunet", "--sparse", "--json")
    assert r.exit_code == 0, r.output
    ds = next((tmp_path / "raw").glob("Dataset*"))
    meta = json.loads((ds / "dataset.json").read_text())
    assert meta["labels"]["ignore"] == 4 == max(meta["labels"].values())
    for row in json.loads(r.stdout)["subjects"]:
        if row["split"] not in ("train", "val"):
            continue
        folder = cohort / row["split"] / row["subject"].split("/")[-1]
        idx = _annotated(folder)
        labels = read_volume(row["label"]).array
        truth = read_volume(folder / "masksX1.mha").array
        others = np.setdiff1d(np.arange(labels.shape[0]), idx)
        assert (labels[others] == 4).all()
        assert np.array_equal(labels[idx], lab.to_index(truth[idx]))
    bad = cli("export", cohort, tmp_path / "raw2", "--to", "nifti", "--sparse")
    assert bad.exit_code == 2 and "--sparse applies to --to nnunet" in bad.stderr


@pytest.mark.parametrize("sparse", [False, True])
def test_nnunet_verifies_the_export(cli, cohort, tmp_path, sparse):
    verify = pytest.importorskip(
        "nnunetv2.experiment_planning.verify_dataset_integrity").verify_dataset_integrity
    r = cli("export", cohort, tmp_path / "raw", "--to", "nnunet", *(["--sparse"] * sparse))
    assert r.exit_code == 0, r.output
    verify(str(next((tmp_path / "raw").glob("Dataset*"))), 1)  # raises when it disagrees
