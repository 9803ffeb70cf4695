"""Muscle morphology: volume, length, cross-sectional area profiles along the leg, the
maximum cross-section and its position, centroid paths; per subject and per cohort.

See :mod:`leg3dus.morphology.muscle` for the definitions and
:mod:`leg3dus.morphology.axis` for the leg axis.
"""

from .axis import AXIS_CHOICES, OBLIQUE_DEG, ObliqueAxisWarning, leg_axis
from .batch import CohortMorphology, measure_cohort
from .cohort import (
    SUMMARY_METRICS,
    cohort_rows,
    find_participants,
    measure_subject,
    profile_rows,
    read_participants,
    summarise,
    write_csv,
)
from .muscle import LEG_EXTENTS, Morphology, MuscleMorphology, measure, slice_statistics

__all__ = ["AXIS_CHOICES", "LEG_EXTENTS", "OBLIQUE_DEG", "SUMMARY_METRICS", "CohortMorphology",
           "Morphology", "MuscleMorphology", "ObliqueAxisWarning", "cohort_rows",
           "find_participants", "leg_axis", "measure", "measure_cohort", "measure_subject",
           "profile_rows", "read_participants", "slice_statistics", "summarise", "write_csv"]
