"""What commands print: one-line errors, JSON, and the one exit-code rule.

Exit codes: 0 success; 1 findings of a check (``validate``, ``qc``); 2 a usage or input
error, or a batch in which any subject failed. A batch runs every subject it can and
writes their outputs; each failed subject is one ``error: SUBJECT: message`` line on
stderr (and a row in the summary file where there is one).
"""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

from ...core.tables import json_ready

EXIT_FINDINGS = 1
EXIT_USAGE = 2


def console() -> Console:
    """A console on the current standard output (tests swap it)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def one_line(text) -> str:
    """``text`` with every run of white space (newlines too) made one space."""
    return " ".join(str(text).split())


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print ``error: message`` on one line to stderr and exit with ``code``."""
    print(f"error: {one_line(message)}", file=sys.stderr)
    raise typer.Exit(code)


def emit_json(obj) -> None:
    """Print ``obj`` as JSON on stdout (numpy values converted, NaN as null, inf as "inf")."""
    print(json.dumps(json_ready(obj), indent=2))


def say(*lines: str) -> None:
    """Print lines on stdout as they are (no markup)."""
    out = console()
    for line in lines:
        out.print(line, markup=False)


def warn(message) -> None:
    """Print ``warning: message`` on one line to stderr."""
    print(f"warning: {one_line(message)}", file=sys.stderr)


def exit_if_failed(failures) -> None:
    """The batch rule: one ``error: WHERE: message`` line on stderr per ``(where,
    message)`` of ``failures``, then exit 2 when there was any."""
    failures = list(failures)
    for where, message in failures:
        print(f"error: {where}: {one_line(message)}", file=sys.stderr)
    if failures:
        raise typer.Exit(EXIT_USAGE)
