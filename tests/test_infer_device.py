"""Sliding-window inference on the network's device: on torch's CPU device it gives the
labels of the window-by-window host path and of MONAI's sliding window; slabs, windows
larger than the volume, test-time flips, ensembles, resampling, tensors in and out."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("monai")
import torch  # noqa: E402
from conftest import make_pair  # noqa: E402

from leg3dus import write_volume  # noqa: E402
from leg3dus.core.errors import OptionError  # noqa: E402
from leg3dus.segment import infer  # noqa: E402
from leg3dus.segment.ensemble import Ensemble  # noqa: E402
from leg3dus.segment.infer import LoadedModel, load_model, predict, sliding_window  # noqa: E402
from leg3dus.segment.models import build_model, check_spec, default_spec  # noqa: E402
from leg3dus.segment.window import gaussian_weights  # noqa: E402
from leg3dus.segment.window_device import argmax0, sliding_window_device  # noqa: E402
from leg3dus.segment.window_host import sliding_window_host  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

MODELS = {"2d": {"channels": [4, 8], "patch": [1, 8, 8], "context": 1},
          "2d-c0": {"channels": [4, 8], "patch": [1, 8, 8], "context": 0},
          "2d-c2": {"channels": [4, 8], "patch": [1, 8, 8], "context": 2},
          "3d": {"channels": [4, 8, 8], "patch": [4, 8, 8]}}


def tiny_model(name, seed=0, device="cpu"):
    torch.manual_seed(seed)
    kind = name.split("-")[0]
    spec = check_spec({**default_spec(kind), **MODELS[name]})
    return LoadedModel(build_model(spec).eval().to(device), spec, "test", device)


def image_with_gaps(shape=(19, 13, 11), seed=5):
    """Random B-mode values with all-zero bands (no data), so some windows are empty."""
    image = np.random.default_rng(seed).integers(1, 256, shape, dtype=np.uint8)
    image[:, :, :2] = 0
    image[3:6] = 0
    image[:, 9:] = 0
    return image


def assert_same(image, model, **kw):
    """The device path and the host path: equal labels, equal blended scores."""
    dev = sliding_window_device(image, model, probabilities=True, **kw)
    host = sliding_window_host(image, model, probabilities=True,
                               **{"batch_size": 8, **kw})
    np.testing.assert_allclose(dev, host, rtol=1e-5, atol=1e-6)
    labels = sliding_window_device(image, model, **kw)
    np.testing.assert_array_equal(labels, sliding_window_host(image, model, **kw))
    np.testing.assert_array_equal(labels, host.argmax(0))
    return dev, labels


@pytest.mark.parametrize("name", ["2d", "2d-c0", "2d-c2", "3d"])
@pytest.mark.parametrize("tta", [False, True])
def test_device_path_equals_host_path(name, tta):
    model = tiny_model(name)
    image = image_with_gaps()
    scores, labels = assert_same(image, model, overlap=0.5, tta=tta, slab=None)
    np.testing.assert_allclose(scores.sum(0), 1.0, rtol=1e-5)
    assert len(np.unique(labels)) > 1
    if name.startswith("2d"):  # slices whose windows see only zeros: background only
        c = model.spec["context"]
        empty = [z for z in range(19) if not image[max(z - c, 0):z + c + 1].any()]
        assert len(empty) == {0: 3, 1: 1, 2: 0}[c]
        np.testing.assert_array_equal(scores[0, empty], 1.0)
        assert not labels[empty].any()


@pytest.mark.parametrize("name", ["2d", "3d"])
@pytest.mark.parametrize("slab", [1, 3, 5, 7])
def test_slab_boundaries_do_not_change_the_result(name, slab):
    """3d windows (depth 4, step 2) cross every slab boundary; 2d context slices too."""
    model = tiny_model(name)
    image = image_with_gaps()
    whole = sliding_window(image, model, probabilities=True, overlap=0.5)
    part, labels = assert_same(image, model, overlap=0.5, slab=slab, batch_size=3)
    np.testing.assert_allclose(part, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(labels, whole.argmax(0))


@pytest.mark.parametrize("name", ["2d", "3d"])
@pytest.mark.parametrize("shape", [(3, 5, 4), (2, 12, 5), (9, 6, 20)])
def test_windows_larger_than_the_volume_are_zero_padded(name, shape):
    model = tiny_model(name)
    image = np.random.default_rng(1).integers(1, 256, shape, dtype=np.uint8)
    assert_same(image, model, overlap=0.25, tta=True, slab=2)


def test_selected_slices_only_and_in_any_order():
    model = tiny_model("2d")
    image = image_with_gaps()
    zs = [17, 0, 4, 8, 9, 10, 18]
    labels = sliding_window(image, model, z_indices=zs, batch_size=2)
    np.testing.assert_array_equal(labels, sliding_window_host(image, model, z_indices=zs))
    others = np.setdiff1d(np.arange(image.shape[0]), zs)
    assert not labels[others].any() and labels[[0, 8, 9, 10]].any()
    scores = sliding_window(image, model, z_indices=zs, probabilities=True, batch_size=2)
    np.testing.assert_array_equal(scores[0, others], 1.0)


def test_ensemble_with_flips_on_the_device():
    a, b = tiny_model("2d", seed=1), tiny_model("2d", seed=2)
    ensemble = Ensemble([a, b])
    image = image_with_gaps()
    scores, _ = assert_same(image, ensemble, overlap=0.25, tta=True, slab=4)
    pa, pb = (sliding_window(image, m, probabilities=True, tta=True, slab=4) for m in (a, b))
    covered = image.any(axis=(1, 2))  # slices with data
    np.testing.assert_allclose(scores[:, covered], ((pa + pb) / 2)[:, covered], atol=1e-6)


def monai_scores(image, model):
    from monai.inferers import sliding_window_inference

    kind, patch = model.spec["kind"], model.spec["patch"]

    def predictor(x):
        if kind == "2d":  # windows of depth 1 -> the 2D network
            return torch.softmax(model.net(x[:, :, 0]), 1)[:, :, None]
        return torch.softmax(model.net(x), 1)

    with torch.inference_mode():
        t = torch.from_numpy(image)[None, None].float() / 255.0
        out = sliding_window_inference(t, tuple(patch), 4, predictor, overlap=0.25,
                                       mode="gaussian", sigma_scale=0.125)
    return out[0].numpy()


@pytest.mark.parametrize("name", ["2d-c0", "3d"])
def test_monai_sliding_window_gives_the_same_scores_and_labels(name):
    model = tiny_model(name)
    image = np.random.default_rng(2).integers(1, 256, (19, 13, 11), dtype=np.uint8)
    ours = sliding_window(image, model, probabilities=True, overlap=0.25, slab=6)
    theirs = monai_scores(image, model)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(sliding_window(image, model, overlap=0.25, slab=6),
                                  theirs.argmax(0))


def test_gaussian_weights_are_monais():
    from monai.data.utils import compute_importance_map

    for patch in ([1, 8, 8], [4, 8, 6]):
        spatial = patch[1:] if patch[0] == 1 else patch
        theirs = compute_importance_map(spatial, mode="gaussian", sigma_scale=0.125,
                                        device="cpu").numpy()
        ours = gaussian_weights(patch).reshape(theirs.shape)
        np.testing.assert_allclose(ours / ours.max(), theirs / theirs.max(), rtol=1e-5)


def test_resampled_prediction_equals_the_host_path(monkeypatch):
    model = tiny_model("2d")  # trained at 1 mm; this image has 0.6 x 0.5 x 0.7 mm voxels
    image = image_with_gaps((21, 17, 15))
    spacing = (0.6, 0.5, 0.7)
    dev = predict(image, model, spacing=spacing, tta=True, slab=3)
    native = predict(image, model, tta=True, slab=3)  # the crop: a strided view
    monkeypatch.setattr(infer, "_on_device", lambda model: False)
    host = predict(image, model, spacing=spacing, tta=True, slab=3)
    np.testing.assert_array_equal(dev, host)
    np.testing.assert_array_equal(native, predict(image, model, tta=True, slab=3))
    assert set(np.unique(dev)) > {0} and set(np.unique(native)) > {0}


def test_a_tensor_in_gives_a_tensor_out_on_the_device():
    model = tiny_model("3d")
    image = image_with_gaps()
    t = torch.from_numpy(image)
    labels = sliding_window(t, model, slab=4)
    scores = sliding_window(t, model, probabilities=True, slab=4)
    assert isinstance(labels, torch.Tensor) and labels.dtype == torch.uint8
    assert isinstance(scores, torch.Tensor) and scores.shape == (4, *image.shape)
    np.testing.assert_array_equal(labels.numpy(), sliding_window(image, model, slab=4))


def test_reduced_precision_on_request():
    model = tiny_model("2d")
    image = image_with_gaps()
    exact = sliding_window(image, model, probabilities=True)
    bf16 = sliding_window(image, model, probabilities=True, autocast=True)
    assert not np.array_equal(bf16, exact)  # it did run in bfloat16
    np.testing.assert_allclose(bf16, exact, atol=0.05)
    np.testing.assert_allclose(bf16.sum(0), 1.0, rtol=1e-5)


def test_progress_counts_every_window_once():
    model = tiny_model("2d")
    image = image_with_gaps()
    calls = []
    sliding_window(image, model, slab=4, batch_size=5,
                   progress=lambda what, done, total: calls.append((done, total)))
    total = 19 * 2 * 2  # slices x window positions along y x along x
    assert calls[-1] == (total, total) and all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_an_empty_volume_gives_empty_labels():
    model = tiny_model("3d")
    for shape in [(0, 5, 5), (4, 6, 0)]:
        image = np.zeros(shape, np.uint8)
        assert sliding_window(image, model).shape == shape
        assert sliding_window(image, model, probabilities=True).shape == (4, *shape)


def test_argmax0_is_torch_argmax_with_first_on_ties():
    s = torch.from_numpy(np.random.default_rng(3).integers(0, 3, (4, 50, 7)).astype(np.float32))
    np.testing.assert_array_equal(argmax0(s).numpy(), s.argmax(0).numpy())


def test_bad_batch_size_and_device_are_refused(tmp_path, cli):
    model = tiny_model("2d")
    with pytest.raises(OptionError, match="batch size must be at least 1, found 0"):
        sliding_window(image_with_gaps(), model, batch_size=0)
    ckpt = tmp_path / "m.pt"
    torch.save({"spec": model.spec, "model": model.net.state_dict()}, ckpt)
    with pytest.raises(OptionError, match="device must be cpu or cuda.*'tpu'"):
        load_model(ckpt, device="tpu")
    image, _ = make_pair(shape=(6, 20, 24))
    write_volume(image, tmp_path / "x1.mha")
    out = tmp_path / "p.mha"
    if not torch.cuda.is_available():
        with pytest.raises(OptionError, match="torch sees 0 CUDA device"):
            load_model(ckpt, device="cuda")
        result = cli("predict", ckpt, tmp_path / "x1.mha", "-o", out, "--device", "cuda")
        assert result.exit_code == 2 and "CUDA device" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
    result = cli("predict", ckpt, tmp_path / "x1.mha", "-o", out, "--batch-size", "0")
    assert result.exit_code == 2 and not out.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["2d", "3d"])
def test_cuda_gives_the_cpu_labels(name):
    cpu, gpu = tiny_model(name), tiny_model(name, device="cuda")
    image = np.random.default_rng(4).integers(1, 256, (40, 60, 50), dtype=np.uint8)
    ref = sliding_window(image, cpu, tta=True, slab=16)
    exact = sliding_window(image, gpu, tta=True, slab=16, autocast=False)
    assert np.mean(exact == ref) > 0.999
    fast = sliding_window(image, gpu, tta=True, slab=16)  # bfloat16 network
    assert np.mean(fast == ref) > 0.98
    scores = sliding_window(torch.from_numpy(image).cuda(), gpu, probabilities=True)
    assert scores.is_cuda and torch.allclose(scores.sum(0), torch.ones(()).cuda())


def test_onnx_model_runs_on_the_host_with_the_threads_asked(tmp_path, cli):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from leg3dus.segment.ensemble import load_models
    from leg3dus.segment.export import export_onnx

    model = tiny_model("2d")
    path = export_onnx(model.net, model.spec, tmp_path / "m.onnx")
    onnx = load_models([path], threads=1)
    assert onnx.net.session.get_session_options().intra_op_num_threads == 1
    image = image_with_gaps()
    np.testing.assert_allclose(sliding_window(image, onnx, probabilities=True, tta=True),
                               sliding_window(image, model, probabilities=True, tta=True),
                               atol=1e-4)
    volume, _ = make_pair(shape=(6, 20, 24))
    write_volume(volume, tmp_path / "x1.mha")
    result = cli("predict", path, tmp_path / "x1.mha", "-o", tmp_path / "p.mha",
                 "--threads", "1")
    assert result.exit_code == 0, result.output
