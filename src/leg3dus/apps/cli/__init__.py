"""The ``leg3dus`` command line: a thin layer over the library."""

from __future__ import annotations

import importlib
import pkgutil

from . import commands
from .app import app

for _module in pkgutil.iter_modules(commands.__path__):
    importlib.import_module(f"{commands.__name__}.{_module.name}")


def main() -> None:
    """Entry point of the ``leg3dus`` console script."""
    app()


__all__ = ["app", "main"]
