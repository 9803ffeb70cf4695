"""Prediction clean-up (small islands, outside the scan), image types, progress, threads
and warnings of predict."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from leg3dus.core.arrays import bounding_box

pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import make_pair  # noqa: E402

from leg3dus import Volume, read_volume, write_volume  # noqa: E402
from leg3dus.core.errors import InputFileError, OptionError  # noqa: E402
from leg3dus.segment import infer  # noqa: E402
from leg3dus.segment.data import as_uint8  # noqa: E402
from leg3dus.segment.infer import LoadedModel, predict  # noqa: E402
from leg3dus.segment.models import build_model, check_spec, default_spec  # noqa: E402
from leg3dus.segment.postprocess import (  # noqa: E402
    mask_outside_scan,
    parse_per_muscle,
    remove_small_islands,
    scanned_region,
)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def tiny_model(seed=0):
    import torch

    torch.manual_seed(seed)
    spec = check_spec({**default_spec("2d"), "channels": [4, 8], "patch": [1, 8, 8],
                       "context": 1})
    return LoadedModel(build_model(spec).eval(), spec, "test")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    model = tiny_model()
    path = tmp_path_factory.mktemp("ck") / "tiny.pt"
    torch.save({"spec": model.spec, "model": model.net.state_dict()}, path)
    return path


def test_small_islands_are_removed_per_muscle():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[1:4, 1:4, 1:4] = 100          # SOL: 27 voxels
    labels[4, 4, 4] = 100                # touches the block by a corner: same component
    labels[8, 8, 8:10] = 100             # SOL island: 2 voxels
    labels[6:8, 1:3, 1:3] = 150          # GM: 8 voxels
    labels[9, 0, 0] = 150                # GM island: 1 voxel
    spacing = (1.0, 2.0, 0.5)            # 1 mm3 voxels
    out = remove_small_islands(labels, spacing, {"SOL": 0.01})   # 10 mm3, SOL only
    expected = labels.copy()
    expected[8, 8, 8:10] = 0
    np.testing.assert_array_equal(out, expected)
    assert labels[8, 8, 8] == 100                                # the input is unchanged
    out = remove_small_islands(labels, spacing, 0.028)           # 28 mm3, every muscle
    assert (out == 100).sum() == 28 and not (out == 150).any()   # 27 + 1 is not smaller
    out = remove_small_islands(labels, spacing, 0.029)
    assert not out.any()
    np.testing.assert_array_equal(remove_small_islands(labels, spacing, 0), labels)


def test_scanned_region_fills_speckle_but_not_the_unscanned_border():
    image = np.full((2, 6, 6), 80, np.uint8)
    image[:, 4:, 4:] = 0                 # unscanned corner (touches the grid's border)
    image[:, 2, 2] = 0                   # a dark voxel inside the scan
    image[1] = 0                         # an unscanned slice
    region = scanned_region(image)
    expected = np.zeros((2, 6, 6), bool)
    expected[0] = True
    expected[0, 4:, 4:] = False
    np.testing.assert_array_equal(region, expected)
    labels = np.full(image.shape, 200, np.uint8)
    np.testing.assert_array_equal(mask_outside_scan(labels, image),
                                  np.where(expected, 200, 0))
    with pytest.raises(OptionError, match="same grid"):
        mask_outside_scan(labels[:1], image)


def test_per_muscle_sizes_parse_and_refuse_bad_text():
    assert parse_per_muscle("0.5", "--x") == {"SOL": 0.5, "GM": 0.5, "GL": 0.5}
    assert parse_per_muscle("gm=2, 200=1", "--x") == {"SOL": 0.0, "GM": 2.0, "GL": 1.0}
    for bad, match in (("SOL=abc", "NAME=NUMBER"), ("TA=1", "unknown muscle"),
                       ("-1", "0 or more"), ("", "NAME=NUMBER")):
        with pytest.raises(OptionError, match=match):
            parse_per_muscle(bad, "--min-island-cm3")


def test_predict_masks_outside_the_scan_then_removes_islands(monkeypatch):
    image = np.full((6, 12, 12), 90, np.uint8)
    image[:, 9:, 9:] = 0                  # unscanned corner
    image[:, 2, 2] = 0                    # dark speckle inside the scan
    classes = np.zeros(image.shape, np.uint8)
    classes[:, 1:5, 1:5] = 1              # SOL, over the speckle
    classes[0, 7, 7] = 1                  # SOL island, 1 voxel
    classes[:, 9:12, 6:12] = 2            # GM, half of it outside the scan
    box = bounding_box(image)
    monkeypatch.setattr(infer, "sliding_window", lambda crop, model, **kw: classes[box].copy())
    vol = Volume(image, (1.0, 1.0, 1.0))
    model = tiny_model()
    plain = predict(vol, model).array
    np.testing.assert_array_equal(plain, np.asarray([0, 100, 150, 200], np.uint8)[classes])
    out = predict(vol, model, mask_outside_scan=True, min_island_cm3=0.005).array
    expected = np.zeros(image.shape, np.uint8)
    expected[:, 1:5, 1:5] = 100
    expected[:, 9:12, 6:9] = 150          # 54 voxels inside the scan stay
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(OptionError, match="spacing"):
        predict(image, model, min_island_cm3=1.0)


def test_float_image_in_range_is_accepted_and_out_of_range_names_the_file(checkpoint, cli,
                                                                         tmp_path):
    image, _ = make_pair(seed=5)
    write_volume(image, tmp_path / "u8.mha")
    write_volume(image.with_array(image.array.astype(np.float32)), tmp_path / "f32.mha")
    assert read_volume(tmp_path / "f32.mha").array.dtype == np.float32
    for name in ("u8", "f32"):
        result = cli("predict", checkpoint, tmp_path / f"{name}.mha", "-o",
                     tmp_path / f"{name}-labels.mha")
        assert result.exit_code == 0, result.stderr
    np.testing.assert_array_equal(read_volume(tmp_path / "u8-labels.mha").array,
                                  read_volume(tmp_path / "f32-labels.mha").array)
    assert as_uint8(np.array([[[0.4, 254.6]]], np.float32)).tolist() == [[[0, 255]]]
    bad = image.with_array(image.array.astype(np.float32) + 0.5)   # up to 255.5
    write_volume(bad, tmp_path / "bad.mha")
    result = cli("predict", checkpoint, tmp_path / "bad.mha", "-o", tmp_path / "o.mha")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert str(tmp_path / "bad.mha") in result.stderr and "255.5" in result.stderr
    assert not (tmp_path / "o.mha").exists()
    with pytest.raises(InputFileError, match="scan.mha.*float64 with values nan"):
        as_uint8(np.full((1, 1, 2), np.nan), "scan.mha")


def test_cli_cleanup_and_threads_options(checkpoint, cli, tmp_path):
    import torch

    image, _ = make_pair(seed=6)
    array = image.array.copy()
    array[:, :, -3:] = 0                  # an unscanned band along the grid's border
    write_volume(image.with_array(array), tmp_path / "x1.mha")
    out = tmp_path / "labels.mha"
    before = torch.get_num_threads()
    try:
        result = cli("predict", checkpoint, tmp_path / "x1.mha", "-o", out,
                     "--mask-outside-scan", "--min-island-cm3", "SOL=0.001,GM=0.001",
                     "--threads", "2")
        assert result.exit_code == 0, result.stderr
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    labels = read_volume(out).array
    assert not labels[:, :, -3:].any()
    expected = remove_small_islands(
        mask_outside_scan(predict(image.with_array(array), tiny_model()).array, array),
        image.spacing, {"SOL": 0.001, "GM": 0.001})
    np.testing.assert_array_equal(labels, expected)
    result = cli("predict", checkpoint, tmp_path / "x1.mha", "-o", tmp_path / "o2.mha",
                 "--min-island-cm3", "SOL=big")
    assert result.exit_code == 2 and "--min-island-cm3" in result.stderr
    assert not (tmp_path / "o2.mha").exists()


def test_progress_reaches_the_total():
    calls = []
    image = np.full((5, 20, 20), 70, np.uint8)
    predict(image, tiny_model(), slab=2, progress=lambda *a: calls.append(a))
    assert {c[0] for c in calls} == {"predicting"}
    done = [c[1] for c in calls]
    assert done == sorted(done) and calls[-1][1] == calls[-1][2] == 5 * 9  # 3 x 3 per slice


def test_predict_and_adapt_emit_no_deprecation_warnings(tmp_path):
    from leg3dus.segment.adapt import predict_adapted
    from leg3dus.segment.export import export_torchscript
    from leg3dus.segment.infer import load_model

    image, labels = make_pair(seed=7)
    model = tiny_model()
    export_torchscript(model.net, model.spec, tmp_path / "model.ts")
    sparse = np.zeros_like(labels.array)
    sparse[::4] = labels.array[::4]
    steps = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_model(tmp_path / "model.ts")
        predict(image, loaded, tta=True, lcc=True, mask_outside_scan=True, min_island_cm3=0.001)
        predict_adapted(image, tiny_model(), labels.with_array(sparse),
                        annotated=range(0, 24, 4), steps=3,
                        progress=lambda d, i, n: steps.append((d, i, n)))
    found = [f"{w.category.__name__} {w.filename}:{w.lineno}: {w.message}" for w in caught
             if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert not found, found
    assert [s for s in steps if s[0] == "adapting"] == [("adapting", i, 3) for i in range(3)]
