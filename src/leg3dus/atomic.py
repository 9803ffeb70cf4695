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


def tmp_name(path: Path) -> Path:
    """A hidden temporary name beside ``path`` with the same full suffix (".nii.gz",
    ".igs.mha"), so that writers which pick the format from the name still pick it."""
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f".{stem}.tmp-{uuid.uuid4().hex[:8]}{suffix}")


def check_not_input(output: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`OutputError` if ``output`` is the same file as one of ``inputs``."""
    out = Path(output).resolve()
    for src in inputs:
        if src is not None and Path(src).resolve() == out:
            raise OutputError(f"{output}: output would overwrite the input; choose another path")


def replace_path(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Rename ``tmp`` to ``path``, replacing what is there: a file, or a folder (a Zarr
    volume) which is moved aside first and removed once the new one is in place."""
    tmp, path = Path(tmp), Path(path)
    if path.is_dir() and not path.is_symlink():
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def remove_path(path: str | os.PathLike) -> None:
    """Remove a file or a folder; nothing when it does not exist."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The parent folder is created; an existing output (a file, or a folder such as a Zarr
    volume) is replaced. On any exception (KeyboardInterrupt included) the temporary
    file is removed and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path("out.mha") as tmp:  # doctest: +SKIP
    ...     write_volume(vol, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(path)
    try:
        yield tmp
        if tmp.exists():
            replace_path(tmp, path)
    except BaseException:
        remove_path(tmp)
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
        replace_path(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
