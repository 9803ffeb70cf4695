"""Freehand compounding of tracked sweeps into volumes: voxel-based and pixel-based
nearest/linear insertion, mean/maximum/latest compounding, clip rectangle and fan mask,
Gaussian and PLUS hole filling; numba CPU kernels and a torch path."""

from .fill import fill_gaussian, fill_labels
from .holes_plus import fill_holes_plus
from .reconstruct import Options, Reconstruction, check_memory, plan_grid, reconstruct

__all__ = ["Options", "Reconstruction", "check_memory", "fill_gaussian", "fill_holes_plus",
           "fill_labels", "plan_grid", "reconstruct"]
