"""Training with the cache on the device: patches gathered there equal an independent
numpy reference of the same draws, the host fallback gives the same batches and the same
loss curve, sparse and 3d training work, a limit moves the cache to the host."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import write_volume

pytest.importorskip("torch")
pytest.importorskip("monai")

import torch  # noqa: E402

from leg3dus.core.errors import OptionError  # noqa: E402
from leg3dus.core.layout import SLICES_NAME, SPARSE_NAME  # noqa: E402
from leg3dus.segment import device_data  # noqa: E402
from leg3dus.segment.augment import apply_params, draw_params, identity_params  # noqa: E402
from leg3dus.segment.cache import IGNORE, cache_subject  # noqa: E402
from leg3dus.segment.config import load_config, merge  # noqa: E402
from leg3dus.segment.device_data import (  # noqa: E402
    DevicePatches,
    HostPatches,
    choose_patches,
    draw_epoch,
)
from leg3dus.segment.train import train  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SPECS = {"2d": {"kind": "2d", "patch": [1, 16, 16], "context": 2},
         "3d": {"kind": "3d", "patch": [8, 16, 16], "context": 0}}
TINY = {"batch_size": 3, "steps_per_epoch": 4, "max_epochs": 2, "lr_schedule": "constant",
        "val_slice_step": 4}
MODELS = {"2d": {"channels": [4, 8], "patch": [1, 16, 16], "context": 1},
          "3d": {"channels": [4, 8, 8], "patch": [8, 16, 16]}}
SPARSE_SLICES = [3, 9, 15]


def learnable(seed, shape=(20, 20, 16)):
    image, labels = make_pair(shape=shape, seed=seed)
    rng = np.random.default_rng(seed)
    array = 40 + labels.array // 2 + rng.integers(0, 40, labels.shape)
    array[:, :2] = 0  # a band without data: the image box is smaller than the volume
    return image.with_array(array.astype(np.uint8)), labels


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("dev") / "data"
    for split, sid, seed in [("train", "S01", 1), ("train", "S02", 2), ("val", "S03", 3)]:
        image, labels = learnable(seed, shape=(20 + seed, 20, 16))
        folder = root / split / sid
        write_volume(image, folder / "x1.mha")
        write_volume(labels, folder / "masksX1.mha")
        sparse = labels.array.copy()
        keep = np.zeros(len(sparse), bool)
        keep[SPARSE_SLICES] = True
        sparse[~keep] = 0
        write_volume(labels.with_array(sparse), folder / SPARSE_NAME)
        (folder / SLICES_NAME).write_text(" ".join(map(str, SPARSE_SLICES)) + "\n")
    return root


@pytest.fixture(scope="module")
def cached(data, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    out = {}
    for sparse in (False, True):
        out[sparse] = [
            cache_subject(sid, data / "train" / sid / "x1.mha",
                          data / "train" / sid / (SPARSE_NAME if sparse else "masksX1.mha"),
                          cache, annotated=SPARSE_SLICES if sparse else None)
            for sid in ("S01", "S02")]
    return out


def reference(subject, start, spec):
    """Patches of the full arrays, zero-padded, by plain slicing (no extract, no gather)."""
    image, classes = np.asarray(subject.image), np.asarray(subject.classes)
    pad = 40
    pi, pc = np.pad(image, pad), np.pad(classes, pad)
    z, y, x = (int(v) + pad for v in start)
    py, px = spec["patch"][1:]
    if spec["kind"] == "2d":
        c = spec["context"]
        zs = np.clip(np.arange(start[0] - c, start[0] + c + 1), 0, image.shape[0] - 1) + pad
        return pi[zs, y:y + py, x:x + px], pc[z, y:y + py, x:x + px][None]
    pz = spec["patch"][0]
    return pi[z:z + pz, y:y + py, x:x + px][None], pc[z:z + pz, y:y + py, x:x + px][None]


@pytest.mark.parametrize("kind,sparse", [("2d", False), ("3d", False), ("2d", True)])
def test_device_and_host_patches_equal_a_numpy_reference(cached, kind, sparse):
    subjects, spec = cached[sparse], SPECS[kind]
    draws = draw_epoch(np.random.default_rng(4), subjects, spec, 5, 8, augment=False)
    on_device = DevicePatches(subjects, spec, "cpu")
    on_host = HostPatches(subjects, spec, "cpu")
    x, y = on_device.cut(torch.as_tensor(draws["subject"]), torch.as_tensor(draws["start"]))
    hx, hy = on_host.cut(draws["subject"], draws["start"])
    assert torch.equal(x, hx) and torch.equal(y, hy)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    outside = 0
    for i, (u, start) in enumerate(zip(draws["subject"], draws["start"], strict=True)):
        want_x, want_y = reference(subjects[u], start, spec)
        np.testing.assert_array_equal(np.rint(x[i].numpy() * 255).astype(np.uint8), want_x)
        np.testing.assert_array_equal(y[i].numpy(), want_y)
        outside += (start < 0).any() or (start + spec["patch"] > subjects[u].image.shape).any()
    assert outside > 0  # some patches reach past the volume (zero there)
    if sparse:
        assert not (y == IGNORE).any()  # 2d patches lie on annotated slices
        assert set(draws["start"][:, 0].tolist()) <= set(SPARSE_SLICES)


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_patches_at_the_edges_and_wholly_outside(cached, kind):
    subjects, spec = cached[False], SPECS[kind]
    z, y, x = subjects[0].image.shape
    starts = [(0, -12, -12), (z - 1, y - 2, x - 2), (1, -40, 3), (2, 3, -40), (2, 3, x + 5),
              (z - 1, y + 9, 0), (0, 0, 0), (z // 2, 1, -15)]
    if kind == "3d":
        starts += [(-7, 2, 2), (-20, 0, 0), (z - 3, -3, -3)]
    subject = np.array([0, 1] * len(starts))[:len(starts)]
    start = np.array(starts, np.int64)
    dx, dy = DevicePatches(subjects, spec, "cpu").cut(torch.as_tensor(subject),
                                                      torch.as_tensor(start))
    hx, hy = HostPatches(subjects, spec, "cpu").cut(subject, start)
    assert torch.equal(dx, hx) and torch.equal(dy, hy)
    for i, (u, s0) in enumerate(zip(subject, start, strict=True)):
        want_x, want_y = reference(subjects[u], s0, spec)
        np.testing.assert_array_equal(np.rint(dx[i].numpy() * 255).astype(np.uint8), want_x)
        np.testing.assert_array_equal(dy[i].numpy(), want_y)
    assert dx[2].sum() == 0 and dx[3].sum() == 0 and dx[4].sum() == 0


def test_draws_repeat_with_the_seed_and_balance_classes(cached):
    subjects, spec = cached[False], SPECS["2d"]
    a = draw_epoch(np.random.default_rng([7, 1]), subjects, spec, 50, 8)
    b = draw_epoch(np.random.default_rng([7, 1]), subjects, spec, 50, 8)
    c = draw_epoch(np.random.default_rng([7, 2]), subjects, spec, 50, 8)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["start"], c["start"])
    # each centre is a sample point of its subject, drawn class-balanced; the start
    # is the centre less half a patch, jittered by up to a quarter (2d: centre slice)
    size = np.array(spec["patch"])
    classes = []
    for u, centre, start in zip(a["subject"], a["centre"], a["start"], strict=True):
        s = subjects[u]
        which = [k for k, p in s.samples.items() if (p == centre).all(1).any()]
        assert len(which) == 1
        classes.append(which[0])
        jitter = start - (centre - size // 2)
        assert start[0] == centre[0] and (np.abs(jitter[1:]) <= size[1:] // 4).all()
    counts = np.bincount(classes, minlength=4)
    assert counts.min() > 0.18 * counts.sum()
    assert set(np.unique(a["subject"])) == {0, 1}


def test_augmentation_parameters_known_answers():
    x = torch.rand(3, 2, 8, 8)
    y = torch.randint(0, 4, (3, 1, 8, 8))
    p = {**identity_params(3, 2), "field": None}
    same_x, same_y = apply_params(x, y, p)
    torch.testing.assert_close(same_x, x)
    assert torch.equal(same_y, y)
    gain = {**p, "gain": np.array([0.5, 1.0, 1.0], np.float32),
            "offset": np.array([0.0, 0.1, 0.0], np.float32),
            "gamma": np.array([1.0, 1.0, 2.0], np.float32)}
    got, _ = apply_params(x, y, gain)
    torch.testing.assert_close(got[0], x[0] * 0.5)
    torch.testing.assert_close(got[1], (x[1] + 0.1).clamp(0, 1))
    torch.testing.assert_close(got[2], x[2] ** 2)
    noise = torch.ones_like(x)
    on = {**p, "noise_on": np.array([0, 1, 0], np.float32)}
    got, _ = apply_params(x, y, on, noise)
    torch.testing.assert_close(got[1], x[1] + 0.03)
    torch.testing.assert_close(got[0], x[0])
    # a quarter turn (cos 0, sin 1) of the transverse plane: labels turn with the image
    turn = {**p, "cos": np.zeros(3, np.float32), "sin": np.ones(3, np.float32)}
    tx, ty = apply_params(x, y, turn)
    torch.testing.assert_close(tx, torch.rot90(x, 1, (2, 3)), atol=1e-6, rtol=0)
    assert torch.equal(ty, torch.rot90(y, 1, (2, 3)))
    draws = draw_params(np.random.default_rng(0), 1000, (32, 32))
    assert 0.4 < np.mean(draws["gain"] != 1) < 0.6 and 0.2 < np.mean(draws["noise_on"]) < 0.4


def read_losses(run):
    with open(run / "log.csv") as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


@pytest.mark.parametrize("kind,sparse", [("2d", False), ("3d", False), ("2d", True)])
def test_device_cache_and_host_fallback_train_the_same(data, tmp_path, kind, sparse):
    config = merge(load_config(None), {**TINY, "sparse": sparse, "model": MODELS[kind]})
    said = {}
    for name, limit in (("device", None), ("host", 0), ("again", None)):
        lines = []
        train(data, kind, tmp_path / name, config, log=lines.append,
              overrides={"device_cache_mb": limit})
        said[name] = lines
    curves = {name: read_losses(tmp_path / name) for name in said}
    assert len(curves["device"]) == 2 and all(np.isfinite(curves["device"]))
    assert curves["device"] == pytest.approx(curves["host"], rel=1e-6, abs=1e-7)
    assert curves["device"] == curves["again"]  # one seed, one curve
    a = torch.load(tmp_path / "device" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "host" / "last.pt", weights_only=True)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key])
    assert any("held on cpu" in line for line in said["device"])
    assert any("does not fit the 0 MB" in line and "on the host" in line
               for line in said["host"])


def test_another_seed_gives_another_curve(data, tmp_path):
    config = merge(load_config(None), {**TINY, "max_epochs": 1, "model": MODELS["2d"]})
    train(data, "2d", tmp_path / "a", config)
    train(data, "2d", tmp_path / "b", merge(config, {"seed": 1}))
    assert read_losses(tmp_path / "a") != read_losses(tmp_path / "b")


def test_cache_that_cannot_be_placed_falls_back(cached, monkeypatch):
    said = []

    def full(*_args):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB\nmore")

    monkeypatch.setattr(device_data, "DevicePatches", full)
    patches = choose_patches(cached[False], SPECS["2d"], "cpu", None, said.append)
    assert isinstance(patches, HostPatches)
    assert "could not be placed" in said[0] and "CUDA out of memory" in said[0]
    assert "\n" not in said[0]


def test_bad_device_cache_limit_is_one_line_and_writes_nothing(cli, data, tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"device_cache_mb": -5}))
    r = cli("train", data, "--model", "2d", "--out", tmp_path / "run", "--config", config)
    assert r.exit_code == 2 and "device_cache_mb" in r.stderr and "-5" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
    with pytest.raises(OptionError):
        choose_patches([], SPECS["2d"], "cpu", "lots")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_patches_equal_cpu_patches_and_bf16_training_runs(cached, data, tmp_path):
    subjects, spec = cached[True], SPECS["2d"]
    draws = draw_epoch(np.random.default_rng(4), subjects, spec, 4, 8, augment=False)
    args = (torch.as_tensor(draws["subject"]), torch.as_tensor(draws["start"]))
    cx, cy = DevicePatches(subjects, spec, "cuda").cut(*args)
    hx, hy = DevicePatches(subjects, spec, "cpu").cut(*args)
    assert torch.equal(cx.cpu(), hx) and torch.equal(cy.cpu(), hy)
    config = merge(load_config(None), {**TINY, "model": MODELS["2d"]})
    summary = train(data, "2d", tmp_path / "run", config)
    assert summary["device"] == "cuda" and all(np.isfinite(read_losses(tmp_path / "run")))


def test_an_epoch_reads_nothing_back_per_step(cached, monkeypatch):
    """Values the training code reads from tensors to the host (a wait for the device on
    a GPU): one, the epoch's mean loss, whatever the number of steps. (MONAI's loss and
    AdamW read only host tensors: a shape list and the step counter.)"""
    import inspect

    from monai.losses import DiceCELoss

    from leg3dus.segment.epoch import noise_generator, run_epoch
    from leg3dus.segment.models import build_model, check_spec, default_spec

    spec = check_spec({**default_spec("2d"), **MODELS["2d"]})
    net = build_model(spec)
    opt = torch.optim.AdamW(net.parameters())
    patches = DevicePatches(cached[False], spec, "cpu")
    reads = []
    for name in ("item", "cpu", "tolist", "numpy", "__float__", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _name=name, _original=original, **k):
            caller = inspect.currentframe().f_back.f_globals.get("__name__", "")
            if caller.startswith("leg3dus"):
                reads.append(_name)
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    for steps in (2, 5):
        reads.clear()
        draws = draw_epoch(np.random.default_rng(0), cached[False], spec, steps, 3)
        loss, done = run_epoch(net, opt, DiceCELoss(to_onehot_y=True, softmax=True), patches,
                               draws, steps, 3, generator=noise_generator("cpu", 0, 1))
        assert done == steps and np.isfinite(loss)
        assert reads == ["__float__"], reads


def test_resume_with_augmentation_on_the_device_continues_exactly(data, tmp_path):
    config = merge(load_config(None), {**TINY, "model": MODELS["2d"]})
    train(data, "2d", tmp_path / "straight", config)
    train(data, "2d", tmp_path / "split", merge(config, {"max_epochs": 1}))
    train(data, "2d", tmp_path / "split", load_config(None), resume=True,
          overrides={"max_epochs": 2})
    assert read_losses(tmp_path / "straight") == read_losses(tmp_path / "split")
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "split" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
