"""Numbers as people read them, in CSV files and on screen: one rounding rule for all.

A float is rounded to a number of significant digits (6 in CSV files, 4 on screen with
at most 3 decimals), written without trailing zeros and never in scientific notation
for ordinary values (magnitudes from 1e-6 to 1e15): ``12.790000000000001`` is written
``12.79``, ``1234.5678`` on screen ``1235``, ``0.98765`` on screen ``0.988``. Integers
are written as they are; missing values (None, NaN) as the caller's ``missing`` text.

Examples
--------
>>> csv_cell(12.790000000000001), csv_cell(54.6242774566474), csv_cell(3)
('12.79', '54.6243', '3')
>>> screen_cell(318.63238038559916), screen_cell(0.98765), screen_cell(None)
('318.6', '0.988', '-')
"""

from __future__ import annotations

import math
import numbers

CSV_DIGITS = 6  #: significant digits of a float in a CSV file
SCREEN_DIGITS = 4  #: significant digits of a float in a table on screen
SCREEN_DECIMALS = 3  #: at most this many decimals on screen
_ORDINARY = (1e-6, 1e15)  # magnitudes written without an exponent


def format_number(value: float, digits: int = CSV_DIGITS,
                  max_decimals: int | None = None) -> str:
    """``value`` rounded to ``digits`` significant digits (and at most ``max_decimals``
    decimals), without trailing zeros; scientific notation only outside 1e-6..1e15.

    NaN and infinities are written ``nan``, ``inf``, ``-inf``.

    Examples
    --------
    >>> format_number(12.790000000000001), format_number(0.000123456789)
    ('12.79', '0.000123457')
    >>> format_number(123456789.123), format_number(-0.5), format_number(2.0)
    ('123456789', '-0.5', '2')
    >>> format_number(1234.5678, 4), format_number(0.98765, 4, max_decimals=3)
    ('1235', '0.988')
    >>> format_number(3.2e-9), format_number(float("nan"))
    ('3.2e-09', 'nan')
    """
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    magnitude = abs(v)
    if not _ORDINARY[0] <= magnitude < _ORDINARY[1]:
        return f"{v:.{digits}g}"
    decimals = max(digits - 1 - math.floor(math.log10(magnitude)), 0)
    if max_decimals is not None:
        decimals = min(decimals, max_decimals)
    text = f"{v:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def csv_cell(value, missing: str = "", digits: int = CSV_DIGITS) -> str:
    """The text of one CSV cell: floats by :func:`format_number`, None and NaN as
    ``missing``, a list as its items joined by ``-``, anything else as ``str``.

    Examples
    --------
    >>> csv_cell(float("nan")), csv_cell(float("nan"), missing="nan"), csv_cell([3, 9])
    ('', 'nan', '3-9')
    """
    return _cell(value, missing, "-", digits, None)


def screen_cell(value, missing: str = "-", digits: int = SCREEN_DIGITS,
                max_decimals: int = SCREEN_DECIMALS) -> str:
    """The text of one table cell on screen: like :func:`csv_cell` with fewer digits
    (4 significant, at most 3 decimals) and a list joined by ``..`` (a range).

    Examples
    --------
    >>> screen_cell(908.2345), screen_cell(-1.23456), screen_cell([120, 140])
    ('908.2', '-1.235', '120..140')
    """
    return _cell(value, missing, "..", digits, max_decimals)


def _cell(value, missing: str, join: str, digits: int, max_decimals: int | None) -> str:
    if value is None:
        return missing
    if isinstance(value, (list, tuple)):
        return join.join(_cell(v, missing, join, digits, max_decimals) for v in value)
    if isinstance(value, bool) or isinstance(value, numbers.Integral):
        return str(int(value)) if not isinstance(value, bool) else str(value)
    if isinstance(value, numbers.Real):
        if math.isnan(float(value)):
            return missing
        return format_number(value, digits, max_decimals)
    return str(value)


def json_ready(obj):
    """``obj`` ready for :func:`json.dumps`: numpy values as Python ones, NaN as None,
    infinities as the text ``"inf"``/``"-inf"`` and paths as strings (so that an infinite
    distance is never silently dropped or written as invalid JSON).

    >>> import numpy as np
    >>> json_ready({"a": float("nan"), "b": np.float64(2.5), "c": [np.int64(3)],
    ...             "d": float("inf")})
    {'a': None, 'b': 2.5, 'c': [3], 'd': 'inf'}
    """
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy array/scalar
        return json_ready(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if hasattr(obj, "__fspath__"):
        return str(obj)
    return obj
