"""``leg3dus annotate``: bad input fails before any window opens; a subject opens with
its layers and the widget."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import write_volume


@pytest.fixture
def subject(tmp_path):
    image, labels = make_pair(direction=np.eye(3))
    write_volume(image, tmp_path / "S01" / "x1.mha")
    write_volume(labels, tmp_path / "S01" / "masksX1.mha")
    return tmp_path / "S01"


def test_missing_subject_exits_2(cli, tmp_path):
    result = cli("annotate", tmp_path / "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "nope" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_labels_on_another_grid_exit_2(cli, subject, tmp_path):
    image, labels = make_pair(shape=(24, 20, 15), direction=np.eye(3))
    write_volume(labels, tmp_path / "other.mha")
    result = cli("annotate", subject, "--labels", tmp_path / "other.mha")
    assert result.exit_code == 2 and "expected the grid of" in result.stderr
    assert sorted(p.name for p in subject.iterdir()) == ["masksX1.mha", "x1.mha"]


def test_opens_subject_with_widget(cli, subject, monkeypatch):
    napari = pytest.importorskip("napari")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        pytest.skip("no display: install Xvfb (pytest-xvfb starts it)")
    seen = {}

    def run():  # instead of napari's event loop: look, then close
        viewer = napari.current_viewer()
        seen["layers"] = [la.name for la in viewer.layers]
        seen["widgets"] = list(viewer.window.dock_widgets)
        viewer.close()

    monkeypatch.setattr(napari, "run", run)
    result = cli("annotate", subject, "--sparse", subject / "masksX1.mha")
    assert result.exit_code == 0, result.stderr
    assert seen["layers"] == ["x1", "labels", "sparse"]
    assert seen["widgets"] == ["leg3dus annotate"]


def test_without_napari_says_what_to_install(cli, subject, monkeypatch):
    monkeypatch.setitem(sys.modules, "napari", None)
    monkeypatch.delitem(sys.modules, "leg3dus.apps.napari.viewer", raising=False)
    result = cli("annotate", subject)
    assert result.exit_code == 2
    assert "install leg3dus[gui]" in result.stderr
