"""Segmentation networks: training, resuming, sliding-window inference, export, errors."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from leg3dus.core.arrays import bounding_box

pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import make_pair  # noqa: E402

from leg3dus import Volume, read_volume, write_volume  # noqa: E402
from leg3dus.core.errors import GeometryError, InputFileError, OptionError  # noqa: E402
from leg3dus.segment.cache import cache_subject  # noqa: E402
from leg3dus.segment.config import load_config, merge  # noqa: E402
from leg3dus.segment.data import PatchSampler, augment_batch, extract  # noqa: E402
from leg3dus.segment.infer import (  # noqa: E402
    LoadedModel,
    load_model,
    predict,
    sliding_window,
    window_starts,
)
from leg3dus.segment.models import build_model, check_spec, default_spec  # noqa: E402
from leg3dus.segment.resample import resample_image  # noqa: E402
from leg3dus.segment.train import train  # noqa: E402

TINY = {"batch_size": 4, "steps_per_epoch": 6, "max_epochs": 2, "augment": False,
        "lr_schedule": "constant",
        "model": {"channels": [8, 16], "patch": [1, 16, 16], "context": 1}}


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def learnable_pair(seed):
    """make_pair with an image whose brightness depends on the muscle, plus noise."""
    image, labels = make_pair(seed=seed)
    rng = np.random.default_rng(seed)
    array = 40 + labels.array // 2 + rng.integers(0, 40, labels.shape)
    return image.with_array(array.astype(np.uint8)), labels


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg") / "data"
    for split, sid, seed in [("train", "S01", 1), ("train", "S02", 2), ("val", "S03", 3)]:
        image, labels = learnable_pair(seed)
        write_volume(image, root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    return root


@pytest.fixture(scope="module")
def trained(seg_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "r2d"
    summary = train(seg_data, "2d", run, merge(load_config(None), {**TINY, "max_epochs": 3}))
    return run, summary


def tiny_model(kind, seed=0):
    import torch

    torch.manual_seed(seed)
    model = {"2d": {"channels": [4, 8], "patch": [1, 8, 8], "context": 1},
             "3d": {"channels": [4, 8, 8], "patch": [4, 8, 8]}}[kind]
    spec = check_spec({**default_spec(kind), **model})
    return LoadedModel(build_model(spec).eval(), spec, "test")


def read_log(run):
    with open(run / "log.csv") as fh:
        return list(csv.DictReader(fh))


def test_training_loss_falls_and_run_folder_is_complete(trained):
    run, summary = trained
    rows = read_log(run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert {"dice_SOL", "dice_GM", "dice_GL", "dice_mean"} <= set(rows[0])
    for name in ("config.json", "last.pt", "best.pt", "curves.png", "model.ts"):
        assert (run / name).is_file(), name
    assert summary["epochs"] == 3 and summary["device"] == "cpu"
    assert json.loads((run / "config.json").read_text())["spec"]["kind"] == "2d"


def test_resume_continues_where_it_stopped(seg_data, tmp_path):
    import torch

    cfg = merge(load_config(None), TINY)
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(seg_data, "2d", straight, merge(cfg, {"max_epochs": 3}))
    train(seg_data, "2d", split, cfg)
    first = torch.load(split / "last.pt", weights_only=True)
    assert first["epoch"] == 2
    train(seg_data, "2d", split, load_config(None), resume=True, overrides={"max_epochs": 3})
    a = torch.load(straight / "last.pt", weights_only=True)
    b = torch.load(split / "last.pt", weights_only=True)
    assert b["epoch"] == 3 and [r["epoch"] for r in b["history"]] == [1, 2, 3]
    steps = [s["step"] for s in b["optimizer"]["state"].values()]
    assert all(float(s) == 3 * TINY["steps_per_epoch"] for s in steps)
    for key in a["model"]:
        torch.testing.assert_close(a["model"][key], b["model"][key])
    assert [r["loss"] for r in a["history"]] == pytest.approx([r["loss"] for r in b["history"]])


def test_resume_with_another_model_kind_is_refused(trained, seg_data, cli):
    run, _ = trained
    result = cli("train", seg_data, "--model", "3d", "--out", run, "--resume")
    assert result.exit_code == 2
    assert "checkpoint of a 2d model" in result.stderr and "last.pt" in result.stderr


def test_train_never_overwrites_a_run_and_checks_config(trained, seg_data, cli, tmp_path):
    run, _ = trained
    before = (run / "last.pt").read_bytes()
    result = cli("train", seg_data, "--model", "2d", "--out", run)
    assert result.exit_code == 2 and "--resume" in result.stderr
    assert (run / "last.pt").read_bytes() == before
    bad = tmp_path / "bad.toml"
    bad.write_text("batch_sise = 4\n")
    result = cli("train", seg_data, "--model", "2d", "--out", tmp_path / "r", "--config", bad)
    assert result.exit_code == 2 and "batch_sise" in result.stderr
    assert not (tmp_path / "r").exists()


def test_predict_keeps_geometry_and_label_values(trained, seg_data, cli, tmp_path):
    run, _ = trained
    image = seg_data / "val" / "S03" / "x1.mha"
    out = tmp_path / "pred.mha"
    result = cli("predict", run / "model.ts", image, "-o", out, "--tta", "--lcc")
    assert result.exit_code == 0, result.stderr
    src, pred = read_volume(image), read_volume(out)
    assert pred.geometry.matches(src.geometry) == []
    assert pred.dtype == np.uint8 and set(np.unique(pred.array)) <= {0, 100, 150, 200}
    assert len(np.unique(pred.array)) > 1


def test_predict_tree_writes_the_dataset_layout(trained, seg_data, cli, tmp_path):
    run, _ = trained
    out = tmp_path / "preds"
    result = cli("predict", run, seg_data, "-o", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    for key in ("train/S01", "train/S02", "val/S03"):
        pred = read_volume(out / key / "masksX1.mha")
        truth = read_volume(seg_data / key / "masksX1.mha")
        assert pred.geometry.matches(truth.geometry) == []


def test_predict_tree_writes_every_subject_it_can_and_exits_2(trained, seg_data, cli,
                                                             tmp_path):
    import shutil

    run, _ = trained
    data = tmp_path / "data"
    shutil.copytree(seg_data, data)
    broken = data / "train" / "S02" / "x1.mha"
    broken.write_bytes(broken.read_bytes()[:-100])  # truncated
    out = tmp_path / "preds"
    result = cli("predict", run, data, "-o", out, "--quiet")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {broken}: ")
    assert (out / "train" / "S01" / "masksX1.mha").is_file()
    assert (out / "val" / "S03" / "masksX1.mha").is_file()
    assert not (out / "train" / "S02").exists()


def test_torchscript_equals_checkpoint_and_needs_no_training_code(trained, seg_data,
                                                                   monkeypatch):
    run, _ = trained
    image = read_volume(seg_data / "val" / "S03" / "x1.mha")
    pt = predict(image, load_model(run / "best.pt"))
    # With the model-building and training modules unimportable, model.ts still loads.
    for name in ("leg3dus.segment.models", "leg3dus.segment.train"):
        monkeypatch.setitem(sys.modules, name, None)
    ts = predict(image, load_model(run / "model.ts"))
    np.testing.assert_array_equal(ts.array, pt.array)
    with pytest.raises(ImportError):
        load_model(run / "best.pt")


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_slab_inference_equals_whole_volume(kind):
    model = tiny_model(kind)
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (19, 13, 11), dtype=np.uint8)
    image[:, :, :2] = 0
    whole = sliding_window(image, model, probabilities=True, overlap=0.5)
    for slab in (1, 4, 7):
        part = sliding_window(image, model, probabilities=True, overlap=0.5, slab=slab)
        np.testing.assert_allclose(part, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(sliding_window(image, model, slab=5, overlap=0.5),
                                  np.argmax(whole, 0).astype(np.uint8))
    np.testing.assert_allclose(whole.sum(0), 1.0, rtol=1e-5)


def test_volume_smaller_than_patch_is_padded():
    model = tiny_model("3d")
    image = np.full((3, 5, 4), 90, np.uint8)
    labels = predict(image, model)
    assert labels.shape == image.shape
    padded = np.zeros((4, 8, 8), np.uint8)
    padded[:3, :5, :4] = image
    np.testing.assert_array_equal(labels, predict(padded, model)[:3, :5, :4])


def test_wrong_channel_count_and_intensity_are_refused(trained, tmp_path, cli):
    model = tiny_model("2d")
    with pytest.raises(GeometryError, match="one image channel.*3 channels"):
        predict(np.zeros((3, 4, 8, 8), np.uint8), model)
    with pytest.raises(InputFileError, match="values 0..255.*uint16 with values 1000..1000"):
        predict(np.full((4, 8, 8), 1000, np.uint16), model)
    import SimpleITK as sitk

    rgb = sitk.GetImageFromArray(np.zeros((4, 8, 8, 3), np.uint8), isVector=True)
    sitk.WriteImage(rgb, str(tmp_path / "rgb.mha"))
    result = cli("predict", trained[0], tmp_path / "rgb.mha", "-o", tmp_path / "o.mha")
    assert result.exit_code == 2 and "3 channels" in result.stderr
    assert not (tmp_path / "o.mha").exists()


def test_predict_refuses_bad_model_files_and_overwriting_input(trained, seg_data, cli,
                                                              tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_text("not a model")
    image = seg_data / "val" / "S03" / "x1.mha"
    result = cli("predict", junk, image, "-o", tmp_path / "o.mha")
    assert result.exit_code == 2 and "junk.pt" in result.stderr
    result = cli("predict", trained[0], image, "-o", image)
    assert result.exit_code == 2 and "would overwrite the input" in result.stderr
    with pytest.raises(OptionError, match="unknown model kind"):
        check_spec({"kind": "4d"})
    with pytest.raises(OptionError, match="multiples of 2"):
        check_spec({**default_spec("2d"), "channels": [4, 8], "patch": [1, 9, 8]})
    with pytest.raises(OptionError, match="at least 3 levels"):
        check_spec({**default_spec("3d"), "channels": [4, 8], "patch": [4, 8, 8]})


def test_predict_resamples_to_the_model_spacing_and_back(trained, seg_data):
    run, _ = trained
    model = load_model(run / "model.ts")
    image = read_volume(seg_data / "val" / "S03" / "x1.mha")
    fine = Volume(np.repeat(image.array, 2, axis=0), (0.25, 0.4, 0.3), image.origin,
                  image.direction)
    labels = predict(fine, model)
    assert labels.geometry.matches(fine.geometry) == []
    direct = predict(image, model).array
    agree = np.mean(np.repeat(direct, 2, axis=0) == labels.array)
    assert agree > 0.8


def test_resample_image_keeps_constants_and_means():
    a = np.full((9, 12, 10), 77, np.uint8)
    assert (resample_image(a, (4, 6, 5)) == 77).all()
    assert (resample_image(a, (18, 24, 20)) == 77).all()
    ramp = np.repeat(np.arange(0, 240, 20, dtype=np.uint8)[None, :, None], 4, axis=0)
    ramp = np.repeat(ramp, 4, axis=2)
    half = resample_image(ramp, (4, 6, 4))
    assert half[0, :, 0].tolist() == [10, 50, 90, 130, 170, 210]


def test_sampler_balances_classes_and_extract_pads(tmp_path):
    image, labels = learnable_pair(7)
    lab_arr = labels.array.copy()
    lab_arr[lab_arr == 200] = 0
    lab_arr[2:4, 2:4, 12:14] = 200          # GL: 8 voxels of 7680
    write_volume(image, tmp_path / "i.mha")
    write_volume(labels.with_array(lab_arr), tmp_path / "l.mha")
    subject = cache_subject("S", tmp_path / "i.mha", tmp_path / "l.mha", tmp_path / "c")
    assert isinstance(subject.image.data, np.memmap)   # a cropped box, memory-mapped
    spec = check_spec({**default_spec("3d"), "channels": [4, 8, 8], "patch": [4, 4, 4]})
    sampler = PatchSampler([subject], spec)
    rng = np.random.default_rng(0)
    hits = sum(int((sampler.sample(rng)[1] == 3).any()) for _ in range(400))
    assert 60 < hits < 160                  # about a quarter of the patches
    a = np.arange(27, dtype=np.uint8).reshape(3, 3, 3)
    assert extract(a, (2, -1, 0), (2, 2, 2)).tolist() == [[[0, 0], [18, 19]], [[0, 0], [0, 0]]]
    assert extract(a, (0, 0, 0), (1, 1, 1), context=1)[:, 0, 0].tolist() == [0, 0, 9]


def test_window_starts_and_bounding_box():
    assert window_starts(5, 8, 0.5) == [0]
    assert window_starts(16, 8, 0.5) == [0, 4, 8]
    a = np.zeros((5, 6, 7), np.uint8)
    assert bounding_box(a) is None
    a[1, 2:4, 6] = 1
    assert bounding_box(a) == (slice(1, 2), slice(2, 4), slice(6, 7))


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_augmentation_moves_image_and_labels_together(kind):
    import torch

    rng = np.random.default_rng(3)
    spatial = (32, 32) if kind == "2d" else (16, 32, 32)
    classes = np.zeros((16, 1, *spatial), np.int64)
    classes[..., 4:20, 6:14] = 1
    classes[..., 8:28, 18:30] = 3
    image = classes.astype(np.float32) * 0.25 + 0.1
    x, y = augment_batch(torch.from_numpy(np.repeat(image, 3 if kind == "2d" else 1, 1)),
                         torch.from_numpy(classes), rng, kind)
    x, y = x.numpy(), y.numpy()
    assert x.shape[2:] == y.shape[2:] == spatial and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1, 3}
    for b in range(16):       # intensity maps are monotone: class order survives
        inside = x[b, 0][y[b, 0] == 3]
        other = x[b, 0][(y[b, 0] == 1)]
        assert np.median(inside) > np.median(other)
    moved = np.mean(y != classes)
    assert 0 < moved < 0.2


def test_missing_seg_extra_is_one_clear_line(cli, seg_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    result = cli("train", seg_data, "--model", "2d", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "pip install 'leg3dus[seg]'" in result.stderr
    assert not (tmp_path / "r").exists()
