"""The ``leg3dus`` Typer application and what every command shares: error handling,
JSON output and progress bars. Commands live in :mod:`leg3dus.apps.cli.commands`, one module
each, and register themselves with :func:`command`."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ...core.errors import Leg3dusError
from ...core.tables import json_ready

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
err_console = Console(stderr=True, highlight=False)

#: Exit codes: 0 success, 1 validation findings, 2 usage or input error.
EXIT_FINDINGS = 1
EXIT_USAGE = 2

T = TypeVar("T")


def console() -> Console:
    """A console on the current standard output (tests swap it)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print ``error: message`` on one line to stderr and exit with ``code``."""
    line = " ".join(str(message).split())
    print(f"error: {line}", file=sys.stderr)
    raise typer.Exit(code)


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


def emit_json(obj) -> None:
    """Print ``obj`` as JSON on stdout (numpy values converted, NaN as null, inf as "inf")."""
    print(json.dumps(json_ready(obj), indent=2))


def progress(items: Iterable[T], total: int | None = None, description: str = "",
             quiet: bool = False) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on stderr, shown only on a terminal."""
    show = not quiet and sys.stderr.isatty()
    if not show:
        yield from items
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


@contextlib.contextmanager
def progress_callback(quiet: bool = False):
    """A context giving ``update(description, done, total)`` that draws one progress bar on
    stderr, or None when not on a terminal or ``quiet`` (library functions then skip it).
    Lines printed to stdout meanwhile appear above the bar."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield update


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


def scheduler_option():
    """The ``--scheduler`` option of every batch command."""
    return typer.Option(None, "--scheduler", metavar="ADDRESS",
                        help="Run subjects as tasks on this Dask scheduler (tcp://host:8786).")


def workers_option():
    """The ``--workers`` option of every batch command."""
    return typer.Option(None, "--workers", min=1,
                        help="Run subjects on a local Dask cluster of N worker processes.")


def run_batch(fn, items, scheduler=None, workers=None, description="", quiet=False):
    """:func:`leg3dus.core.parallel.map_subjects` with a progress bar; returns the JobResults."""
    from ...core.parallel import map_subjects

    show = not quiet and sys.stderr.isatty()
    if not show:
        return map_subjects(fn, items, scheduler, workers)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=len(items))
        return map_subjects(fn, items, scheduler, workers,
                            on_done=lambda _r: bar.advance(task))


def image_name_option():
    """The ``--image-name`` option of commands that read a dataset tree."""
    from ...dataset import IMAGE_NAME

    return typer.Option(IMAGE_NAME, "--image-name", help="Image file name in a subject folder.")


def label_name_option():
    """The ``--label-name`` option of commands that read a dataset tree."""
    from ...dataset import LABEL_NAME

    return typer.Option(LABEL_NAME, "--label-name", help="Label file name in a subject folder.")


def flat_option():
    """The ``--flat`` option of commands that read a dataset tree."""
    return typer.Option(False, "--flat/--no-flat",
                        help="DATA is a flat folder; names are patterns with {id}.")


def quiet_option():
    """The ``--quiet`` option of commands that show a progress bar."""
    return typer.Option(False, "--quiet", "-q", help="No progress bar.")


def label_values_option():
    """The ``--label-values`` option of every command that reads labels
    (see :mod:`leg3dus.core.label_values`)."""
    return typer.Option(
        None, "--label-values", metavar="1,2,3|SOL=1,GM=2,GL=3",
        help="Values of SOL,GM,GL in the label files (e.g. 1,2,3 or SOL=1,GM=2,GL=3; "
             "'classes' = 1,2,3). Default: the file's label table (nnU-Net dataset.json, "
             ".seg.nrrd segments) when there is one, else 100,150,200. Read values are "
             "mapped to 100/150/200.")
