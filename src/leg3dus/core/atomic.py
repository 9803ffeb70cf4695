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


def clean_stale(path: Path) -> None:
    """Remove temporaries of ``path`` left by a writer that was killed (SIGKILL, power
    loss), so the next run of the command leaves none behind. One process writes a given
    output at a time, so any temporary of ``path`` that exists now is stale.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / ".v.tmp-0123abcd.mha").write_bytes(b"half")
    >>> clean_stale(folder / "v.mha"); sorted(p.name for p in folder.iterdir())
    []
    """
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    if not path.parent.is_dir():
        return
    for kind in ("tmp", "old"):
        for pattern in (f".{glob_escape(stem)}.{kind}-????????{glob_escape(suffix)}",
                        f".{glob_escape(path.name)}.{kind}-????????"):
            for stale in path.parent.glob(pattern):
                remove_path(stale)
    for stale in path.parent.glob(f".{glob_escape(path.name)}.{'[0-9a-z_]' * 8}"):
        if stale.is_dir():  # header + data pairs written in a temporary folder
            remove_path(stale)


def glob_escape(text: str) -> str:
    """``text`` with glob's special characters made literal.

    >>> glob_escape("a[1]*")
    'a[[]1[]][*]'
    """
    return "".join(f"[{c}]" if c in "[]*?" else c for c in text)


def _same_path(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_not_input(output: str | os.PathLike,
                    inputs: Iterable[str | os.PathLike | None]) -> None:
    """Raise :class:`OutputError` if writing ``output`` would destroy one of ``inputs``.

    Refused: ``output`` is an input (the same path, or the same file through a link),
    or a folder holding an input (writing there replaces the folder as a whole).
    ``inputs`` may hold folders, and None (ignored).

    Examples
    --------
    >>> check_not_input("out/labels.mha", ["data/x1.mha", None])
    >>> check_not_input("data/x1.mha", ["data/x1.mha"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.OutputError: data/x1.mha: this output would overwrite the input ...
    >>> check_not_input("data", ["data/train/P001/x1.mha"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.OutputError: data: this output would replace a folder holding the input ...
    """
    out = Path(output).resolve()
    for src in inputs:
        if src is None:
            continue
        path = Path(src).resolve()
        if _same_path(out, path):
            raise OutputError(f"{output}: this output would overwrite the input {src}; "
                              "choose another path")
        if out in path.parents:
            raise OutputError(f"{output}: this output would replace a folder holding the "
                              f"input {src}; choose another path")


def check_outputs(outputs: Iterable[str | os.PathLike | None],
                  inputs: Iterable[str | os.PathLike | None]) -> None:
    """:func:`check_not_input` for every output (None skipped), and no two outputs alike.

    Call it before any work, with every file the command reads (for a dataset tree,
    each subject's image and label file: :func:`leg3dus.dataset.info.subject_files`).

    Examples
    --------
    >>> check_outputs(["m.csv", None, "p.csv"], ["data", "data/cohort.csv"])
    >>> check_outputs(["m.csv", "m.csv"], [])
    Traceback (most recent call last):
    ...
    leg3dus.core.errors.OutputError: m.csv: given for two outputs; each output needs its own path
    """
    inputs = [p for p in inputs if p is not None]
    seen: list[tuple[Path, str | os.PathLike]] = []
    for output in outputs:
        if output is None:
            continue
        check_not_input(output, inputs)
        resolved = Path(output).resolve()
        for other, _ in seen:
            if _same_path(resolved, other):
                raise OutputError(f"{output}: given for two outputs; each output needs its "
                                  "own path")
        seen.append((resolved, output))


def check_output_folder(folder: str | os.PathLike,
                        inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Raise :class:`OutputError` if ``folder`` exists and is not a folder, or is (or
    holds) one of ``inputs`` (:func:`check_not_input`).

    Examples
    --------
    >>> check_output_folder("runs/new", ["data"])
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{folder}: expected an output folder, found a file; choose "
                          "another path")
    check_not_input(folder, inputs)


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
    clean_stale(path)
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
    clean_stale(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        yield tmp
        replace_path(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
