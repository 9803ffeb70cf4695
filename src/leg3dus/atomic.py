"""Write outputs under a temporary name and rename them into place, so that a crash or an
interrupt never leaves a half-written file and an input is never overwritten."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import OutputError


def _tmp_name(path: Path) -> Path:
    # Keep the full suffix (".nii.gz", ".igs.mha") so writers that pick the format from
    # the file name still pick the right one.
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f".{stem}.tmp-{uuid.uuid4().hex[:8]}{suffix}")


def check_not_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`OutputError` if ``output`` is the same file as one of ``inputs``."""
    out = Path(output).resolve()
    for src in inputs:
        if src is not None and Path(src).resolve() == out:
            raise OutputError(f"{output}: output would overwrite the input; choose another path")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The parent folder is created. On any exception (KeyboardInterrupt included) the
    temporary file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path("out.mha") as tmp:  # doctest: +SKIP
    ...     write_volume(vol, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(path)
    try:
        yield tmp
        if tmp.exists():
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_path` for a folder: build it under a temporary name, then rename.

    An existing folder at ``path`` is replaced only when the block succeeds.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
