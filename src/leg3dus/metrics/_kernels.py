"""The numba kernels of the metrics, one concept per module:

- :mod:`._kernels_joint`: joint value counts with bounding boxes in one pass over two
  label volumes (:func:`joint_stats`);
- :mod:`._kernels_points`: the surface points (surfels or border voxels) of several
  structures at once inside their bounding box (:func:`surfel_points`,
  :func:`border_points`) and the image contrast across a surfel's cell
  (:func:`cell_contrast`);
- :mod:`._kernels_nearest`: exact nearest-point distances between point sets
  (:func:`nearest_distances`, :func:`ring_search`), choosing between a cell search and
  the distance transform of :mod:`._kernels_edt` (:func:`edt_distances`) for sets far
  apart;
- :mod:`._kernels_percentile`: an area-weighted percentile (:func:`weighted_percentile`).

Structures are given as ``spread``, a table of 256 words: bit ``4 s`` of ``spread[v]``
is set when voxel value ``v`` belongs to structure ``s`` (one label value, or every
muscle value for the union). Volumes are uint8 in (z, y, x) order; nothing the size of a
volume is allocated.
"""

from __future__ import annotations

from ._kernels_edt import edt_distances
from ._kernels_joint import joint_stats
from ._kernels_nearest import nearest_distances, ring_search
from ._kernels_percentile import weighted_percentile
from ._kernels_points import border_points, cell_contrast, surfel_points

__all__ = ["border_points", "cell_contrast", "edt_distances", "joint_stats",
           "nearest_distances", "ring_search", "surfel_points", "weighted_percentile"]
