"""leg3dus: freehand 3D ultrasound of the lower-leg muscles, from tracked sweeps to reports.

The library is organised by stage (see the README): :mod:`leg3dus.core.volume` for volumes with
geometry, :mod:`leg3dus.core.labels` for the label scheme, :mod:`leg3dus.dataset` for
LEG-3D-US trees, and one module per later stage.
"""

from .core.errors import Leg3dusError
from .core.volume import Geometry, Volume
from .core.volume_io import read_header, read_volume, write_volume

__version__ = "0.1.0"
__all__ = ["Geometry", "Leg3dusError", "Volume", "read_header", "read_volume", "write_volume"]
