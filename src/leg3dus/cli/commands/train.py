"""``leg3dus train``: train a 2.5D or 3D segmentation network on a LEG-3D-US tree."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from ...errors import OptionError
from ..app import command, console, emit_json


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


@command("train")
def train(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree (train/ and val/ splits)."),
    model: str = typer.Option(..., "--model", help="Network: 2d (slices with neighbours "
                              "as channels) or 3d (patches)."),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (checkpoints, log, "
                             "curves, model.ts)."),
    config: Path = typer.Option(None, "--config", help="Settings file, JSON or TOML."),
    max_epochs: int = typer.Option(None, "--max-epochs", min=1, help="Stop after N epochs."),
    time_limit: str = typer.Option(None, "--time-limit", help="Stop after this long "
                                   "(seconds, or 15m, 2h); the epoch in progress is kept."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from "
                                "its last checkpoint."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-epoch lines."),
) -> None:
    """Train a segmentation network; writes checkpoints every epoch, log.csv (loss and
    validation Dice per muscle), curves.png and model.ts (TorchScript, for predict).
    Uses the GPU when torch sees one, else the CPU.

    Example: leg3dus train phantom --model 2d --out runs/p2d --time-limit 14m
    """
    from ...segment import require_seg
    from ...segment.config import load_config

    require_seg()
    from ...segment.models import KINDS

    if model not in KINDS:
        raise OptionError(f"--model: expected one of {', '.join(KINDS)}, found {model!r}")
    from ...segment.train import train as run_training

    overrides = {k: v for k, v in (("max_epochs", max_epochs),
                                   ("time_limit", parse_duration(time_limit)),
                                   ("seed", seed)) if v is not None}
    base = load_config(config)
    if resume and config is not None:
        raise OptionError("--config cannot change a resumed run; its settings are in "
                          f"{out / 'config.json'}")
    out_console = console()
    log = None if (quiet or as_json) else out_console.print
    summary = run_training(data, model, out, base, resume=resume, overrides=overrides, log=log)
    if as_json:
        emit_json(summary)
        return
    best = ", ".join(f"{k} {v:.3f}" for k, v in summary["best_dice"].items())
    out_console.print(f"{summary['epochs']} epochs ({summary['stopped_by']}), best epoch "
                      f"{summary['best_epoch']}: {best or 'no validation'}; "
                      f"{summary['seconds']:.0f} s on {summary['device']}; model: "
                      f"{summary['model']}")
