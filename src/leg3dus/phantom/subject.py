"""One synthetic subject as volumes: the B-mode image and its labels on a grid.

The grid covers the subject's box (:attr:`Anatomy.extent_mm`) with voxel centres at
``(i + 0.5) * spacing`` mm, so the volume's origin is half a voxel and its direction the
identity. Volumes are generated in chunks along the leg, so memory stays a few times
the size of the uint8 outputs whatever the grid.
"""

from __future__ import annotations

import numpy as np

from ..core.volume import Volume
from . import tissue as T
from .anatomy import Anatomy, _spacing3
from .bmode import Probe, _Plan
from .params import SubjectParams

CHUNK = 96  #: rows along the leg generated at once


def speckle_seed(params: SubjectParams) -> int:
    """The speckle seed of a subject (derived from its shape seed and index)."""
    return int(params.shape_seed) * 1000003 + int(params.index)


def _volume(array: np.ndarray, spacing) -> Volume:
    return Volume(array, spacing, tuple(0.5 * s for s in spacing))


def make_labels(params: SubjectParams, spacing=1.0, anatomy: Anatomy | None = None) -> Volume:
    """The label volume (0/100/150/200, uint8) of a subject at ``spacing`` mm.

    >>> from leg3dus.phantom import cohort_params
    >>> lab = make_labels(cohort_params(1)[0], spacing=2.0)
    >>> sorted(np.unique(lab.array).tolist())
    [0, 100, 150, 200]
    """
    anat = anatomy or Anatomy(params)
    sp = _spacing3(spacing)
    nz, ny, nx = anat.shape_at(sp)
    lut = T.label_lut()
    out = np.empty((nz, ny, nx), np.uint8)
    for z0 in range(0, nz, CHUNK):
        z1 = min(z0 + CHUNK, nz)
        out[z0:z1] = lut[anat.tissue_grid(sp, z0, z1)]
    return _volume(out, sp)


def make_subject(params: SubjectParams, spacing=1.0, probe: Probe | None = None,
                 anatomy: Anatomy | None = None) -> tuple[Volume, Volume]:
    """The B-mode volume (uint8) and label volume of a subject, on the same grid.

    Parameters
    ----------
    params
        The subject (:func:`~leg3dus.phantom.params.cohort_params`).
    spacing
        Isotropic voxel size in mm (0.277 gives the dataset's full size), or (z, y, x).
    probe
        Imaging settings (default :class:`Probe`: 7.5 MHz, 90 mm deep).

    Examples
    --------
    >>> from leg3dus.phantom import cohort_params
    >>> image, labels = make_subject(cohort_params(1)[0], spacing=2.0)
    >>> image.shape == labels.shape, image.dtype
    (True, dtype('uint8'))
    """
    anat = anatomy or Anatomy(params)
    sp = _spacing3(spacing)
    nz, ny, nx = anat.shape_at(sp)
    plan = _Plan(probe or Probe(), sp, speckle_seed(params), volumetric=True)
    lut = T.label_lut()
    image = np.empty((nz, ny, nx), np.uint8)
    labels = np.empty((nz, ny, nx), np.uint8)
    for z0 in range(0, nz, CHUNK):
        z1 = min(z0 + CHUNK, nz)
        a, b = max(z0 - plan.halo, 0), min(z1 + plan.halo, nz)
        tissue = anat.tissue_grid(sp, a, b)
        labels[z0:z1] = lut[tissue[z0 - a:z1 - a]]
        image[z0:z1] = plan.render_chunk(tissue, a, z0 - a, z1 - a, nz)
        del tissue
    return _volume(image, sp), _volume(labels, sp)
