"""Surface-element areas of the 256 configurations of a 2x2x2 voxel neighbourhood.

A cell's corners are the centres of eight voxels; its neighbour code has bit
``128 >> (4a + 2b + c)`` set when voxel (a, b, c) of the cell is inside (DeepMind's
``ENCODE_NEIGHBOURHOOD_3D_KERNEL`` order). The surface in a cell is the classic
marching-cubes surface (Lorensen and Cline 1987) of the 0/1 corner values at level 0.5,
whose vertices are edge midpoints, as scikit-image's ``marching_cubes(method="lorensen")``
triangulates it. A code with more than four inside voxels takes the surface of its
complement, so that a cell and its complement have the same area; this convention is
DeepMind surface-distance's, whose per-code areas these equal for every spacing.

Each triangle is kept as its area vector (half the cross product of two edges) at unit
spacing; on a grid of spacing (s0, s1, s2) the vector (a0, a1, a2) becomes
(a0 s1 s2, a1 s0 s2, a2 s0 s1), and the triangle's area is that vector's norm.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def _cell_values(code: int) -> np.ndarray:
    bits = [(code >> (7 - k)) & 1 for k in range(8)]
    return np.array(bits, np.float64).reshape(2, 2, 2)


@lru_cache(maxsize=1)
def _area_vectors() -> tuple[np.ndarray, np.ndarray]:
    """Triangle area vectors (n, 3) of every code at unit spacing, and their codes."""
    from skimage.measure import marching_cubes

    vectors, codes = [], []
    for code in range(1, 255):
        own = 255 - code if bin(code).count("1") > 4 else code
        verts, faces, _, _ = marching_cubes(_cell_values(own), 0.5, method="lorensen")
        tri = verts[faces]
        vectors.append(0.5 * np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
        codes.append(np.full(len(faces), code))
    return np.concatenate(vectors), np.concatenate(codes)


def surfel_area_table(spacing) -> np.ndarray:
    """Area (mm2) of the surface inside a 2x2x2 cell for each of the 256 codes.

    ``spacing`` is (z, y, x) in mm.

    >>> float(surfel_area_table((1.0, 1.0, 1.0))[15])
    1.0
    """
    s0, s1, s2 = (float(s) for s in spacing)
    vectors, codes = _area_vectors()
    areas = np.linalg.norm(vectors * np.array([s1 * s2, s0 * s2, s0 * s1]), axis=1)
    return np.bincount(codes, weights=areas, minlength=256)
