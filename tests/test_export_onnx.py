"""Export to ONNX: onnxruntime gives the network's scores, and the file carries the spec."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("monai")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
import torch  # noqa: E402

from leg3dus.segment.export import export_onnx  # noqa: E402
from leg3dus.segment.infer import SPEC_FILE  # noqa: E402
from leg3dus.segment.models import build_model, check_spec, default_spec  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.mark.parametrize("kind, model", [
    ("2d", {"channels": [8, 16], "patch": [1, 16, 16], "context": 1}),
    ("3d", {"channels": [4, 8, 8], "patch": [8, 16, 16]}),
])
def test_onnxruntime_gives_the_networks_scores(kind, model, tmp_path):
    spec = check_spec({**default_spec(kind), **model})
    torch.manual_seed(0)
    net = build_model(spec).eval()
    path = export_onnx(net, spec, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = ((3, spec["in_channels"], 16, 16) if kind == "2d" else (3, 1, 8, 16, 16))
    x = np.random.default_rng(1).random(shape, dtype=np.float32)
    (got,) = session.run(["scores"], {"image": x})
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-4)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta[SPEC_FILE]) == json.loads(json.dumps(spec))


def test_export_model_command_writes_onnx(cli, tmp_path):
    spec = check_spec({**default_spec("2d"), "channels": [4, 8], "patch": [1, 16, 16],
                       "context": 1})
    torch.manual_seed(0)
    net = build_model(spec)
    torch.save({"spec": spec, "model": net.state_dict()}, tmp_path / "best.pt")
    result = cli("export-model", tmp_path / "best.pt", tmp_path / "m.onnx", "--to", "onnx")
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).random((2, 3, 16, 16), dtype=np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {"image": x})[0],
                                   net.eval()(torch.from_numpy(x)).numpy(), atol=1e-4)
    bad = cli("export-model", tmp_path / "best.pt", tmp_path / "m.ts", "--to", "onnx")
    assert bad.exit_code == 2 and "ending in .onnx" in bad.stderr
