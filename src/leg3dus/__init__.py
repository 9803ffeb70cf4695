"""leg3dus: freehand 3D ultrasound of the lower-leg muscles, from tracked sweeps to reports.

The library is organised by stage (see the README): :mod:`leg3dus.volume` for volumes with
geometry, :mod:`leg3dus.labels` for the label scheme, :mod:`leg3dus.dataset` for
LEG-3D-US trees, and one module per later stage.
"""

from .errors import Leg3dusError
from .volume import Geometry, Volume, read_header, read_volume, write_volume

__version__ = "0.1.0"
__all__ = ["Geometry", "Leg3dusError", "Volume", "read_header", "read_volume", "write_volume"]
