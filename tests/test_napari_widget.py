"""The annotation widget in a napari viewer: geometry, painting, propagation from the
widget against leg3dus.propagate, accept, save, reopen, bad input."""

from __future__ import annotations

import json
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

from leg3dus import read_volume, write_volume  # noqa: E402
from leg3dus.apps.napari.viewer import open_annotation  # noqa: E402
from leg3dus.core.volume import Volume  # noqa: E402
from leg3dus.propagate import parse_annotated, propagate  # noqa: E402

SPACING = (1.0, 0.5, 0.5)
ORIGIN = (5.0, -3.0, 2.0)
DRAWN = (4, 12, 20)


@pytest.fixture(scope="module")
def truth():
    """Dense labels: three muscles whose size changes along z."""
    z, y, x = np.mgrid[:26, :24, :24]
    r = 4 + z / 5
    arr = np.zeros((26, 24, 24), np.uint8)
    arr[(y - 8) ** 2 + (x - 8) ** 2 < r ** 2] = 100
    arr[(y - 16) ** 2 + (x - 15) ** 2 < (r - 1) ** 2] = 150
    arr[(y - 16) ** 2 + (x - 6) ** 2 < 9] = 200
    arr[:3] = 0
    arr[23:] = 0
    return arr


@pytest.fixture
def subject(tmp_path, truth):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, truth.shape, dtype=np.uint8)
    folder = tmp_path / "S01"
    write_volume(Volume(image, SPACING, ORIGIN), folder / "x1.mha")
    return folder


def _draw(widget, truth, slices=DRAWN):
    """Paint the true masks on ``slices`` through the layer API and mark them."""
    layer = widget.sparse_layer()
    for k in slices:
        for m in (100, 150, 200):
            layer.data_setitem(np.nonzero(_on(truth, k, m)), m)
        widget.mark(k)
    return layer


def _on(truth, k, value):
    mask = np.zeros_like(truth, bool)
    mask[k] = truth[k] == value
    return mask


def _wait(qtbot, widget):
    qtbot.waitUntil(lambda: widget.worker is None, timeout=30_000)


def test_layers_show_millimetres(make_napari_viewer, subject):
    viewer = make_napari_viewer()
    layers = viewer.open(str(subject), plugin="leg3dus")
    assert [la.name for la in layers] == ["x1"]
    assert np.allclose(layers[0].scale, SPACING) and np.allclose(layers[0].translate, ORIGIN)
    assert np.allclose(layers[0].data_to_world((4, 5, 6)), (9.0, -0.5, 5.0))


def test_navigation_marks_and_list(make_napari_viewer, subject, truth):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    widget.guide_mm.setValue(5.0)  # every 5 slices at 1 mm
    widget.go_to(7)
    assert widget.current_slice() == 7
    assert widget.jump(+1) == 10 and widget.current_slice() == 10
    assert widget.jump(-1) == 5
    widget.mark()  # an empty slice counts when marked: no muscle there
    _draw(widget, truth, (12,))
    assert widget.annotated == [5, 12]
    texts = [widget.slice_list.item(i).text() for i in range(widget.slice_list.count())]
    assert texts == ["z 5: no muscle", "z 12: SOL, GM, GL"]
    widget.unmark(5)
    assert widget.annotated == [12]
    widget.paint(150)
    assert viewer.layers.selection.active is widget.layer("sparse")
    assert widget.layer("sparse").selected_label == 150


@pytest.mark.parametrize("method", ["sdf", "zoi"])
def test_propagation_from_widget_equals_library(make_napari_viewer, qtbot, subject, truth,
                                                method):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    sparse = _draw(widget, truth)
    drawn = np.array(sparse.data)
    widget.method_box.setCurrentText(method)
    assert widget.propagate() is not None
    assert not sparse.editable  # locked while the worker reads it (no copy)
    _wait(qtbot, widget)
    assert sparse.editable
    result = widget.layer("propagated")
    expected = propagate(drawn, method, spacing=SPACING, annotated=list(DRAWN))
    assert np.array_equal(result.data, expected)
    assert np.allclose(result.scale, SPACING)
    assert np.array_equal(sparse.data, drawn)  # the drawn slices are not touched
    assert widget.layer("labels") is None  # nothing accepted yet
    widget.accept()
    assert np.array_equal(widget.layer("labels").data, expected)


def test_save_reopen_restores_everything(make_napari_viewer, qtbot, subject, truth):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    sparse = _draw(widget, truth)
    widget.go_to(16)
    widget.mark()  # an empty annotated slice is kept in the list
    sparse.data[16] = 0
    widget.guide_mm.setValue(4.0)
    widget.propagate()
    _wait(qtbot, widget)
    widget.accept()
    labels = widget.layer("labels")
    labels.data[10, 0, 0] = 200  # a correction
    written = widget.save()
    assert [p.name for p in written] == ["masksX1_annotate.mha", "sparseX1.mha",
                                         "sparseX1_slices.txt", "annotate.json"]
    side = json.loads((subject / "annotate.json").read_text())
    assert side["annotated"] == [4, 12, 16, 20] and side["axis"] == 0
    assert side["method"] == "sdf" and side["guide_mm"] == 4.0
    assert side["leg3dus_version"]
    assert parse_annotated(subject / "sparseX1_slices.txt") == [4, 12, 16, 20]
    assert read_volume(subject / "masksX1_annotate.mha").array[10, 0, 0] == 200

    viewer2 = make_napari_viewer()
    widget2 = open_annotation(viewer2, subject)
    assert widget2.annotated == [4, 12, 16, 20]
    assert widget2.guide_mm.value() == 4.0 and widget2.method_box.currentText() == "sdf"
    assert np.array_equal(widget2.layer("labels").data, labels.data)
    assert np.array_equal(widget2.layer("sparse").data, sparse.data)
    assert np.allclose(widget2.layer("labels").translate, ORIGIN)
    widget2.layer("labels").data[11, 0, 0] = 150  # a second session saves over the first
    assert len(widget2.save()) == 4
    assert read_volume(subject / "masksX1_annotate.mha").array[11, 0, 0] == 150


