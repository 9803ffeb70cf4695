"""The house's shape (docs/architecture.md): the import contract holds, modules stay
one concept long, command files stay thin."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "leg3dus"
MAX_MODULE_LINES = 420    # "under ~400 lines"
MAX_COMMAND_LINES = 125   # "a command file is at most ~120 lines"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_contract_is_kept():
    run = subprocess.run(["lint-imports"], capture_output=True, text=True,
                         cwd=SRC.parents[1])
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout


def test_no_module_over_the_size_limit():
    big = {str(p.relative_to(SRC)): _lines(p) for p in SRC.rglob("*.py")
           if _lines(p) > MAX_MODULE_LINES}
    assert big == {}


def test_command_files_are_thin():
    cli = SRC / "apps" / "cli"
    big = {str(p.relative_to(cli)): _lines(p) for p in cli.rglob("*.py")
           if _lines(p) > MAX_COMMAND_LINES}
    assert big == {}


def test_core_names_no_stage_in_its_imports():
    # The same rule as the contract, read from the source text: it holds without
    # import-linter installed.
    stages = [p.name for p in SRC.iterdir() if p.is_dir() and p.name not in
              ("core", "apps", "__pycache__")]
    found = []
    for p in (SRC / "core").rglob("*.py"):
        for n, line in enumerate(p.read_text().splitlines(), 1):
            s = line.strip()
            if s.startswith(("from ", "import ")) and any(
                    f"..{st}" in s or f"leg3dus.{st}" in s or "apps" in s for st in stages):
                found.append(f"{p.name}:{n}: {s}")
    assert found == []


def test_package_imports_without_the_applications():
    code = ("import sys, leg3dus, leg3dus.core.volume_io, leg3dus.metrics, leg3dus.propagate; "
            "print(any(m.startswith('leg3dus.apps') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
