"""The examples of README.md and docs/*.md, read from the pages themselves.

Shell examples are the ``leg3dus ...`` lines of fenced blocks (``$ leg3dus`` where the
block shows a session; a trailing ``\\`` joins lines) and of indented blocks; Python
examples are the ``python`` fenced blocks. A line with placeholders (``DATA``,
``[--json]``, ``{2d,3d}``) is a synopsis: only its options are checked.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGS = ("", "bash", "sh", "shell", "console")
_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*(\.[a-z]+)?$|^[A-Z_]+/")


@dataclass(frozen=True)
class Example:
    doc: str  # path relative to the repository root
    line: int  # 1-based line of the example's first line
    text: str
    printed: tuple[str, ...] = ()  # in a session block: the lines shown after it

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(path: Path):
    """(language, first line number, lines) of every fenced and indented code block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang, start, body = line[3:].strip(), i + 2, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield lang, start, body
        elif line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            start, body = i + 1, []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                body.append(lines[i][4:])
                i += 1
            yield "indented", start, body
            continue
        i += 1


def shell_examples() -> list[Example]:
    out = []
    for path in doc_files():
        doc = path.relative_to(ROOT).as_posix()
        for lang, start, body in _blocks(path):
            if lang not in (*SHELL_LANGS, "indented"):
                continue
            session = any(b.lstrip().startswith("$ ") for b in body)
            k = 0
            while k < len(body):
                text, first = body[k].strip(), start + k
                if session:
                    text = text[2:] if text.startswith("$ ") else ""
                while text.endswith("\\") and k + 1 < len(body):
                    k += 1
                    text = text[:-1].rstrip() + " " + body[k].strip()
                k += 1
                printed = []
                while session and k < len(body) and not body[k].lstrip().startswith("$ "):
                    printed.append(body[k].rstrip())
                    k += 1
                if text.startswith("leg3dus "):
                    out.append(Example(doc, first, text, tuple(printed)))
    return out


def python_examples() -> list[Example]:
    return [Example(p.relative_to(ROOT).as_posix(), start, "\n".join(body))
            for p in doc_files() for lang, start, body in _blocks(p) if lang == "python"]


def words(text: str) -> list[str]:
    """The command's words, without a trailing comment."""
    return shlex.split(text, comments=True)


def is_synopsis(text: str) -> bool:
    """A line with placeholders rather than a command to run."""
    ws = words(text)
    return any(c in text for c in "[]{}") or any(_PLACEHOLDER.match(w) for w in ws[2:]
                                                   if not w.startswith("-"))


def options_named(text: str) -> set[str]:
    """Every ``--option`` the line names (``[--a|--b]`` gives both)."""
    return {m for m in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text)}
