"""Opening a subject in a napari viewer with the annotation widget docked
(what ``leg3dus annotate`` does)."""

from __future__ import annotations

import os

from napari.utils.notifications import show_warning

from .reader import open_subject
from .widget import AnnotateWidget


def add_layers(viewer, layer_data) -> list:
    """Add layer data tuples ``(data, kwargs, kind)`` to ``viewer``; the layers.

    Labels layers start painting SOL (100), not napari's default label 1."""
    from ...core.labels import MUSCLES

    layers = [getattr(viewer, f"add_{kind}")(data, **kw) for data, kw, kind in layer_data]
    for layer, (_, _, kind) in zip(layers, layer_data, strict=True):
        if kind == "labels":
            layer.selected_label = MUSCLES[0].value
    return layers


def open_annotation(viewer, path: str | os.PathLike, labels=None, sparse=None,
                    label_values: str | None = None, opened=None) -> AnnotateWidget:
    """Open the subject at ``path`` in ``viewer`` and dock the annotation widget.

    Reading fails before any layer is added (a
    :class:`~leg3dus.core.errors.Leg3dusError` naming the file); values outside the scheme
    are shown as warnings. ``opened`` is what :func:`.reader.open_subject` returned for
    these arguments, when already read.
    """
    layer_data, warnings = opened or open_subject(path, labels, sparse, label_values)
    add_layers(viewer, layer_data)
    for w in warnings:
        show_warning(w)
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget, name="leg3dus annotate", area="right")
    widget.axis_box.currentIndexChanged.emit(widget.axis)
    sparse_layer = widget.layer("sparse")
    if sparse_layer is not None:
        viewer.layers.selection.active = sparse_layer
    return widget
