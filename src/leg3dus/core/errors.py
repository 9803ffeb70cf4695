"""Errors a user can cause, each with a message that names the file, what was expected
and what was found. The command line prints the message on one line and exits 2."""


class Leg3dusError(Exception):
    """Base class of every error caused by input or options rather than by a bug."""


class InputFileError(Leg3dusError):
    """A file is missing, unreadable, truncated or of an unsupported format."""


class GeometryError(Leg3dusError):
    """Shapes, spacings, origins or directions disagree, or a shape is not what was expected."""


class LabelError(Leg3dusError):
    """A label volume holds values outside the label scheme, or lacks what is needed."""


class OptionError(Leg3dusError):
    """An option has a bad value or options contradict each other."""


class OutputError(Leg3dusError):
    """An output cannot be written (it would overwrite an input, or it would not fit)."""
