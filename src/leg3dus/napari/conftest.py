# The docstring examples of this package are collected with the rest of leg3dus; the
# modules that import Qt or napari are left out when the ``gui`` extra is not installed.
import importlib.util

collect_ignore = []
if importlib.util.find_spec("napari") is None or importlib.util.find_spec("qtpy") is None:
    collect_ignore = ["widget.py", "viewer.py", "reader.py", "writer.py"]
