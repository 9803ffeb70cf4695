# The docstring examples of this package are collected with the rest of leg3dus; the
# modules that import Qt or napari are left out when the ``gui`` extra is not installed.
import importlib.util


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


collect_ignore = []
if not (_importable("napari") and _importable("qtpy")):
    collect_ignore = ["widget.py", "viewer.py", "_controls.py"]
