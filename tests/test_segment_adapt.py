"""Subject adaptation (``predict --propagate``): fine-tuning on annotated slices."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import make_pair  # noqa: E402

from leg3dus import Volume, read_volume, write_volume  # noqa: E402
from leg3dus.core.errors import GeometryError, InputFileError, LabelError  # noqa: E402
from leg3dus.segment.adapt import (  # noqa: E402
    IGNORE,
    adapt,
    annotated_loss,
    check_annotation,
    load_trainable,
    masked_dice_ce,
    predict_adapted,
)
from leg3dus.segment.export import export_torchscript  # noqa: E402
from leg3dus.segment.infer import LoadedModel, predict  # noqa: E402
from leg3dus.segment.models import build_model, check_spec, default_spec  # noqa: E402

ANNOTATED = [0, 3, 10, 17]      # slice 0 lies before the muscles: annotated, empty


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def subject(seed=1):
    """A learnable image (brightness depends on the muscle), its truth and a sparse
    annotation holding the truth on ANNOTATED only."""
    image, truth = make_pair(seed=seed)
    rng = np.random.default_rng(seed)
    array = 40 + truth.array // 2 + rng.integers(0, 40, truth.shape)
    sparse = np.zeros_like(truth.array)
    sparse[ANNOTATED] = truth.array[ANNOTATED]
    return image.with_array(array.astype(np.uint8)), truth, truth.with_array(sparse)


def tiny(kind="2d", seed=0):
    import torch

    torch.manual_seed(seed)
    model = {"2d": {"channels": [4, 8], "patch": [1, 8, 8], "context": 1},
             "3d": {"channels": [4, 8, 8], "patch": [4, 8, 8]}}[kind]
    spec = check_spec({**default_spec(kind), **model})
    return LoadedModel(build_model(spec).eval(), spec, "test")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch

    root = tmp_path_factory.mktemp("adapt")
    image, truth, sparse = subject()
    write_volume(image, root / "x1.mha")
    write_volume(sparse, root / "sparse.mha")
    model = tiny()
    (root / "run").mkdir()
    torch.save({"spec": model.spec, "model": model.net.state_dict()}, root / "run" / "best.pt")
    (root / "ts").mkdir()
    export_torchscript(model.net, model.spec, root / "ts" / "model.ts")
    return root


@pytest.mark.parametrize("kind", ["2d", "3d"])
def test_adaptation_lowers_the_loss_on_annotated_slices(kind):
    import torch

    image, _, sparse = subject()
    model = tiny(kind)
    before_weights = {k: v.clone() for k, v in model.net.state_dict().items()}
    idx, classes = check_annotation(sparse, image, ANNOTATED)
    assert idx.tolist() == ANNOTATED and (classes[1] == IGNORE).all()
    before = annotated_loss(model, image.array, classes, idx)
    tuned = adapt(model, image, sparse, annotated=ANNOTATED, steps=40, lr=5e-3, seed=0)
    after = annotated_loss(tuned, image.array, classes, idx)
    assert after < 0.8 * before, (before, after)
    for k, v in model.net.state_dict().items():     # the given model is left unchanged
        torch.testing.assert_close(v, before_weights[k])


def test_output_equals_the_annotation_on_annotated_slices():
    image, _, sparse = subject()
    model = tiny()
    plain = predict(image, model, resample=False).array
    assert (plain[ANNOTATED] != sparse.array[ANNOTATED]).any()   # so the write-back shows
    out = predict_adapted(image, model, sparse, annotated=ANNOTATED, steps=5, lr=1e-3)
    np.testing.assert_array_equal(out.array[ANNOTATED], sparse.array[ANNOTATED])
    assert not out.array[0].any()                  # an annotated empty slice stays empty


def test_masked_loss_counts_only_annotated_voxels():
    import torch
    from monai.losses import DiceCELoss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 4, 3, 6, 5, generator=g)
    target = torch.randint(0, 4, (2, 1, 3, 6, 5), generator=g)
    reference = DiceCELoss(to_onehot_y=True, softmax=True)(logits, target)
    torch.testing.assert_close(masked_dice_ce(logits, target), reference)
    masked = target.clone()
    masked[:, :, 1:] = IGNORE
    other = masked.clone()
    logits2 = logits.clone()
    logits2[:, :, 1:] = torch.randn(2, 4, 2, 6, 5, generator=g)   # unannotated: no effect
    torch.testing.assert_close(masked_dice_ce(logits, masked), masked_dice_ce(logits2, other))
    torch.testing.assert_close(masked_dice_ce(logits, masked),
                               masked_dice_ce(logits[:, :, :1], target[:, :, :1]))


def test_cli_keeps_geometry_and_label_values(files, cli, tmp_path):
    out = tmp_path / "labels.mha"
    result = cli("predict", files / "run", files / "x1.mha", "-o", out,
                 "--propagate", files / "sparse.mha", "--annotated", "0,3,10,17",
                 "--adapt-steps", "10", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["adapt_steps"] == 10
    src, pred, sparse = (read_volume(p) for p in (files / "x1.mha", out, files / "sparse.mha"))
    assert pred.geometry.matches(src.geometry) == []
    assert pred.dtype == np.uint8 and set(np.unique(pred.array)) <= {0, 100, 150, 200}
    np.testing.assert_array_equal(pred.array[ANNOTATED], sparse.array[ANNOTATED])


def test_same_seed_same_result_other_seed_other_weights():
    image, _, sparse = subject()
    model = tiny()
    runs = [predict_adapted(image, model, sparse, steps=15, lr=2e-3, seed=s).array
            for s in (7, 7)]
    np.testing.assert_array_equal(runs[0], runs[1])
    a = adapt(model, image, sparse, steps=15, lr=2e-3, seed=7).net.state_dict()
    b = adapt(model, image, sparse, steps=15, lr=2e-3, seed=7).net.state_dict()
    c = adapt(model, image, sparse, steps=15, lr=2e-3, seed=8).net.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert any(not np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)


def test_bad_annotations_are_refused_in_the_library():
    image, truth, sparse = subject()
    model = tiny()
    moved = Volume(sparse.array, sparse.spacing, np.asarray(sparse.origin) + 5.0,
                   sparse.direction)
    with pytest.raises(GeometryError, match="origin"):
        adapt(model, image, moved, steps=1)
    with pytest.raises(LabelError, match="no annotated slice"):
        adapt(model, image, sparse.with_array(np.zeros_like(sparse.array)), steps=1)
    stray = sparse.array.copy()
    stray[3, 0, 0] = 37
    with pytest.raises(LabelError, match="37"):
        adapt(model, image, sparse.with_array(stray), steps=1)
    with pytest.raises(LabelError, match="not listed"):
        adapt(model, image, sparse, annotated=[0, 3], steps=1)


def bad_run(cli, files, tmp_path, model, data, sparse, *extra):
    out = tmp_path / "pred.mha"
    result = cli("predict", model, data, "-o", out, "--propagate", sparse,
                 "--adapt-steps", "1", *extra)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0
    assert not [p for p in tmp_path.iterdir() if "pred" in p.name]   # no partial file
    return result.stderr


def test_cli_bad_input_is_one_line_exit_2_no_output(files, cli, tmp_path):
    image = read_volume(files / "x1.mha")
    other = Volume(np.zeros((24, 20, 15), np.uint8), image.spacing, image.origin,
                   image.direction)
    other.array[3, 2:5, 2:5] = 100
    write_volume(other, tmp_path / "other.mha")
    write_volume(image.with_array(np.zeros(image.shape, np.uint8)), tmp_path / "empty.mha")
    run, x1, sparse = files / "run", files / "x1.mha", files / "sparse.mha"
    err = bad_run(cli, files, tmp_path, run, x1, tmp_path / "other.mha")
    assert "other.mha" in err and "shape" in err
    err = bad_run(cli, files, tmp_path, run, x1, tmp_path / "empty.mha")
    assert "no annotated slice" in err
    err = bad_run(cli, files, tmp_path, files / "ts" / "model.ts", x1, sparse)
    assert "TorchScript" in err
    err = bad_run(cli, files, tmp_path, files / "ts", x1, sparse)
    assert "TorchScript" in err and "best.pt" in err
    err = bad_run(cli, files, tmp_path, run, files, sparse)
    assert "one image file" in err
    with pytest.raises(InputFileError, match="TorchScript"):
        load_trainable(files / "ts" / "model.ts")
