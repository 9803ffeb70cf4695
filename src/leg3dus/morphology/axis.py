"""Which array axis runs along the leg, read from a volume's direction matrix.

Cross-sections are slices perpendicular to one array axis, the **leg axis**. By default
(``axis="auto"``) it is the array axis whose direction vector lies closest to the
patient's superior-inferior axis: physical z in ITK's LPS world, which is component 0 of
the (z, y, x)-ordered direction columns (``direction[i, j]`` is component ``i`` of the
unit vector along array axis ``j``, see :mod:`leg3dus.core.volume`). For the dataset's
identity direction that is array axis 0. ``axis=0``, ``1`` or ``2`` chooses the axis.

The measures always follow the array axis (slices of the grid, no resampling). When
that axis lies more than :data:`OBLIQUE_DEG` degrees off the physical z axis, the
cross-sections are oblique to the anatomical transverse plane: the measures are still
given, with the angle, and a warning says so.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import OptionError

#: Values of ``axis`` / ``--axis``: ``auto`` (from the direction matrix) or an array axis.
AXIS_CHOICES = ("auto", "0", "1", "2")
#: Beyond this angle (degrees) between the leg axis and physical z the axis is oblique.
OBLIQUE_DEG = 5.0


class ObliqueAxisWarning(UserWarning):
    """The chosen leg axis is more than :data:`OBLIQUE_DEG` degrees off physical z."""


def parse_axis(value) -> int | None:
    """``None`` for ``"auto"`` (or None), else the array axis 0, 1 or 2.

    >>> parse_axis("auto"), parse_axis("2"), parse_axis(1)
    (None, 2, 1)
    >>> parse_axis("z")
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.OptionError: --axis must be one of auto, 0, 1, 2, found 'z'
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
        return None
    text = str(value).strip()
    if text not in AXIS_CHOICES[1:]:
        raise OptionError(f"--axis must be one of {', '.join(AXIS_CHOICES)}, found {value!r}")
    return int(text)


def leg_axis(direction=None, axis="auto") -> tuple[int, float]:
    """The leg axis and its angle (degrees) to physical z (superior-inferior).

    Parameters
    ----------
    direction
        3x3 direction matrix in (z, y, x) order (None: identity).
    axis
        ``"auto"`` (the array axis closest to physical z; the first one on a tie) or
        0, 1, 2 (also as text) to choose it.

    Returns
    -------
    (axis, oblique_deg)
        The array axis, and the angle between its direction and the physical z axis,
        either way along it (0 for the identity direction).

    Examples
    --------
    >>> leg_axis(np.eye(3))
    (0, 0.0)
    >>> d = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])   # the leg along array axis 2
    >>> leg_axis(d), leg_axis(d, axis=0)
    ((2, 0.0), (0, 90.0))
    """
    d = np.eye(3) if direction is None else np.asarray(direction, dtype=np.float64)
    if d.shape != (3, 3):
        raise OptionError(f"direction: expected a 3x3 matrix, found shape {d.shape}")
    norms = np.linalg.norm(d, axis=0)
    norms[norms == 0] = 1.0
    cosines = np.clip(np.abs(d[0]) / norms, 0.0, 1.0)
    chosen = parse_axis(axis)
    if chosen is None:
        chosen = int(np.argmax(np.round(cosines, 12)))
    angle = float(np.degrees(np.arccos(cosines[chosen])))
    return chosen, round(angle, 6)


def oblique_note(axis: int, oblique_deg: float, who: str = "") -> str:
    """One line saying that the leg axis is oblique ("" when it is not).

    >>> oblique_note(0, 2.0)
    ''
    >>> oblique_note(2, 20.0, "train/P001")  # doctest: +ELLIPSIS
    'leg axis (array axis 2) is 20.0 deg off the superior-inferior axis in train/P001: ...'
    """
    if not oblique_deg > OBLIQUE_DEG:
        return ""
    where = f" in {who}" if who else ""
    return (f"leg axis (array axis {axis}) is {oblique_deg:.1f} deg off the "
            f"superior-inferior axis{where}: cross-sections are slices of the grid, oblique "
            f"to the transverse plane (axis_oblique_deg)")