def test_labels_on_unmarked_slice_not_saved(make_napari_viewer, subject, truth):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    _draw(widget, truth)
    widget.unmark(12)
    assert widget.save() == []
    assert "12" in widget.messages[-1] and "not listed as annotated" in widget.messages[-1]
    assert sorted(p.name for p in subject.iterdir()) == ["x1.mha"]


def test_read_only_folder_writes_nothing(make_napari_viewer, subject, truth, monkeypatch):
    import os

    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    _draw(widget, truth)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(subject)
                        else real(p, mode, **k))
    assert widget.save() == []
    assert "read-only" in widget.messages[-1] and str(subject) in widget.messages[-1]
    assert sorted(p.name for p in subject.iterdir()) == ["x1.mha"]


def test_missing_run_folder_is_reported(make_napari_viewer, qtbot, subject, truth, tmp_path):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    _draw(widget, truth)
    widget.method_box.setCurrentText("run")
    widget.run_edit.setText(str(tmp_path / "no-run"))
    worker = widget.propagate()
    if worker is not None:
        _wait(qtbot, widget)
    assert "no-run: expected a trained run folder" in widget.messages[-1]
    assert widget.layer("propagated") is None


def test_too_few_slices_is_reported(make_napari_viewer, qtbot, subject, truth):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    _draw(widget, truth, (12,))
    widget.propagate()
    _wait(qtbot, widget)
    assert "only one annotated slice" in widget.messages[-1]
    assert widget.layer("propagated") is None


def test_cancel_drops_the_result(make_napari_viewer, qtbot, subject, truth):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    _draw(widget, truth)
    widget.propagate()
    widget.cancel()
    _wait(qtbot, widget)
    assert widget.layer("propagated") is None
    assert widget.messages[-1] == "propagation cancelled"
    assert widget.propagate_button.isEnabled()


def test_screenshot_shows_the_labels(make_napari_viewer, qtbot, subject, truth):
    viewer = make_napari_viewer(show=True)
    widget = open_annotation(viewer, subject)
    _draw(widget, truth)
    widget.go_to(12)
    qtbot.wait(50)
    shot = viewer.screenshot(canvas_only=True, flash=False)
    rgb = shot[..., :3].reshape(-1, 3).astype(int)
    sol = np.array([230, 159, 0])
    # SOL's orange, blended over the gray image, is seen on the canvas
    assert np.any((rgb[:, 0] - rgb[:, 2] > 120) & (np.abs(rgb - sol).sum(1) < 200))


def test_axis_is_locked_while_slices_are_marked(make_napari_viewer, subject, truth):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    widget.axis_box.setCurrentIndex(2)
    assert widget.axis == 2 and viewer.dims.order[0] == 2
    widget.go_to(5)
    assert widget.current_slice() == 5
    widget.axis_box.setCurrentIndex(0)
    _draw(widget, truth, (12,))
    widget.axis_box.setCurrentIndex(1)
    assert widget.axis == 0 and "another axis" in widget.messages[-1]


def test_saved_files_feed_leg3dus_propagate(make_napari_viewer, qtbot, subject, truth, cli,
                                            tmp_path):
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject)
    _draw(widget, truth)
    widget.go_to(22)
    widget.mark()  # empty: the muscles end before slice 22
    widget.method_box.setCurrentText("zoi")
    widget.propagate()
    _wait(qtbot, widget)
    widget.accept()
    widget.save()
    out = tmp_path / "dense.mha"
    result = cli("propagate", subject / "sparseX1.mha", "-o", out, "--method", "zoi",
                 "--annotated", subject / "sparseX1_slices.txt")
    assert result.exit_code == 0, result.stderr
    assert np.array_equal(read_volume(out).array, widget.layer("propagated").data)


def test_labels_layer_saved_from_the_menu(make_napari_viewer, subject, truth, tmp_path):
    write_volume(Volume(truth, SPACING, ORIGIN), subject / "masksX1.mha")
    viewer = make_napari_viewer()
    open_annotation(viewer, subject)
    viewer.layers.selection.active = viewer.layers["labels"]
    out = tmp_path / "saved.nrrd"
    viewer.layers.save(str(out), selected=True, plugin="leg3dus")
    back = read_volume(out)
    assert np.array_equal(back.array, truth)
    assert np.allclose(back.spacing, SPACING) and np.allclose(back.origin, ORIGIN)


def test_save_keeps_the_labels_convention_and_refuses_stray(make_napari_viewer, subject,
                                                            truth):
    classes = np.select([truth == v for v in (100, 150, 200)], [1, 2, 3], 0).astype(np.uint8)
    write_volume(Volume(classes, SPACING, ORIGIN), subject / "m123.mha")
    viewer = make_napari_viewer()
    widget = open_annotation(viewer, subject, labels=subject / "m123.mha",
                             label_values="1,2,3")
    labels = widget.layer("labels")
    assert np.array_equal(labels.data, truth)  # shown in the scheme
    labels.data[0, 0, 0] = 7
    assert widget.save() == []
    assert "7 (1 voxel)" in widget.messages[-1]
    assert not (subject / "masksX1_annotate.mha").exists()
    labels.data[0, 0, 0] = 0
    widget.save()
    assert np.array_equal(read_volume(subject / "masksX1_annotate.mha").array, classes)
