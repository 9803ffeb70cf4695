"""The command line shared by info, validate and export: help, errors, light imports."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("name", ["info", "validate", "export"])
def test_help_has_an_example(cli, name):
    result = cli(name, "--help")
    assert result.exit_code == 0
    assert f"Example: leg3dus {name} " in result.stdout
    if name != "export":
        assert "--scheduler" in result.stdout and "--workers" in result.stdout
    assert "--json" in result.stdout


def test_root_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for name in ("info", "validate", "export"):
        assert name in result.stdout
    assert cli("--version").stdout.startswith("leg3dus ")


def test_export_help_lists_every_format(cli):
    from leg3dus.dataset.export import EXPORT_FORMATS

    text = cli("export", "--help").stdout
    for name in EXPORT_FORMATS:
        assert name in text
    assert "--scheduler" in text and "--workers" in text


def test_commands_import_no_heavy_modules():
    code = ("import sys; import leg3dus.apps.cli.commands.info, "
            "leg3dus.apps.cli.commands.validate, leg3dus.apps.cli.commands.export; "
            "print(','.join(m for m in ('numba', 'zarr', 'dask', 'distributed', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_workers_and_scheduler_together_is_a_usage_error(cli, tiny_dataset):
    result = cli("info", tiny_dataset, "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert result.exit_code == 2 and "not both" in result.stderr


def test_bad_option_value_exits_2(cli, tiny_dataset):
    result = cli("validate", tiny_dataset, "--workers", "0")
    assert result.exit_code == 2


def test_distance_options_name_their_unit(cli):
    """Options holding a distance say mm in their name (older names still accepted)."""
    for command, names in (("synth", ("--spacing-mm", "--max-depth-mm")),
                           ("qc", ("--spacing-mm", "--gap-mm", "--bridge-mm")),
                           ("evaluate", ("--tolerance-mm", "--border-sigma-mm",
                                         "--aponeurosis-mm")),
                           ("validate", ("--atol-mm",))):
        text = cli(command, "--help").stdout
        for name in names:
            assert name in text, (command, name)
