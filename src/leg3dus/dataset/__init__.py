"""A LEG-3D-US tree as a whole: finding its subjects, describing and validating them,
and exporting them to other tools (nnU-Net, NIfTI, OME-Zarr, 3D Slicer, ITK-SNAP, slices).

Finding subjects lives in :mod:`leg3dus.core.layout` because every stage reads trees;
it is re-exported here, where a user looks for it.

>>> from leg3dus.dataset import find_subjects, IMAGE_NAME
>>> IMAGE_NAME
'x1.mha'
"""

from ..core.layout import (
    IMAGE_NAME,
    LABEL_NAME,
    SPLIT_ALIASES,
    SPLITS,
    Subject,
    find_subjects,
    subject_folder,
)

__all__ = ["IMAGE_NAME", "LABEL_NAME", "SPLITS", "SPLIT_ALIASES", "Subject", "find_subjects",
           "subject_folder"]
