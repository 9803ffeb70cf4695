"""Morphological contour interpolation with ITK (Zukić et al., Insight Journal 2016).

A thin wrapper over ``itk.MorphologicalContourInterpolator`` from the
itk-morphologicalcontourinterpolation package (the ``interp`` extra). ITK runs in a
separate process (:mod:`._itk_morph_worker`): its libraries and SimpleITK's cannot share
one process without corrupting the heap. The labels are cropped to the bounding box of
the annotations first; ITK is told which slices are annotated, so a listed slice without
a muscle ends that muscle. ITK writes one label per voxel; annotated slices are returned
as drawn.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..core.annotated import check_axis
from ..core.arrays import bbox_2d
from ..core.errors import Leg3dusError, OptionError
from .common import check_sparse, moved_spacing

_WORKER = Path(__file__).with_name("_itk_morph_worker.py")

class MorphError(Leg3dusError):
    """ITK's morphological contour interpolation failed (its worker process stopped)."""


#: Seconds ITK's filter itself took in the last call (process start and I/O excluded).
last_filter_seconds: float | None = None


def _check_itk() -> None:
    try:
        found = importlib.util.find_spec("itk") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise OptionError("method 'morph' needs ITK's morphological contour interpolation: "
                          "pip install 'leg3dus[interp]'")


def _run_itk(crop: np.ndarray, params: dict) -> np.ndarray:
    global last_filter_seconds
    with tempfile.TemporaryDirectory(prefix="leg3dus-morph-") as tmp:
        src, dst, cfg = Path(tmp, "in.npy"), Path(tmp, "out.npy"), Path(tmp, "params.json")
        np.save(src, crop)
        cfg.write_text(json.dumps(params))
        done = subprocess.run([sys.executable, str(_WORKER), str(src), str(dst), str(cfg)],
                              capture_output=True, text=True)
        if done.returncode != 0 or not dst.exists():
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
            if any("No module named 'itk'" in ln for ln in lines):
                _check_itk()
            why = lines[-1].strip() if lines else f"exit code {done.returncode}"
            raise MorphError(f"ITK's morphological contour interpolation failed: {why}")
        last_filter_seconds = json.loads(done.stdout.strip().splitlines()[-1])["filter_seconds"]
        return np.load(dst)


def morph_interpolate(
    labels: np.ndarray,
    spacing=(1.0, 1.0, 1.0),
    *,
    axis: int = 0,
    annotated: Iterable[int] | None = None,
    use_distance_transform: bool = True,
    ball: bool = False,
    heuristic_alignment: bool = True,
) -> np.ndarray:
    """Dense labels from sparse annotated slices by ITK's morphological interpolation.

    Parameters
    ----------
    labels
        (z, y, x) label volume; only the annotated slices hold labels.
    spacing
        Voxel size in mm, (z, y, x) (given to ITK with the crop).
    axis
        Axis the annotated slices are taken along (0: along the leg).
    annotated
        Indices of the annotated slices; None takes every slice holding a label.
    use_distance_transform, ball, heuristic_alignment
        ITK's ``UseDistanceTransform``, ``UseBallStructuringElement`` and
        ``HeuristicAlignment`` (defaults are ITK's).

    Returns
    -------
    numpy.ndarray
        Labels of the input's dtype and shape with its label values.

    Raises
    ------
    MorphError
        ITK's worker process failed (the message is its last error line).

    Examples
    --------
    >>> a = np.zeros((3, 9, 9), np.uint8)
    >>> a[0, 1:8, 1:8] = 100; a[2, 3:6, 3:6] = 100
    >>> int((morph_interpolate(a)[1] == 100).sum()) > 9
    True
    """
    axis = check_axis(axis)
    idx, values = check_sparse(labels, annotated, axis)
    _check_itk()
    lab = np.moveaxis(labels, axis, 0)
    sp = moved_spacing(spacing, axis)
    out = np.zeros_like(labels)
    view = np.moveaxis(out, axis, 0)
    view[idx] = lab[idx]
    plane = bbox_2d(lab[idx] != 0, margin_vox=1)
    if plane is None:
        return out
    z0, z1 = int(idx[0]), int(idx[-1]) + 1
    crop = np.ascontiguousarray(lab[z0:z1][(slice(None),) + plane], dtype=np.uint8)
    # ITK indexes (x, y, z): the moved axis 0 of ``crop`` is ITK's axis 2.
    params = {"spacing_xyz": [float(s) for s in sp[::-1]],
              "use_distance_transform": bool(use_distance_transform), "ball": bool(ball),
              "heuristic_alignment": bool(heuristic_alignment),
              "values": [int(v) for v in values], "slices": [int(k) - z0 for k in idx]}
    result = _run_itk(crop, params)
    view[z0:z1][(slice(None),) + plane] = result.astype(labels.dtype, copy=False)
    view[idx] = lab[idx]
    return out
