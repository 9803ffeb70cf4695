"""Surface meshes of muscles by marching cubes (scikit-image), written as STL, PLY or OBJ,
and rendered to a picture with matplotlib.

Vertices are kept in (z, y, x) order like everything else in leg3dus, in mm. Files hold
(x, y, z) as mesh tools expect: the image's physical (ITK, LPS) coordinates when the mesh
was made with ``physical=True``. Faces are oriented so that their normals point out of
the muscle in the written files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ...core import labels as lab
from ...core.arrays import bounding_box
from ...core.atomic import atomic_path
from ...core.errors import OptionError
from ...core.volume import Geometry

MESH_FORMATS = (".stl", ".ply", ".obj")


@dataclass
class Mesh:
    """A triangle mesh: vertices (n, 3) float32 in (z, y, x) mm, faces (m, 3) int32.

    Faces are wound so that, with the vertices read in (x, y, z) order (as files hold
    them), their normals (right-hand rule) point out of the surface.
    """

    vertices: np.ndarray
    faces: np.ndarray
    name: str = ""
    color: tuple[int, int, int] = (200, 200, 200)

    def _triangles(self) -> np.ndarray:
        return self.vertices.astype(np.float64)[self.faces]

    @property
    def area_mm2(self) -> float:
        """Total surface area (mm2)."""
        t = self._triangles()
        return float(0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]),
                                          axis=1).sum())

    @property
    def volume_cm3(self) -> float:
        """Enclosed volume (cm3) by the divergence theorem; exact for a closed mesh."""
        t = self._triangles()
        signed = np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0
        # Read in (z, y, x) order the components are a reflection of (x, y, z), so the
        # outward winding in (x, y, z) gives a negative triple product here.
        return float(-signed / 1000.0)

    def is_closed(self) -> bool:
        """Whether every edge is shared by exactly two faces (a watertight surface)."""
        if not len(self.faces):
            return False
        edges = np.sort(self.faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
        _, counts = np.unique(edges, axis=0, return_counts=True)
        return bool((counts == 2).all())


def surface_mesh(mask: np.ndarray, spacing=(1.0, 1.0, 1.0), *, origin=(0.0, 0.0, 0.0),
                 direction=None, physical: bool = True, smooth_sigma_vox: float = 0.0,
                 step_vox: int = 1, name: str = "", color=(200, 200, 200)) -> Mesh:
    """The boundary surface of a binary mask (z, y, x) by marching cubes at level 0.5.

    Parameters
    ----------
    mask
        Boolean (or 0/1) array; only its bounding box is processed, padded by one voxel
        so that the surface is closed where the mask touches the grid's edge.
    spacing, origin, direction
        Geometry, (z, y, x) order, mm.
    physical
        Place vertices in physical space (origin and direction applied); otherwise in
        grid mm (index times spacing), convenient for pictures.
    smooth_sigma_vox
        Gaussian smoothing of the mask (voxels) before extraction: a smoother surface,
        slightly inside convex corners; 0 keeps the voxel staircase.
    step_vox
        Marching-cubes step in voxels: 2 or more gives a coarser, lighter mesh.

    Examples
    --------
    >>> m = np.zeros((8, 8, 8), bool); m[2:6, 2:6, 2:6] = True
    >>> mesh = surface_mesh(m, (1.0, 1.0, 1.0))
    >>> mesh.is_closed(), round(mesh.volume_cm3 * 1000)
    (True, 59)
    """
    from skimage.measure import marching_cubes

    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise OptionError(f"expected a 3D mask (z, y, x), found shape {mask.shape}")
    if step_vox < 1:
        raise OptionError(f"step_vox must be at least 1, found {step_vox}")
    box = bounding_box(mask)
    if box is None:
        return Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32), name, color)
    pad = 1 + int(np.ceil(3 * smooth_sigma_vox))
    lo = np.array([b.start for b in box])
    hi = np.array([b.stop for b in box])
    crop = np.zeros(tuple(hi - lo + 2 * pad), np.float32)
    crop[tuple(slice(pad, pad + n) for n in hi - lo)] = mask[
        tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    if smooth_sigma_vox > 0:
        from scipy.ndimage import gaussian_filter

        crop = gaussian_filter(crop, smooth_sigma_vox, output=np.float32)
    verts, faces, _, _ = marching_cubes(crop, 0.5, step_size=step_vox, allow_degenerate=False)
    index = verts.astype(np.float64) + (lo - pad)
    geometry = Geometry(mask.shape, tuple(spacing), tuple(origin),
                        np.eye(3) if direction is None else np.asarray(direction))
    points = (geometry.index_to_physical(index) if physical
              else index * np.asarray(geometry.spacing))
    out = Mesh(points.astype(np.float32), faces.astype(np.int32), name, tuple(color))
    if out.volume_cm3 < 0:
        out.faces = out.faces[:, [0, 2, 1]].copy()
    return out


def label_meshes(labels: np.ndarray, spacing=(1.0, 1.0, 1.0), **kwargs) -> list[Mesh]:
    """One :func:`surface_mesh` per muscle present in ``labels`` (values 100/150/200),
    named and coloured from :data:`leg3dus.core.labels.MUSCLES`."""
    meshes = []
    for m in lab.MUSCLES:
        mask = labels == m.value
        if mask.any():
            meshes.append(surface_mesh(mask, spacing, name=m.name, color=m.color, **kwargs))
    return meshes


def _xyz(mesh: Mesh) -> tuple[np.ndarray, np.ndarray]:
    # Faces are kept outward in (x, y, z) (see Mesh.volume_cm3), so only the order of
    # the vertex components changes.
    return mesh.vertices[:, ::-1].astype(np.float32), mesh.faces


def write_mesh(mesh: Mesh, path: str | os.PathLike) -> Path:
    """Write ``mesh`` as binary STL, binary PLY (with vertex colours) or OBJ, by the name's
    ending; atomically."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in MESH_FORMATS:
        raise OptionError(f"{path}: unsupported mesh format; expected a name ending in "
                          f"{', '.join(MESH_FORMATS)}")
    verts, faces = _xyz(mesh)
    with atomic_path(path) as tmp:
        if ext == ".stl":
            _write_stl(tmp, verts, faces, mesh.name)
        elif ext == ".ply":
            _write_ply(tmp, verts, faces, mesh.color)
        else:
            _write_obj(tmp, verts, faces, mesh.name)
    return path


