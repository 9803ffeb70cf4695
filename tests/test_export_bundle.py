"""leg3dus export-model --to monai-bundle: MONAI's bundle API loads it, same labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import read_volume, write_volume

pytest.importorskip("monai")
import monai.bundle  # noqa: E402
import torch  # noqa: E402

from leg3dus.segment.config import load_config, merge  # noqa: E402
from leg3dus.segment.export import export_monai_bundle  # noqa: E402
from leg3dus.segment.infer import LoadedModel, load_model, predict  # noqa: E402
from leg3dus.segment.models import build_model, check_spec, default_spec  # noqa: E402
from leg3dus.segment.train import train  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = {"batch_size": 4, "steps_per_epoch": 6, "max_epochs": 3, "augment": False,
        "lr_schedule": "constant",
        "model": {"channels": [8, 16], "patch": [1, 16, 16], "context": 1}}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle") / "data"
    for split, sid, seed in [("train", "S01", 1), ("val", "S02", 2)]:
        image, labels = make_pair(seed=seed)
        rng = np.random.default_rng(seed)
        array = 40 + labels.array // 2 + rng.integers(0, 40, labels.shape)
        write_volume(image.with_array(array.astype(np.uint8)), root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    folder = root.parent / "run"
    train(root, "2d", folder, merge(load_config(None), TINY))
    return folder, read_volume(root / "val" / "S02" / "x1.mha")


def test_bundle_loads_with_monai_and_predicts_the_same_labels(run, cli, tmp_path):
    folder, image = run
    bundles = tmp_path / "bundles"
    result = cli("export-model", folder, bundles, "--to", "monai-bundle", "--name", "calf",
                 "--json")
    assert result.exit_code == 0, result.stderr
    bundle = bundles / "calf"
    assert json.loads(result.stdout)["output"] == str(bundle)
    assert sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()) \
        == ["configs/inference.json", "configs/metadata.json", "docs/README.md",
            "models/model.pt", "models/model.ts"]
    ours = load_model(folder, device="cpu")
    expected = predict(image, ours).array
    assert len(np.unique(expected)) > 1  # the tiny model learnt something to compare
    # MONAI's bundle API: the network from configs/inference.json with models/model.pt.
    net = monai.bundle.load("calf", bundle_dir=str(bundles), workflow_type="inference",
                            device="cpu", progress=False)
    assert type(net).__name__ == "UNet"
    got = predict(image, LoadedModel(net.eval(), ours.spec, "bundle")).array
    np.testing.assert_array_equal(got, expected)
    # The TorchScript file with its metadata, as MONAI loads it.
    ts, metadata, _ = monai.bundle.load("calf", bundle_dir=str(bundles), load_ts_module=True,
                                        device="cpu", progress=False)
    assert metadata["leg3dus"] == ours.spec
    outputs = metadata["network_data_format"]["outputs"]["pred"]
    assert outputs["channel_def"] == {"0": "background", "1": "SOL", "2": "GM", "3": "GL"}
    assert metadata["network_data_format"]["inputs"]["image"]["num_channels"] == 3
    np.testing.assert_array_equal(
        predict(image, LoadedModel(ts, ours.spec, "ts")).array, expected)
    # leg3dus itself reads the bundle's TorchScript.
    np.testing.assert_array_equal(predict(image, load_model(bundle / "models" / "model.ts",
                                                            device="cpu")).array, expected)


def test_3d_network_def_rebuilds_the_same_network(tmp_path):
    torch.manual_seed(0)
    spec = check_spec({**default_spec("3d"), "channels": [4, 8, 8], "patch": [4, 8, 8]})
    model = LoadedModel(build_model(spec).eval(), spec, "test")
    export_monai_bundle(model, tmp_path, "calf3d")
    parser = monai.bundle.ConfigParser()
    parser.read_config(str(tmp_path / "calf3d" / "configs" / "inference.json"))
    net = parser.get_parsed_content("network_def")
    net.load_state_dict(torch.load(tmp_path / "calf3d" / "models" / "model.pt"), strict=True)
    x = torch.rand(1, 1, 4, 8, 8)
    with torch.no_grad():
        np.testing.assert_allclose(net.eval()(x).numpy(), model.net(x).numpy(), atol=1e-6)


def test_bad_requests_exit_2_without_output(run, cli, tmp_path):
    folder, _ = run
    bundles = tmp_path / "b"
    assert cli("export-model", folder, bundles).exit_code == 0
    again = cli("export-model", folder, bundles)
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert cli("export-model", folder, bundles, "--overwrite").exit_code == 0
    wrong = cli("export-model", folder, tmp_path / "c", "--to", "tensorflow")
    assert wrong.exit_code == 2 and "--to must be one of" in wrong.stderr
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"nothing")
    failed = cli("export-model", bad, tmp_path / "d")
    assert failed.exit_code == 2 and "bad.pt" in failed.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
    ts = cli("export-model", folder, tmp_path / "m.ts", "--to", "torchscript")
    assert ts.exit_code == 0, ts.stderr
    assert load_model(tmp_path / "m.ts", device="cpu").spec["kind"] == "2d"
