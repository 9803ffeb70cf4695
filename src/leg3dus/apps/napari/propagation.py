"""The widget's propagation step, without Qt: sparse layer data -> dense labels.

With "zoi", "sdf" or "morph" it is :func:`leg3dus.propagate.propagate` on the sparse
labels and the listed annotated slices (an empty listed slice says no muscle is there).
With a trained run folder it is ``predict --propagate``:
:func:`leg3dus.segment.adapt.predict_adapted` tunes the network on the annotated
slices of the image, then segments the whole volume (needs the ``seg`` extra).

``progress(stage, done, total)`` is called as work advances (``total`` 0: unknown) and
``cancelled()`` is polled: when it turns true the work stops at the next step (between
training steps and inference slabs for a run; at the end for zoi/sdf/morph, whose
single call cannot be interrupted) and :class:`Cancelled` is raised, so no result
comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...core.errors import InputFileError, OptionError
from ...core.volume import Geometry, Volume
from ...propagate import METHODS, check_sparse, propagate

#: The choice that means "a trained run folder".
RUN = "run"
CHOICES = (*METHODS, RUN)


class Cancelled(Exception):
    """The user cancelled the propagation; nothing is returned."""


def propagate_sparse(sparse: np.ndarray, geometry: Geometry, *, method: str = "sdf",
                     axis: int = 0, annotated=None, options: dict | None = None,
                     run: str | None = None, image: np.ndarray | None = None,
                     progress: Callable[[str, int, int], None] | None = None,
                     cancelled: Callable[[], bool] | None = None) -> np.ndarray:
    """Dense labels (uint8, 0/100/150/200) from the sparse labels ``sparse`` (z, y, x).

    ``geometry`` is the grid (its spacing in mm is used); ``method`` one of
    :data:`CHOICES`; ``options`` go to the method; ``run`` and ``image`` are needed for
    ``method="run"``. Raises a :class:`~leg3dus.core.errors.Leg3dusError` for bad input and
    :class:`Cancelled` when ``cancelled()`` turned true.

    Examples
    --------
    >>> from leg3dus.core.volume import Geometry
    >>> a = np.zeros((3, 9, 9), np.uint8)
    >>> a[0, 1:8, 1:8] = 100; a[2, 3:6, 3:6] = 100
    >>> out = propagate_sparse(a, Geometry(a.shape, (1.0, 1.0, 1.0)), annotated=[0, 2])
    >>> int((out[1] == 100).sum())
    25
    """
    progress = progress or (lambda stage, done, total: None)
    cancelled = cancelled or (lambda: False)
    options = dict(options or {})
    if method not in CHOICES:
        raise OptionError(f"unknown propagation method {method!r}; expected one of "
                          f"{', '.join(CHOICES)}")
    annotated = None if annotated is None else [int(i) for i in annotated]
    if method == RUN:
        return _run(sparse, geometry, axis, annotated, options, run, image, progress,
                    cancelled)
    idx, _ = check_sparse(sparse, annotated, axis)
    progress(f"{method} from {idx.size} slices", 0, 0)
    out = propagate(sparse, method, spacing=geometry.spacing, axis=axis, annotated=idx,
                    **options)
    if cancelled():
        raise Cancelled("propagation cancelled")
    progress(f"{method} done", 1, 1)
    return out


def _run(sparse, geometry, axis, annotated, options, run, image, progress, cancelled):
    if axis != 0:
        raise OptionError(f"a trained run tunes on transverse slices (axis 0); found axis "
                          f"{axis}: choose axis z or a zoi, sdf or morph propagation")
    if not run:
        raise OptionError("choose a trained run folder (holding best.pt or last.pt)")
    if not Path(run).exists():
        raise InputFileError(f"{run}: expected a trained run folder (best.pt or last.pt), "
                             "found nothing there")
    if image is None:
        raise OptionError("a trained run needs the subject's image layer")
    from ...segment.adapt import load_trainable, predict_adapted

    def step(stage: str, done: int, total: int) -> None:
        if cancelled():
            raise Cancelled("propagation cancelled")
        progress(stage, done, total)

    progress("loading the run", 0, 0)
    model = load_trainable(run)
    vol = Volume.from_geometry(np.asarray(image), geometry)
    out = predict_adapted(vol, model, vol.with_array(sparse), annotated=annotated,
                          source="annotation layer", image_source="image layer",
                          progress=step, **options)
    if cancelled():
        raise Cancelled("propagation cancelled")
    return out.array if isinstance(out, Volume) else out
