"""Agreement and reliability of measures: intraclass correlation (six forms), SEM, MDC95,
within-subject CV%, Bland-Altman (difference and ratio), Lin's CCC and paired tests,
for tables of measures from several raters, sessions or methods.

See docs/agree.md for what each statistic means and which to report.
"""

from .bland_altman import LOA_Z, bland_altman, bland_altman_ratio
from .icc import ICC_FORMS, MeanSquares, icc, mean_squares
from .pairwise import lin_ccc, paired_tests
from .reliability import cv_percent, mdc95, measurement_error, sem
from .summary import (
    BY_CHOICES,
    MIN_SUBJECTS,
    agreement,
    compare,
    left_out_lines,
    matched,
    rater_names,
    result_rows,
)
from .table import MeasureTable, read_table, table_from_rows

__all__ = ["BY_CHOICES", "ICC_FORMS", "LOA_Z", "MIN_SUBJECTS", "MeanSquares", "MeasureTable",
           "agreement", "bland_altman", "bland_altman_ratio", "compare", "cv_percent", "icc",
           "left_out_lines", "lin_ccc", "matched", "mdc95", "mean_squares",
           "measurement_error", "paired_tests", "rater_names", "read_table", "result_rows",
           "sem", "table_from_rows"]
