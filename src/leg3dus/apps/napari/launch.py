"""``leg3dus annotate`` as one call: read the subject (bad input fails before Qt starts),
open napari with the annotation widget, run its event loop."""

from __future__ import annotations

import os

from ...core.errors import Leg3dusError
from .reader import open_subject


def annotate(path: str | os.PathLike, labels=None, sparse=None,
             label_values: str | None = None) -> None:
    """Open the subject at ``path`` (with ``labels`` and ``sparse`` when given) in a napari
    window with the annotation widget and return when the window is closed.

    Raises a :class:`~leg3dus.core.errors.Leg3dusError` naming the file for bad input,
    and one saying what to install when napari or Qt is missing.

    >>> annotate("data/train/S01")  # doctest: +SKIP
    """
    opened = open_subject(path, labels, sparse, label_values)
    try:
        import napari

        from .viewer import open_annotation
    except ImportError as exc:
        raise Leg3dusError(f"leg3dus annotate needs napari and a Qt binding: install "
                           f"leg3dus[gui] (found: {exc})") from None
    viewer = napari.Viewer(title=f"leg3dus annotate {path}")
    open_annotation(viewer, path, opened=opened)
    napari.run()
