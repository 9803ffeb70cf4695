"""Synthetic calf phantom: continuous anatomy, B-mode image formation and cohorts
written in the LEG-3D-US layout.

>>> from leg3dus.phantom import cohort_params, make_subject
>>> image, labels = make_subject(cohort_params(1)[0], spacing=2.0)
"""

from . import tissue
from .anatomy import Anatomy
from .bmode import Probe, bmode_envelope, render_bmode
from .params import SubjectParams, cohort_params, subject_params
from .subject import make_labels, make_subject, speckle_seed

__all__ = ["Anatomy", "Probe", "SubjectParams", "bmode_envelope", "cohort_params",
           "make_labels", "make_subject", "render_bmode", "speckle_seed", "subject_params",
           "tissue"]
