"""Freehand compounding of tracked sweeps into volumes: voxel-based and pixel-based
nearest/linear insertion, mean/maximum/latest compounding, clip rectangle and fan mask,
Gaussian and PLUS hole filling; numba CPU kernels and a torch path; every subject of a
dataset tree in one batch."""

from .batch import SweepSubject, compound_subject, find_sweep_subjects
from .fill import fill_gaussian, fill_labels
from .holes_plus import fill_holes_plus
from .reconstruct import Options, Reconstruction, check_memory, plan_grid, reconstruct

__all__ = ["Options", "Reconstruction", "SweepSubject", "check_memory", "compound_subject",
           "fill_gaussian", "fill_holes_plus", "fill_labels", "find_sweep_subjects",
           "plan_grid", "reconstruct"]
