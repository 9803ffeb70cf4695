"""Progress bars on stderr (on a terminal only, never with ``--quiet``), and batches of
subject jobs run with one."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

err_console = Console(stderr=True, highlight=False)
T = TypeVar("T")


def _bar() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(*columns, console=err_console, transient=True)


def _shown(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def progress(items: Iterable[T], total: int | None = None, description: str = "",
             quiet: bool = False) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on stderr, shown only on a terminal."""
    if not _shown(quiet):
        yield from items
        return
    with _bar() as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def progress_bars(quiet: bool = False):
    """``progress`` with ``quiet`` fixed: the ``progress=`` argument of library functions."""

    def bars(items, total=None, description=""):
        return progress(items, total=total, description=description, quiet=quiet)

    return bars


@contextlib.contextmanager
def progress_callback(quiet: bool = False):
    """A context giving ``update(description, done, total)`` that draws one progress bar on
    stderr, or None when not on a terminal or ``quiet`` (library functions then skip it).
    Lines printed to stdout meanwhile appear above the bar."""
    if not _shown(quiet):
        yield None
        return
    with _bar() as bar:
        task = bar.add_task("", total=None)

        def update(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield update


def run_batch(fn, items, scheduler=None, workers=None, description="", quiet=False):
    """:func:`leg3dus.core.parallel.map_subjects` with a progress bar; returns the JobResults."""
    from ...core.parallel import map_subjects

    if not _shown(quiet):
        return map_subjects(fn, items, scheduler, workers)
    with _bar() as bar:
        task = bar.add_task(description, total=len(items))
        return map_subjects(fn, items, scheduler, workers,
                            on_done=lambda _r: bar.advance(task))


def batch_runner(scheduler=None, workers=None, description="", quiet=False):
    """A ``runner(fn, items)`` for library batch functions: :func:`run_batch` with these
    settings (``description`` may be overridden per call)."""

    def runner(fn, items, description=description):
        return run_batch(fn, items, scheduler, workers, description, quiet)

    return runner
