"""Grad-CAM border activation analysis on a small network trained by leg3dus: the
values are MONAI's Grad-CAM maps read on the border voxels (checked slice by slice
against a direct call), and ``evaluate --gradcam`` adds them or refuses bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import make_pair  # noqa: E402
from scipy import ndimage  # noqa: E402

from leg3dus import write_volume  # noqa: E402
from leg3dus.metrics.gradcam import border_activation, default_layer  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

TINY = {"batch_size": 4, "steps_per_epoch": 6, "max_epochs": 2, "augment": False,
        "lr_schedule": "constant",
        "model": {"channels": [8, 16], "patch": [1, 16, 16], "context": 1}}
SP = (1.0, 1.0, 1.0)


def learnable_pair(seed):
    image, labels = make_pair(seed=seed, spacing=SP, origin=(0, 0, 0), direction=np.eye(3))
    rng = np.random.default_rng(seed)
    array = 40 + labels.array // 2 + rng.integers(0, 40, labels.shape)
    return image.with_array(array.astype(np.uint8)), labels


def split_borders(labels):
    """Border voxels of each muscle: completed on every third slice, distinct on the
    others."""
    inner = np.zeros_like(labels)
    for v in (100, 150, 200):
        inner[ndimage.binary_erosion(labels == v)] = v
    edge = np.where(inner == 0, labels, 0).astype(np.uint8)
    distinct = edge.copy()
    distinct[::3] = 0
    return distinct, (edge - distinct).astype(np.uint8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from leg3dus.segment.config import load_config, merge
    from leg3dus.segment.train import train

    root = tmp_path_factory.mktemp("gc") / "data"
    for split, sid, seed in [("train", "S01", 1), ("val", "S02", 2)]:
        image, labels = learnable_pair(seed)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    run = root.parent / "run"
    train(root, "2d", run, merge(load_config(None), TINY))
    return run


def test_activation_is_monai_gradcam_on_the_border_voxels(trained):
    import torch
    from monai.visualize import GradCAM

    from leg3dus.segment.infer import load_model

    model = load_model(trained / "best.pt", "cpu")
    image, labels = learnable_pair(3)
    distinct, completed = split_borders(labels.array)
    act = border_activation(model.net, image.array, {"distinct": distinct,
                                                     "completed": completed},
                            kind="2d", context=1, factor=2)
    # The same numbers from a direct MONAI call, slice by slice (no padding needed:
    # 20 x 16 is a multiple of 2).
    cam = GradCAM(nn_module=model.net, target_layers=default_layer(model.net, "2d"))
    maps = np.full(image.shape, np.nan, np.float32)
    nz = image.shape[0]
    for z in range(nz):
        idx = np.clip([z - 1, z, z + 1], 0, nz - 1)
        x = torch.from_numpy(image.array[idx][None].astype(np.float32) / 255.0)
        maps[z] = cam(x, class_idx=0)[0, 0].detach().numpy()
    for name, value in (("SOL", 100), ("GM", 150), ("GL", 200)):
        for part, vol in (("distinct", distinct), ("completed", completed)):
            m = vol == value
            assert act[name][f"{part}_voxels"] == m.sum() > 0
            assert act[name][f"{part}_activation"] == pytest.approx(maps[m].mean(), rel=1e-5)
            assert 0 <= act[name][f"{part}_activation"] <= 1
    assert act["union"]["distinct_voxels"] == (distinct > 0).sum()
    # Deterministic, and a part without voxels is NaN.
    again = border_activation(model.net, image.array, {"distinct": distinct}, kind="2d",
                              context=1, factor=2)
    assert again["GM"]["distinct_activation"] == act["GM"]["distinct_activation"]
    assert math.isnan(again["GM"]["completed_activation"])


def test_3d_network_and_padding_agree_with_a_direct_call():
    import torch
    from monai.visualize import GradCAM

    from leg3dus.segment.models import build_model, check_spec

    torch.manual_seed(0)
    net = build_model(check_spec({"kind": "3d", "channels": [4, 8, 8],
                                  "patch": [8, 8, 8]})).eval()
    image, labels = learnable_pair(4)
    distinct, completed = split_borders(labels.array)
    act = border_activation(net, image.array, {"distinct": distinct, "completed": completed},
                            kind="3d", factor=4, margin_vox=100)
    cam = GradCAM(nn_module=net, target_layers=default_layer(net, "3d"))
    x = torch.from_numpy(image.array[None, None].astype(np.float32) / 255.0)
    x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, 0))  # 24 x 20 x 16: multiples of 4
    maps = cam(x, class_idx=0)[0, 0].detach().numpy()
    m = completed == 150
    assert act["GM"]["completed_activation"] == pytest.approx(maps[m].mean(), rel=1e-5)


def test_cli_gradcam_pair(trained, tmp_path, cli):
    image, labels = learnable_pair(3)
    distinct, completed = split_borders(labels.array)
    files = {}
    for name, vol in (("x1", image), ("truth", labels), ("d", labels.with_array(distinct)),
                      ("c", labels.with_array(completed))):
        files[name] = tmp_path / f"{name}.mha"
        write_volume(vol, files[name])
    base = ["evaluate", files["truth"], files["truth"], "--image", files["x1"],
            "--distinct-border", files["d"], "--completed-border", files["c"]]
    r = cli(*base, "--gradcam", trained, "--json")
    assert r.exit_code == 0, r.output
    gm = json.loads(r.stdout)["GM"]
    # The command gives what the library gives with the run's own spec.
    from leg3dus.segment.infer import load_model

    model = load_model(trained / "best.pt", "cpu")
    spec = model.spec
    direct = border_activation(model.net, image.array,
                               {"distinct": distinct, "completed": completed},
                               kind=spec["kind"], context=int(spec.get("context", 0)),
                               factor=2 ** (len(spec["channels"]) - 1))["GM"]
    assert gm["gradcam_distinct_activation"] == pytest.approx(
        direct["distinct_activation"], rel=1e-6)
    assert gm["gradcam_completed_voxels"] == (completed == 150).sum()
    assert gm["distinct_hd"] == 0  # the border analysis still runs
    # Bad input: exit 2 with one line.
    r = cli("evaluate", files["truth"], files["truth"], "--gradcam", trained)
    assert r.exit_code == 2 and "--gradcam needs --image" in r.stderr
    r = cli(*base, "--gradcam", trained / "model.ts")
    assert r.exit_code == 2 and "TorchScript" in r.stderr
    r = cli(*base, "--gradcam", trained, "--gradcam-layer", "nope")
    assert r.exit_code == 2 and "no layer 'nope'" in r.stderr
    r = cli(*base, "--gradcam", tmp_path)
    assert r.exit_code == 2 and "no best.pt" in r.stderr


def test_cli_gradcam_tree(trained, tmp_path, cli):
    root, preds = tmp_path / "data", tmp_path / "preds"
    for sid, seed in (("S01", 3), ("S02", 4)):
        image, labels = learnable_pair(seed)
        distinct, completed = split_borders(labels.array)
        folder = root / "test" / sid
        write_volume(image, folder / "x1.mha")
        write_volume(labels, folder / "masksX1.mha")
        write_volume(labels, preds / f"{sid}.mha")
        write_volume(labels.with_array(distinct), folder / "distinct_border_label.mha")
        if sid == "S01":
            write_volume(labels.with_array(completed), folder / "completed_border_label.mha")
    r = cli("evaluate", preds, root, "--borders", "--with-image", "--gradcam", trained,
            "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["subjects"]
    assert all(0 <= row["GM"]["gradcam_distinct_activation"] <= 1 for row in rows)
    assert rows[0]["SOL"]["gradcam_completed_voxels"] > 0
    assert math.isnan(rows[1]["SOL"]["gradcam_completed_activation"] or math.nan)
    summary = json.loads(r.stdout)["summary"]["GM"]["gradcam_distinct_activation"]
    assert summary["n"] == 2
    r = cli("evaluate", preds, root, "--borders", "--gradcam", trained)
    assert r.exit_code == 2 and "needs --borders and --with-image" in r.stderr
