"""Screenshots of `leg3dus annotate` on a phantom subject, for docs/annotate.md.

Run from the repository root, in a display (on a machine without one, under Xvfb):

    xvfb-run -a python docs/figures/make_annotate_screenshots.py

It writes a phantom subject to a temporary folder, opens it as `leg3dus annotate`
does, draws masks on every 20th slice through the layer API (the phantom's labels with
a drawn-by-hand jitter), propagates with sdf from the widget, accepts, and saves
docs/figures/annotate_*.png along the way.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent


def _settle(viewer, seconds: float = 0.3) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def _shot(viewer, name: str) -> None:
    _settle(viewer)
    path = OUT / f"annotate_{name}.png"
    viewer.screenshot(str(path), canvas_only=False, flash=False)
    print(f"wrote {path}")


def main() -> int:
    import os

    import napari

    from leg3dus import write_volume
    from leg3dus.apps.napari.viewer import open_annotation
    from leg3dus.phantom import cohort_params, make_subject
    from leg3dus.phantom.annotations import sparse_annotations

    os.chdir(tempfile.mkdtemp())  # the subject is shown as P001, not a temporary path
    folder = Path("P001")
    image, dense = make_subject(cohort_params(1, seed=3)[0], spacing=0.8)
    write_volume(image, folder / "x1.mha")

    viewer = napari.Viewer(title="leg3dus annotate P001")
    viewer.window.resize(1400, 860)
    widget = open_annotation(viewer, folder)
    widget.guide_mm.setValue(16.0)  # every 20 slices at 0.8 mm
    sparse, idx = sparse_annotations(dense.array, every=20, spacing=dense.spacing,
                                     jitter_mm=0.4, seed=0)
    middle = int(idx[len(idx) // 2])
    widget.go_to(middle)
    viewer.reset_view()
    _shot(viewer, "open")

    layer = widget.sparse_layer()
    for k in idx:
        for value in (100, 150, 200):
            hit = np.nonzero(sparse[k] == value)
            layer.data_setitem((np.full(hit[0].size, k),) + hit, value)
        widget.mark(int(k))
    widget.paint(150)
    widget.go_to(middle)
    _shot(viewer, "draw")

    widget.method_box.setCurrentText("sdf")
    widget.propagate()
    start = time.perf_counter()
    while widget.worker is not None and time.perf_counter() - start < 120:
        _settle(viewer, 0.1)
    if widget.layer("propagated") is None:
        print("propagation failed:", widget.messages[-1:], file=sys.stderr)
        return 1
    layer.visible = False
    widget.go_to(middle + 10)  # a slice between two drawn ones
    _shot(viewer, "propagated")

    widget.accept()
    widget.layer("propagated").visible = False
    viewer.dims.order = (2, 0, 1)  # a sagittal plane: knee to ankle runs across
    viewer.dims.set_point(2, float(widget.layer("labels").data_to_world(
        (0, 0, dense.shape[2] // 2))[2]))
    viewer.reset_view()
    _shot(viewer, "sagittal")
    viewer.dims.order = (0, 1, 2)
    widget.save()
    widget.go_to(middle)
    viewer.reset_view()
    viewer.layers.selection.active = widget.layer("labels")
    _shot(viewer, "saved")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
