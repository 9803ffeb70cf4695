"""Running per-subject jobs in-process or as tasks on a Dask cluster.

Every batch command maps one function over its subjects with :func:`map_subjects`. By
default the jobs run one after another in this process; ``workers=N`` starts a local Dask
cluster of N single-threaded worker processes; ``scheduler="tcp://host:8786"`` uses an
existing cluster. Results come back in input order; a job that fails is reported as a
:class:`JobResult` with its error and the others still complete.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import Leg3dusError, OptionError


@dataclass
class JobResult:
    """The outcome of one job: its item, the value returned, or the error it raised."""

    item: Any
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, Leg3dusError):
        return str(exc)
    # A bug rather than bad input: keep where it happened.
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _run_one(fn: Callable, item: Any) -> JobResult:
    try:
        return JobResult(item, fn(item))
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
        return JobResult(item, error=_describe(exc))


def check_reachable(scheduler: str, timeout_s: float = 3.0) -> None:
    """Raise :class:`OptionError` at once when nothing listens at a ``tcp://host:port``
    scheduler address (Dask's client would retry until its own timeout).

    >>> check_reachable("tcp://127.0.0.1:9")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.OptionError: cannot reach the Dask scheduler at tcp://127.0.0.1:9: ...
    """
    import socket
    from urllib.parse import urlsplit

    if not scheduler.startswith("tcp://"):
        return
    try:
        parts = urlsplit(scheduler)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise OptionError(f"--scheduler: expected tcp://host:port, found {scheduler!r}") from None
    if not host or not port:
        raise OptionError(f"--scheduler: expected tcp://host:port, found {scheduler!r}")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OptionError(f"cannot reach the Dask scheduler at {scheduler}: {reason}") from None


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask ``Client`` to ``scheduler``, or to a new local cluster of ``workers`` processes.

    Yields None when neither is given (run in-process).
    """
    if scheduler is None and not workers:
        yield None
        return
    if scheduler is not None and workers:
        raise OptionError("give either --scheduler or --workers, not both")
    if workers is not None and workers < 1:
        raise OptionError(f"--workers must be at least 1, found {workers}")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise OptionError("running on Dask needs the 'scale' extra: "
                          "pip install 'leg3dus[scale]'") from None
    if scheduler is not None:
        check_reachable(scheduler)
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, MemoryError, ValueError) as exc:  # not a Dask scheduler there
            raise OptionError(f"cannot reach the Dask scheduler at {scheduler}: "
                              f"{type(exc).__name__}: {exc}") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def map_subjects(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    scheduler: str | None = None,
    workers: int | None = None,
    on_done: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Apply ``fn`` to every item, in-process or on Dask; results in input order.

    Parameters
    ----------
    fn
        A function of one item. On Dask it must be importable by the workers (a
        module-level function or a ``functools.partial`` of one).
    items
        Usually :class:`leg3dus.dataset.Subject` records.
    scheduler, workers
        Where to run: see the module docstring.
    on_done
        Called with each :class:`JobResult` as it completes (for progress bars).

    Examples
    --------
    >>> [r.value for r in map_subjects(abs, [-1, 2])]
    [1, 2]
    """
    items = list(items)
    results: list[JobResult | None] = [None] * len(items)
    with dask_client(scheduler, workers) as client:
        if client is None:
            for i, item in enumerate(items):
                results[i] = _run_one(fn, item)
                if on_done:
                    on_done(results[i])
            return results  # type: ignore[return-value]
        from distributed import as_completed

        futures = client.map(_run_one, [fn] * len(items), items, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            i = index[future.key]
            try:
                results[i] = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker died: report, keep going
                results[i] = JobResult(items[i], error=f"worker failed: {_describe(exc)}")
            if on_done:
                on_done(results[i])
    return results  # type: ignore[return-value]
