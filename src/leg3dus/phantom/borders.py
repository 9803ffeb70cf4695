"""The true distinct and completed borders of a phantom subject, as border label volumes
of the published border analysis (Duque et al., IPCAI 2024).

The phantom knows by construction what lies across every muscle border. A border voxel
of a muscle (a voxel of the muscle with a face neighbour of another label, or at the
edge of the grid) is *distinct* when one of those neighbours is fascia or aponeurosis:
a connective-tissue sheet that images as a bright echo (+15 to +16 dB over muscle,
:data:`leg3dus.phantom.tissue.ECHO_DB`). Every other border voxel is *completed*: the
border meets another muscle, tendon or the deep compartment without a sheet resolved on
the grid, or the muscle ends (its tapering ends along the leg, the edge of the grid).
Both volumes hold the muscle's label value (100/150/200) on its border voxels and 0
elsewhere, on the grid of the labels.
"""

from __future__ import annotations

import numpy as np

from ..core.volume import Volume
from . import tissue as T
from .anatomy import Anatomy, _spacing3
from .subject import CHUNK, _volume

#: Tissues across a border that make it distinct: echogenic connective-tissue sheets.
SHEETS = (T.FASCIA, T.APONEUROSIS)
#: File names in the subject folder (the names of the published example data).
DISTINCT_NAME = "distinct_border_label.mha"
COMPLETED_NAME = "completed_border_label.mha"


def _classify_chunk(tissue: np.ndarray, lut: np.ndarray, sheet: np.ndarray,
                    first: bool, last: bool) -> tuple[np.ndarray, np.ndarray]:
    """Distinct and completed border voxels of the inner rows of a tissue chunk that
    carries one halo row on each side (absent at the ends of the grid)."""
    labels = lut[tissue]
    base = T.base(tissue)
    # Pad: outside the grid is "no label, no sheet" (a border there is completed).
    lab = np.pad(labels, 1, constant_values=255)
    shv = np.pad(sheet[base], 1, constant_values=False)
    if not first:
        lab, shv = lab[1:], shv[1:]
    if not last:
        lab, shv = lab[:-1], shv[:-1]
    core = (slice(1, -1),) * 3
    centre = lab[core]
    any_diff = np.zeros(centre.shape, bool)
    any_sheet = np.zeros(centre.shape, bool)
    for axis in range(3):
        for step in (-1, 1):
            sl = [slice(1, -1)] * 3
            sl[axis] = slice(1 + step, lab.shape[axis] - 1 + step)
            nb_lab, nb_sheet = lab[tuple(sl)], shv[tuple(sl)]
            diff = nb_lab != centre
            any_diff |= diff
            any_sheet |= diff & nb_sheet
    muscle = (centre != 0) & (centre != 255)
    distinct = np.where(muscle & any_sheet, centre, 0).astype(np.uint8)
    completed = np.where(muscle & any_diff & ~any_sheet, centre, 0).astype(np.uint8)
    return distinct, completed


def make_borders(params, spacing=1.0, anatomy: Anatomy | None = None
                 ) -> tuple[Volume, Volume]:
    """The true distinct and completed border volumes of a subject at ``spacing`` mm,
    on the grid of :func:`~leg3dus.phantom.make_labels`.

    Examples
    --------
    >>> from leg3dus.phantom import cohort_params, make_labels
    >>> p = cohort_params(1)[0]
    >>> distinct, completed = make_borders(p, spacing=2.0)
    >>> labels = make_labels(p, spacing=2.0).array
    >>> bool(np.all((distinct.array == 0) | (distinct.array == labels)))
    True
    >>> bool(np.any(distinct.array & completed.array))   # disjoint
    False
    """
    anat = anatomy or Anatomy(params)
    sp = _spacing3(spacing)
    nz, ny, nx = anat.shape_at(sp)
    lut = T.label_lut()
    sheet = np.zeros(256, bool)
    sheet[list(SHEETS)] = True
    distinct = np.zeros((nz, ny, nx), np.uint8)
    completed = np.zeros((nz, ny, nx), np.uint8)
    for z0 in range(0, nz, CHUNK):
        z1 = min(z0 + CHUNK, nz)
        a, b = max(z0 - 1, 0), min(z1 + 1, nz)
        tissue = anat.tissue_grid(sp, a, b)
        d, c = _classify_chunk(tissue, lut, sheet, first=a == z0, last=b == z1)
        distinct[z0:z1], completed[z0:z1] = d, c
    return _volume(distinct, sp), _volume(completed, sp)


def write_subject_borders(job) -> dict:
    """Write the true border volumes of one cohort subject (a
    :class:`~leg3dus.phantom.cohort.SubjectJob`) into its folder as
    :data:`DISTINCT_NAME` and :data:`COMPLETED_NAME`; returns a summary row."""
    from ..core.layout import subject_folder
    from ..core.volume_io import write_volume

    folder = subject_folder(job.out, job.split, job.params.id)
    distinct, completed = make_borders(job.params, job.spacing)
    write_volume(distinct, folder / DISTINCT_NAME, compression_level=job.compression_level)
    write_volume(completed, folder / COMPLETED_NAME, compression_level=job.compression_level)
    n_d = int(np.count_nonzero(distinct.array))
    n_c = int(np.count_nonzero(completed.array))
    return {"id": job.params.id, "split": job.split,
            "distinct_share": n_d / max(n_d + n_c, 1)}
