"""Freehand compounding of tracked sweeps into volumes: voxel-based and pixel-based
nearest/linear insertion, mean/maximum/latest compounding, clip rectangle and fan mask,
Gaussian and PLUS hole filling; numba CPU kernels and a torch path; every subject of a
dataset tree in one batch."""

from .batch import SweepSubject, compound_subject, find_sweep_subjects
from .files import (
    PlusOverrides,
    compound_files,
    compound_paths,
    compound_tree,
    parse_hole_element,
    parse_numbers,
)
from .fill import fill_gaussian, fill_labels
from .holes_plus import fill_holes_plus
from .reconstruct import Options, Reconstruction, check_memory, plan_grid, reconstruct

__all__ = ["Options", "PlusOverrides", "Reconstruction", "SweepSubject", "check_memory",
           "compound_files", "compound_paths", "compound_subject", "compound_tree",
           "fill_gaussian", "fill_holes_plus", "fill_labels", "find_sweep_subjects",
           "parse_hole_element", "parse_numbers", "plan_grid", "reconstruct"]
