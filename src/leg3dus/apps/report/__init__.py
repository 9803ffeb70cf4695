"""Figures and the HTML report: slices with label overlays, cross-section profiles, box
plots, surface meshes (marching cubes) with pictures, and one self-contained HTML file."""

from .build import ReportResult, make_report
from .figures import (
    box_figure,
    default_slices,
    legend_handles,
    overlay_rgba,
    png_bytes,
    profile_figure,
    slice_figure,
)
from .mesh import Mesh, label_meshes, render_meshes, surface_mesh, write_mesh
from .subjects import export_meshes

__all__ = ["Mesh", "ReportResult", "box_figure", "default_slices", "export_meshes",
           "label_meshes", "legend_handles", "make_report", "overlay_rgba", "png_bytes",
           "profile_figure", "render_meshes", "slice_figure", "surface_mesh", "write_mesh"]
