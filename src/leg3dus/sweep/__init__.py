"""Tracked 2D ultrasound sweeps: PLUS sequence files, PLUS configuration, frame poses."""

from .config import (
    HoleFillingElement,
    PlusConfig,
    ReconParams,
    check_params,
    read_config,
    write_config,
)
from .seqfile import Sequence, concat_sequences, read_sequence, write_sequence
from .transforms import check_rigid, image_to_reference

__all__ = ["HoleFillingElement", "PlusConfig", "ReconParams", "Sequence", "check_params",
           "check_rigid", "concat_sequences", "image_to_reference", "read_config", "read_sequence",
           "write_config", "write_sequence"]
