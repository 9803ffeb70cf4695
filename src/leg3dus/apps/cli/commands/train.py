"""``leg3dus train``: train a 2.5D or 3D segmentation network on a LEG-3D-US tree."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import command, console, emit_json, label_values_option, progress_callback
from ..output import say


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
    folds: int = typer.Option(None, "--folds", min=2, help="K-fold cross-validation on the "
                              "train and val subjects (nnU-Net's folds); --out gets "
                              "fold_0..fold_K-1 and splits_final.json."),
    fold: str = typer.Option(None, "--fold", help="With --folds: the fold to train, 0..K-1, "
                             "or all (default)."),
    splits: Path = typer.Option(None, "--splits", help="Folds from this splits_final.json "
                                "(nnU-Net's format) instead of making them."),
    sparse: bool = typer.Option(False, "--sparse", help="Train on each subject's sparse "
                                "annotations (sparseX1.mha and sparseX1_slices.txt beside "
                                "x1.mha); the loss counts annotated slices only."),
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

    Example: leg3dus train phantom --model 2d --out runs/cv2d --folds 5 --fold all
    """
    from ....segment.runs import train_run

    with progress_callback(quiet or as_json) as bar:
        summary = train_run(data, model, out, preset=preset, config=config,
                            max_epochs=max_epochs, time_limit=time_limit, seed=seed,
                            resume=resume, label_values=label_values, folds=folds,
                            fold=fold, splits=splits, sparse=sparse,
                            log=None if (quiet or as_json) else say, progress=bar)
    if as_json:
        emit_json(summary)
        return
    if "per_fold" in summary:
        say(*(f"fold {r['fold']}: best epoch {r['epoch']}, val Dice "
              + ", ".join(f"{m} {r[m]:.3f}" for m in summary["mean"]) for r in summary["per_fold"]),
            f"mean of {len(summary['trained'])} of {summary['folds']} folds: "
            + ", ".join(f"{m} {v:.3f}" for m, v in summary["mean"].items()))
        return
    best = ", ".join(f"{k} {v:.3f}" for k, v in summary["best_dice"].items())
    console().print(f"{summary['epochs']} epochs ({summary['stopped_by']}), best epoch "
                    f"{summary['best_epoch']}: {best or 'no validation'}; "
                    f"{summary['seconds']:.0f} s on {summary['device']}; model: "
                    f"{summary['model']}")
