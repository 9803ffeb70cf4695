"""The widget's propagation with a trained run folder (``predict --propagate``)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                             or os.environ.get("WAYLAND_DISPLAY")):
    # napari draws with OpenGL: it needs a display (pytest-xvfb starts Xvfb when installed)
    pytest.skip("no display: install Xvfb (pytest-xvfb starts it)", allow_module_level=True)
pytest.importorskip("torch")
pytest.importorskip("monai")

from conftest import make_pair  # noqa: E402

from leg3dus import write_volume  # noqa: E402
from leg3dus.apps.napari.viewer import open_annotation  # noqa: E402

ANNOTATED = [0, 3, 10, 17]

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    import torch

    from leg3dus.segment.infer import LoadedModel
    from leg3dus.segment.models import build_model, check_spec, default_spec

    root = tmp_path_factory.mktemp("annotate_run")
    image, truth = make_pair(seed=1, direction=np.eye(3))
    rng = np.random.default_rng(1)
    array = (40 + truth.array // 2 + rng.integers(0, 40, truth.shape)).astype(np.uint8)
    write_volume(image.with_array(array), root / "S01" / "x1.mha")
    torch.manual_seed(0)
    spec = check_spec({**default_spec("2d"), "channels": [4, 8], "patch": [1, 8, 8],
                       "context": 1})
    model = LoadedModel(build_model(spec).eval(), spec, "test")
    (root / "run").mkdir()
    torch.save({"spec": model.spec, "model": model.net.state_dict()}, root / "run" / "best.pt")
    return root, truth


def _open(make_napari_viewer, files):
    root, truth = files
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, root / "S01")
    layer = widget.sparse_layer()
    for k in ANNOTATED:
        layer.data[k] = truth.array[k]
        widget.mark(k)
    widget.method_box.setCurrentText("run")
    widget.run_edit.setText(str(root / "run"))
    return widget, layer


def test_run_equals_predict_adapted(make_napari_viewer, qtbot, files):
    from leg3dus import read_volume
    from leg3dus.segment.adapt import load_trainable, predict_adapted

    root, _ = files
    widget, layer = _open(make_napari_viewer, files)
    widget.propagate(options={"steps": 4, "seed": 0})
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    result = widget.layer("propagated")
    assert result is not None, widget.messages
    image = read_volume(root / "S01" / "x1.mha")
    expected = predict_adapted(image, load_trainable(root / "run"),
                               image.with_array(np.array(layer.data)), annotated=ANNOTATED,
                               steps=4, seed=0)
    assert np.array_equal(result.data, expected.array)
    assert result.metadata["leg3dus"]["run"] == str(root / "run")


def test_run_cancel_stops_the_work(make_napari_viewer, qtbot, files):
    widget, _ = _open(make_napari_viewer, files)
    widget.propagate(options={"steps": 100_000, "seed": 0})
    qtbot.waitUntil(lambda: getattr(widget, "_thread", None) is not None, timeout=10_000)
    widget.cancel()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=60_000)
    # the tuning itself stopped (100000 steps would take far longer than this wait)
    qtbot.waitUntil(lambda: not widget._thread.is_alive(), timeout=20_000)
    assert widget.layer("propagated") is None
    assert widget.messages[-1] == "propagation cancelled"
