"""The ``leg3dus`` Typer application and what every command shares: error handling and
JSON output. Commands live in :mod:`leg3dus.apps.cli.commands`, one module each, and
register themselves with :func:`command`; shared options are in :mod:`.options`, progress
bars and batches in :mod:`.progress`, printing in :mod:`.output`."""

from __future__ import annotations

import functools
import os
import signal
import sys

import typer

from ...core.errors import Leg3dusError
from .options import (  # noqa: F401 - commands import them from here
    flat_option,
    image_name_option,
    label_name_option,
    label_values_option,
    quiet_option,
    scheduler_option,
    workers_option,
)
from .output import (  # noqa: F401 - commands import them from here
    EXIT_FINDINGS,
    EXIT_USAGE,
    console,
    emit_json,
    fail,
)
from .progress import (  # noqa: F401 - commands import them from here
    batch_runner,
    err_console,
    progress,
    progress_bars,
    progress_callback,
    run_batch,
)

_INTERRUPTED = "interrupted; no partial output was kept"


def _interrupted_at_startup(signum, frame) -> None:
    # Ctrl-C while the commands are still being imported: nothing is written yet.
    print(_INTERRUPTED, file=sys.stderr)
    os._exit(130)


def _started_as_command() -> bool:
    argv0 = os.path.normpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return os.path.basename(argv0) == "leg3dus" or argv0.endswith(
        os.path.join("leg3dus", "__main__.py"))


if _started_as_command() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
    signal.signal(signal.SIGINT, _interrupted_at_startup)

app = typer.Typer(
    name="leg3dus",
    help="Freehand 3D ultrasound of the lower-leg muscles: the LEG-3D-US toolkit.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

def command(name: str | None = None, **kwargs):
    """Register a function as a ``leg3dus`` command with the house error handling.

    A :class:`Leg3dusError` becomes one line on stderr and exit code 2; an interrupt
    exits 130. Outputs are written atomically by the library, so neither leaves a
    partial file.
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kw):
            if signal.getsignal(signal.SIGINT) is _interrupted_at_startup:
                # from here on an interrupt unwinds, so temporary files are removed
                signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                return fn(*args, **kw)
            except Leg3dusError as exc:
                fail(str(exc))
            except MemoryError:
                fail("out of memory; crop the input or use a coarser spacing")
            except KeyboardInterrupt:
                print(_INTERRUPTED, file=sys.stderr)
                raise typer.Exit(130) from None

        app.command(name, **kwargs)(wrapper)
        return fn

    return decorate


def _version(value: bool) -> None:
    if value:
        from ... import __version__

        print(f"leg3dus {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Freehand 3D ultrasound of the lower-leg muscles: the LEG-3D-US toolkit."""