def _write_stl(path: Path, verts, faces, name: str) -> None:
    tri = verts[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, lengths, out=np.zeros_like(normals), where=lengths > 0)
    record = np.dtype([("normal", "<f4", 3), ("vertices", "<f4", (3, 3)), ("attr", "<u2")])
    data = np.zeros(len(faces), record)
    data["normal"], data["vertices"] = normals, tri
    header = f"leg3dus {name} mesh, mm, x y z".encode()[:80].ljust(80, b" ")
    with open(path, "wb") as f:
        f.write(header)
        f.write(np.uint32(len(faces)).tobytes())
        f.write(data.tobytes())


def _write_ply(path: Path, verts, faces, color) -> None:
    vdt = np.dtype([("xyz", "<f4", 3), ("rgb", "u1", 3)])
    v = np.zeros(len(verts), vdt)
    v["xyz"], v["rgb"] = verts, color
    fdt = np.dtype([("n", "u1"), ("idx", "<i4", 3)])
    f_ = np.zeros(len(faces), fdt)
    f_["n"], f_["idx"] = 3, faces
    header = ("ply\nformat binary_little_endian 1.0\ncomment leg3dus mesh, mm\n"
              f"element vertex {len(verts)}\nproperty float x\nproperty float y\n"
              "property float z\nproperty uchar red\nproperty uchar green\n"
              f"property uchar blue\nelement face {len(faces)}\n"
              "property list uchar int vertex_indices\nend_header\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(v.tobytes())
        f.write(f_.tobytes())


def _write_obj(path: Path, verts, faces, name: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(f"# leg3dus mesh, mm, x y z\no {name or 'mesh'}\n")
        np.savetxt(f, verts, fmt="v %.4f %.4f %.4f")
        np.savetxt(f, faces + 1, fmt="f %d %d %d")


def render_meshes(meshes: list[Mesh], title: str = "", elev_deg: float = 15.0,
                  azim_deg: float = -60.0, max_faces: int = 60000) -> Figure:
    """A shaded 3D picture of meshes (matplotlib ``Poly3DCollection``), knee at the top,
    seen from elevation ``elev_deg`` and azimuth ``azim_deg`` (degrees).

    Meshes are drawn in their own coordinates (use ``physical=False`` meshes for a leg
    standing upright); above ``max_faces`` faces in all, faces are subsampled evenly
    for the picture only.
    """
    from matplotlib.colors import LightSource
    from matplotlib.patches import Patch
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    fig = Figure(figsize=(6.5, 7.5), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    total = sum(len(m.faces) for m in meshes) or 1
    keep = max(1, int(np.ceil(total / max_faces)))
    light = LightSource(azdeg=315, altdeg=35)
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    triangles, colours = [], []
    for mesh in meshes:
        if not len(mesh.faces):
            continue
        xyz = mesh.vertices[:, ::-1].astype(np.float64)
        triangles.append(xyz[mesh.faces[::keep]])
        colours.append(np.tile(np.asarray(mesh.color, float) / 255.0, (len(triangles[-1]), 1)))
        lo, hi = np.minimum(lo, xyz.min(0)), np.maximum(hi, xyz.max(0))
    if triangles:
        # One collection, so that faces of different muscles are depth-sorted together.
        ax.add_collection3d(Poly3DCollection(np.concatenate(triangles),
                                             facecolors=np.concatenate(colours), linewidths=0,
                                             shade=True, lightsource=light))
    if np.isfinite(lo).all():
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_zlim(hi[2], lo[2])  # knee (small z) at the top
        ax.set_box_aspect(np.maximum(hi - lo, 1e-6))
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(3))
    ax.view_init(elev=elev_deg, azim=azim_deg)
    ax.set_xlabel("x (across) mm")
    ax.set_ylabel("y (depth) mm", labelpad=8)
    ax.set_zlabel("z mm, knee at the top", labelpad=10)
    handles = [Patch(facecolor=np.asarray(m.color) / 255.0, label=m.name) for m in meshes]
    if handles:
        ax.legend(handles=handles, loc="upper right")
    if title:
        ax.set_title(title)
    return fig
