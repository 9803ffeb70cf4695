"""The dock widget: the annotation loop (draw, propagate, accept, correct, save).

Layers are found by their role in ``layer.metadata["leg3dus"]``: the image, "sparse"
(the drawn slices, editable), "propagated" (the last result, its own layer) and
"labels" (the dense labels, editable). Bad input shows a notification and changes
nothing; :attr:`AnnotateWidget.messages` keeps what was shown.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtWidgets import QWidget

from ...core import labels as lab
from ...core.errors import Leg3dusError
from ...core.label_values import LabelConvention
from ...core.labels import MUSCLES
from ._controls import build_controls
from .layers import META, geometry_from_meta, labels_layer
from .propagation import CHOICES, RUN, Cancelled, propagate_sparse
from .session import Session, save_session


def _role(layer) -> str | None:
    return (layer.metadata.get(META) or {}).get("role")


class AnnotateWidget(QWidget):
    """Annotation loop for the subject open in ``napari_viewer``."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.messages: list[str] = []
        self._cancel = False
        self._build()
        self.restore()

    # -- interface ----------------------------------------------------------------------
    def _build(self) -> None:
        build_controls(self)

    def _say(self, message: str, error: bool = False) -> None:
        self.messages.append(message)
        self.status.setText(message)
        (show_error if error else show_info)(message)

    # -- layers -------------------------------------------------------------------------
    def layer(self, role: str):
        """The first layer with leg3dus role ``role`` ("image", "sparse", ...), or None."""
        for layer in self.viewer.layers:
            if _role(layer) == role:
                return layer
        return None

    def _grid_layer(self):
        found = self.layer("image") or self.layer("labels") or self.layer("sparse")
        if found is None:
            raise Leg3dusError("open a subject first: no leg3dus image or labels layer")
        return found

    def geometry(self):
        """The grid of the subject (from its image layer's metadata)."""
        return geometry_from_meta(self._grid_layer().metadata[META]["geometry"])

    def _new_labels(self, role: str, array=None):
        from ...core.volume import Volume

        g = self.geometry()
        data = np.zeros(g.shape, np.uint8) if array is None else array
        source = self._grid_layer().metadata[META]
        image = source.get("path") if source.get("role") == "image" else source.get("image")
        extra = {"axis": self.axis, "annotated": []} if role == "sparse" else {}
        data, kw, _ = labels_layer(Volume.from_geometry(data, g), None, role=role,
                                   image=image, **extra)
        if role == "labels" and source.get("role") == "image":
            kw["metadata"][META]["folder"] = source.get("folder")
        layer = self.viewer.add_labels(data, **kw)
        layer.selected_label = MUSCLES[0].value
        return layer

    def sparse_layer(self):
        """The annotations layer; created (empty) when missing."""
        return self.layer("sparse") or self._new_labels("sparse")

    @property
    def axis(self) -> int:
        return int(self.axis_box.currentIndex())

    @property
    def annotated(self) -> list[int]:
        """The slices marked annotated, sorted."""
        layer = self.layer("sparse")
        return sorted(layer.metadata[META].get("annotated", [])) if layer else []

    def _set_annotated(self, indices) -> None:
        meta = self.sparse_layer().metadata[META]
        meta["annotated"] = sorted({int(i) for i in indices})
        meta["axis"] = self.axis
        self._refresh_list()

    def _refresh_list(self) -> None:
        self.slice_list.clear()
        layer = self.layer("sparse")
        name = "zyx"[self.axis]
        for i in self.annotated:
            found = []
            if layer is not None:
                plane = np.ascontiguousarray(np.take(layer.data, i, axis=self.axis))
                found = [lab.NAMES.get(v, str(v)) for v in lab.value_counts(plane) if v]
            self.slice_list.addItem(f"{name} {i}: {', '.join(found) or 'no muscle'}")

    def restore(self) -> None:
        """Take axis, guide spacing, method and run from a reopened session."""
        image = self.layer("image")
        session = (image.metadata[META].get("session") if image else None) or {}
        sparse = self.layer("sparse")
        axis = session.get("axis", sparse.metadata[META].get("axis", 0) if sparse else 0)
        self.axis_box.setCurrentIndex(int(axis))
        self.guide_mm.setValue(float(session.get("guide_mm", self.guide_mm.value())))
        if session.get("method") in CHOICES:
            self.method_box.setCurrentText(session["method"])
        self.run_edit.setText(session.get("run") or "")
        self._refresh_list()

    def _axis_changed(self, axis: int) -> None:
        order = [axis] + [a for a in range(3) if a != axis]
        self.viewer.dims.order = tuple(order)
        layer = self.layer("sparse")
        if layer is not None and layer.metadata[META].get("annotated"):
            self._say("the annotated slices were marked along another axis; unmark them "
                      "before changing the axis", error=True)
            self.axis_box.blockSignals(True)
            self.axis_box.setCurrentIndex(int(layer.metadata[META].get("axis", 0)))
            self.axis_box.blockSignals(False)
            self.viewer.dims.order = tuple([self.axis] + [a for a in range(3) if a != self.axis])
            return
        self._refresh_list()

    # -- navigation ---------------------------------------------------------------------
    def current_slice(self) -> int:
        """Index of the slice shown, along the annotation axis."""
        layer = self._grid_layer()
        point = layer.world_to_data(self.viewer.dims.point[-3:])
        return int(np.clip(round(float(point[self.axis])), 0, self.geometry().shape[self.axis] - 1))

    def go_to(self, index: int) -> None:
        """Show slice ``index`` along the annotation axis."""
        layer = self._grid_layer()
        data = np.zeros(3)
        data[self.axis] = index
        world = layer.data_to_world(data)
        self.viewer.dims.set_point(self.axis, float(world[self.axis]))

    def guide_slices(self) -> np.ndarray:
        """The slices to annotate: every guide spacing from the first annotated slice."""
        g = self.geometry()
        step = max(1, int(round(self.guide_mm.value() / g.spacing[self.axis])))
        start = self.annotated[0] % step if self.annotated else 0
        return np.arange(start, g.shape[self.axis], step)

    def jump(self, direction: int) -> int:
        """Go to the next (+1) or previous (-1) guide slice; its index."""
        here, guides = self.current_slice(), self.guide_slices()
        ahead = guides[guides > here] if direction > 0 else guides[guides < here][::-1]
        target = int(ahead[0]) if ahead.size else here
        self.go_to(target)
        return target

    # -- drawing ------------------------------------------------------------------------
    def paint(self, value: int) -> None:
        """Select the annotations layer and paint with label ``value``."""
        layer = self.sparse_layer()
        self.viewer.layers.selection.active = layer
        layer.selected_label = int(value)
        layer.mode = "paint"

    def mark(self, index: int | None = None) -> None:
        """Mark slice ``index`` (default: the one shown) annotated, even if empty."""
        index = self.current_slice() if index is None else int(index)
        self._set_annotated([*self.annotated, index])

    def unmark(self, index: int | None = None) -> None:
        """Remove slice ``index`` (default: the one shown) from the annotated slices."""
        index = self.current_slice() if index is None else int(index)
        self._set_annotated([i for i in self.annotated if i != index])

    # -- propagation --------------------------------------------------------------------
    def propagate(self, options: dict | None = None):
        """Start propagating the annotations in a background worker; the worker."""
        if self.worker is not None:
            self._say("a propagation is already running", error=True)
            return None
        try:
            layer = self.sparse_layer()
            geometry = self.geometry()
            image = self.layer("image")
            method = self.method_box.currentText()
            kwargs = dict(method=method, axis=self.axis, annotated=self.annotated or None,
                          options=options or {}, run=self.run_edit.text().strip() or None,
                          image=image.data if image is not None and method == RUN else None)
            if method == RUN:
                from ...propagate.common import check_sparse

                check_sparse(layer.data, kwargs["annotated"], self.axis)
        except Leg3dusError as exc:
            self._say(str(exc), error=True)
            return None
        self._cancel = False
        self._last = {"method": method, "options": dict(options or {}), "run": kwargs["run"]}
        # No copy of the annotations: the layer is locked while the worker reads it.
        sparse = np.asarray(layer.data, np.uint8)
        self._locked = layer
        layer.editable = False

        def work():
            # The computation runs in its own thread so that this generator can pass its
            # progress on and answer a cancel at once (a dropped result is never shown).
            events, box = queue.Queue(), {}

            def target():
                try:
                    box["result"] = propagate_sparse(
                        sparse, geometry, progress=lambda *e: events.put(e),
                        cancelled=lambda: self._cancel, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - passed on to the worker
                    box["error"] = exc

            thread = self._thread = threading.Thread(target=target, daemon=True)
            thread.start()
            while thread.is_alive():
                thread.join(0.05)
                while not events.empty():
                    yield events.get()
                yield None
            if "error" in box:
                raise box["error"]
            return box["result"]

        self.progress.setRange(0, 0)
        self.propagate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"propagating with {method}...")
        worker = create_worker(work, _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._on_progress)
        worker.returned.connect(self._on_result)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        worker.start()
        return worker

    def cancel(self) -> None:
        """Ask the running propagation to stop; its result is dropped."""
        self._cancel = True
        if self.worker is not None:
            self.worker.quit()

    def _on_progress(self, event) -> None:
        if event is None:
            return
        stage, done, total = event
        self.status.setText(stage)
        if total:
            self.progress.setRange(0, int(total))
            self.progress.setValue(int(done))

    def _on_result(self, result) -> None:
        if self._cancel:
            return
        layer = self.layer("propagated")
        if layer is None:
            layer = self._new_labels("propagated", result)
        else:
            layer.data = result
        layer.metadata[META].update(self._last)
        layer.editable = False
        self._say(f"propagated with {self._last['method']}: layer 'propagated'; "
                  "accept it into the labels to correct it")

    def _on_error(self, exc) -> None:
        if isinstance(exc, Cancelled):
            return
        self._say(str(exc) if isinstance(exc, Leg3dusError) else f"propagation failed: {exc}",
                  error=True)

    def _on_finished(self) -> None:
        if self._cancel:
            self.messages.append("propagation cancelled")
            self.status.setText("propagation cancelled")
        self.worker = None
        if getattr(self, "_locked", None) is not None:
            self._locked.editable = True
            self._locked = None
        self.progress.setRange(0, 1)
        self.progress.setValue(0 if self._cancel else 1)
        self.propagate_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def accept(self) -> None:
        """Copy the propagated labels into the editable labels layer."""
        result = self.layer("propagated")
        if result is None:
            self._say("nothing to accept: propagate first", error=True)
            return
        labels = self.layer("labels")
        if labels is None:
            labels = self._new_labels("labels", np.array(result.data, np.uint8))
        else:
            labels.data[...] = result.data
            labels.refresh()
        labels.metadata[META]["propagation"] = dict(result.metadata[META].get("method") and {
            k: result.metadata[META].get(k) for k in ("method", "options", "run")} or {})
        self._say("accepted into 'labels': correct it with napari's paint and fill tools")

    # -- saving -------------------------------------------------------------------------
    def folder(self) -> Path:
        """The subject's folder (where the session is saved)."""
        meta = self._grid_layer().metadata[META]
        if meta.get("folder"):
            return Path(meta["folder"])
        path = meta.get("path") or meta.get("image")
        if not path:
            raise Leg3dusError("the subject has no folder: open it from a file first")
        return Path(path).parent

    def save(self) -> list[Path]:
        """Save the dense labels, the annotations and the sidecar in the subject's folder."""
        from ...core.volume import Volume

        try:
            g = self.geometry()
            folder = self.folder()
            labels, sparse = self.layer("labels"), self.layer("sparse")
            prop = (labels.metadata[META].get("propagation") if labels else None) or {}
            session = Session(axis=self.axis, annotated=self.annotated,
                              guide_mm=float(self.guide_mm.value()),
                              method=prop.get("method") or self.method_box.currentText(),
                              options=prop.get("options") or {},
                              run=prop.get("run") or (self.run_edit.text().strip() or None))
            image = self.layer("image")
            inputs = [image.metadata[META]["path"]] if image is not None else []
            if image is not None:
                session.image = Path(image.metadata[META]["path"]).name
            convention = LabelConvention.from_json(labels.metadata[META]["convention"]) \
                if labels is not None and labels.metadata[META].get("convention") else None
            from ...core.label_values import SCHEME

            for layer in (labels, sparse):
                src = layer.metadata[META].get("path") if layer is not None else None
                if src and Path(src).name not in (session.labels, session.sparse):
                    inputs.append(src)
            written = save_session(
                folder, session,
                labels=Volume.from_geometry(np.asarray(labels.data), g) if labels else None,
                sparse=Volume.from_geometry(np.asarray(sparse.data), g) if sparse else None,
                convention=convention or SCHEME, inputs=inputs)
        except (Leg3dusError, OSError) as exc:
            self._say(str(exc), error=True)
            return []
        if sparse is not None:
            sparse.metadata[META]["annotated"] = session.annotated
        self._say(f"saved {', '.join(p.name for p in written)} in {folder}")
        return written
