"""predict with an ONNX model: onnxruntime, no torch needed, the TorchScript model's labels."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from leg3dus import read_volume

pytest.importorskip("monai")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

pytestmark = pytest.mark.usefixtures("torch_one_thread")
TINY = {"batch_size": 4, "steps_per_epoch": 8, "max_epochs": 2, "augment": False,
        "lr_schedule": "constant",
        "model": {"channels": [4, 8], "patch": [1, 32, 32], "context": 1}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from typer.testing import CliRunner

    from leg3dus.apps.cli import app

    root = tmp_path_factory.mktemp("onnx")
    run = CliRunner()
    assert run.invoke(app, ["synth", str(root / "data"), "-n", "3", "--spacing", "4",
                            "--quiet"]).exit_code == 0
    (root / "tiny.json").write_text(json.dumps(TINY))
    r = run.invoke(app, ["train", str(root / "data"), "--model", "2d", "--out",
                         str(root / "run"), "--preset", "none", "--config",
                         str(root / "tiny.json"), "--quiet"])
    assert r.exit_code == 0, r.output
    r = run.invoke(app, ["export-model", str(root / "run"), str(root / "m.onnx"), "--to",
                         "onnx"])
    assert r.exit_code == 0, r.output
    image = next((root / "data").rglob("x1.mha"))
    return root, image


def test_onnx_and_torchscript_give_the_same_labels(cli, models, tmp_path):
    root, image = models
    for model, out in ((root / "run" / "model.ts", "ts.mha"), (root / "m.onnx", "onnx.mha")):
        r = cli("predict", model, image, "-o", tmp_path / out, "--tta")
        assert r.exit_code == 0, r.output
    a, b = read_volume(tmp_path / "ts.mha").array, read_volume(tmp_path / "onnx.mha").array
    assert set(np.unique(a)) <= {0, 100, 150, 200}
    assert (a == b).mean() > 0.9999  # float rounding may flip a near-tie, nothing more


def test_predict_runs_an_onnx_model_without_torch(models, tmp_path):
    root, image = models
    code = ("import sys\n"
            "for name in ('torch', 'monai'):\n"
            "    sys.modules[name] = None  # as if not installed\n"
            "from leg3dus.apps.cli import app\n"
            "app(sys.argv[1:])\n")
    out = tmp_path / "p.mha"
    r = subprocess.run([sys.executable, "-c", code, "predict", str(root / "m.onnx"),
                        str(image), "-o", str(out), "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert read_volume(out).shape == read_volume(image).shape
