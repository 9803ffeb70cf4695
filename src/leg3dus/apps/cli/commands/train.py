"""``leg3dus train``: train a 2.5D or 3D segmentation network on a LEG-3D-US tree."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from ....core.errors import OptionError
from ..app import command, console, emit_json, label_values_option, progress_callback


def parse_duration(text: str | None) -> float | None:
    """Seconds from ``"900"``, ``"900s"``, ``"15m"``, ``"1.5h"``; None stays None.

    >>> parse_duration("15m")
    900.0
    """
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m:
        raise OptionError(f"--time-limit: expected seconds or a number with s, m or h "
                          f"(e.g. 900, 15m), found {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def _check_run_folder(out: Path, data: Path, config: Path | None) -> None:
    """Refuse a run folder that is a file, or is or holds the data or the settings."""
    from ....core.atomic import check_output_folder
    from ....dataset import find_subjects
    from ....dataset.info import subject_files

    read = [data, config, *(subject_files(find_subjects(data)) if data.is_dir() else [])]
    check_output_folder(out, read)


@command("train")
def train(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree (train/ and val/ splits)."),
    model: str = typer.Option(..., "--model", help="Network: 2d (slices with neighbours "
                              "as channels) or 3d (patches)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (checkpoints, log, "
                             "curves, model.ts)."),
    preset: str = typer.Option(None, "--preset", help="Starting settings: cpu-quick (a "
                               "small network, minutes on a CPU), gpu, or none (bare "
                               "defaults). Default: gpu when torch sees a CUDA device, "
                               "else cpu-quick. --config and options override it."),
    config: Path = typer.Option(None, "--config", help="Settings file, JSON or TOML "
                                "(overrides the preset)."),
    max_epochs: int = typer.Option(None, "--max-epochs", min=1, help="Stop after N epochs."),
    time_limit: str = typer.Option(None, "--time-limit", help="Stop after this long "
                                   "(seconds, or 15m, 2h), inside the epoch; that partial "
                                   "epoch is validated and saved."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from "
                                "its last checkpoint."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch lines and no "
                               "progress bar."),
    label_values: str = label_values_option(),
) -> None:
    """Train a segmentation network; writes checkpoints every epoch, log.csv (loss and
    validation Dice per muscle), curves.png and model.ts (TorchScript, for predict).
    Uses the GPU when torch sees one, else the CPU, with the preset for it. A time
    limit stops training inside the epoch; that partial epoch is validated and saved.

    Example: leg3dus train phantom --model 2d --out runs/p2d --time-limit 15m
    """
    from ....segment import require_seg
    from ....segment.config import auto_preset, load_config

    require_seg()
    from ....segment.models import KINDS

    if model not in KINDS:
        raise OptionError(f"--model: expected one of {', '.join(KINDS)}, found {model!r}")
    from ....segment.train import train as run_training

    _check_run_folder(out, data, config)
    from ....core.label_values import from_option

    from_option(label_values)  # a malformed --label-values fails before any work

    overrides = {k: v for k, v in (("max_epochs", max_epochs),
                                   ("time_limit", parse_duration(time_limit)),
                                   ("seed", seed), ("label_values", label_values))
                 if v is not None}
    if resume and config is not None:
        raise OptionError("--config cannot change a resumed run; its settings are in "
                          f"{out / 'config.json'}")
    if resume and label_values is not None:
        raise OptionError("--label-values cannot change a resumed run; its settings are in "
                          f"{out / 'config.json'}")
    if resume and preset is not None:
        raise OptionError("--preset cannot change a resumed run; its settings are in "
                          f"{out / 'config.json'}")
    chosen = preset or auto_preset()
    base = load_config(config, preset=chosen, kind=model)
    with progress_callback(quiet or as_json) as bar:
        out_console = console()
        log = None if (quiet or as_json) else out_console.print
        if log is not None and not resume:
            why = "" if preset else (" (a CUDA device is visible)" if chosen == "gpu"
                                     else " (no CUDA device; choose with --preset)")
            log(f"preset {chosen}{why}" + (f", updated by {config}" if config else ""))
        summary = run_training(data, model, out, base, resume=resume, overrides=overrides,
                               log=log, progress=bar)
    if as_json:
        emit_json(summary)
        return
    best = ", ".join(f"{k} {v:.3f}" for k, v in summary["best_dice"].items())
    console().print(f"{summary['epochs']} epochs ({summary['stopped_by']}), best epoch "
                    f"{summary['best_epoch']}: {best or 'no validation'}; "
                    f"{summary['seconds']:.0f} s on {summary['device']}; model: "
                    f"{summary['model']}")
