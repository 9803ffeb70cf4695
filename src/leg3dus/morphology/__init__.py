"""Muscle morphology: volume, length, cross-sectional area profiles along the leg, the
maximum cross-section and its position, centroid paths; per subject and per cohort.

See :mod:`leg3dus.morphology.muscle` for the definitions.
"""

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

__all__ = ["LEG_EXTENTS", "SUMMARY_METRICS", "Morphology", "MuscleMorphology", "cohort_rows",
           "find_participants", "measure", "measure_subject", "profile_rows",
           "read_participants", "slice_statistics", "summarise", "write_csv"]
