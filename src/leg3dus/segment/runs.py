"""Run folders from options, as ``leg3dus train`` and ``leg3dus export-model`` use them:
training with a preset, a settings file and overrides (checked before any work), and
exporting a trained model as a MONAI bundle or a TorchScript file."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from ..core.errors import OptionError, OutputError

#: What a trained model can be exported as (``export_model``'s ``to``).
EXPORT_TARGETS = ("monai-bundle", "torchscript", "onnx")


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
    from ..core.atomic import check_output_folder
    from ..core.layout import find_subjects

    read = [data, config, *(p for s in (find_subjects(data) if data.is_dir() else [])
                            for p in (s.image, s.label) if p is not None)]
    check_output_folder(out, read)


def train_run(data: str | os.PathLike, kind: str, out: str | os.PathLike, *,
              preset: str | None = None, config: str | os.PathLike | None = None,
              max_epochs: int | None = None, time_limit: str | float | None = None,
              seed: int | None = None, resume: bool = False, label_values: str | None = None,
              folds: int | None = None, fold: str | None = None, sparse: bool = False,
              splits: str | os.PathLike | None = None,
              log: Callable[[str], None] | None = None, progress=None) -> dict:
    """Train a ``kind`` network (:data:`leg3dus.segment.models.KINDS`) on the tree ``data``
    into the run folder ``out`` (:func:`leg3dus.segment.train.train`).

    Settings: the ``preset`` (default: ``gpu`` when torch sees CUDA, else ``cpu-quick``),
    updated by the ``config`` file, then by ``max_epochs``, ``time_limit`` (seconds or
    text such as ``"15m"``), ``seed`` and ``label_values``. A resumed run keeps its saved
    settings (only the stop options and the seed may change). ``log`` gets the preset
    line and one line per epoch. Returns the training summary.

    ``sparse`` trains on each training subject's sparse annotations (``sparseX1.mha``
    and ``sparseX1_slices.txt`` beside its image), the loss counting annotated slices
    only. With ``folds`` (K), ``fold`` (an index or ``"all"``) or ``splits`` (nnU-Net's
    ``splits_final.json``), ``out`` is a cross-validation run
    (:func:`leg3dus.segment.crossval.train_folds`) and the summary is its fold table.

    >>> train_run("phantom", "2d", "runs/p2d", time_limit="15m")  # doctest: +SKIP
    """
    from . import require_seg

    require_seg()
    from ..core.label_values import from_option
    from .config import auto_preset, load_config
    from .models import KINDS
    from .train import train

    data, out = Path(data), Path(out)
    config = Path(config) if config is not None else None
    if kind not in KINDS:
        raise OptionError(f"--model: expected one of {', '.join(KINDS)}, found {kind!r}")
    _check_run_folder(out, data, config)
    from_option(label_values)  # a malformed --label-values fails before any work
    overrides = {k: v for k, v in (("max_epochs", max_epochs),
                                   ("time_limit", parse_duration(time_limit)
                                    if isinstance(time_limit, str) else time_limit),
                                   ("seed", seed), ("label_values", label_values),
                                   ("sparse", True if sparse else None))
                 if v is not None}
    for option, given in (("--config", config), ("--label-values", label_values),
                          ("--preset", preset)):
        if resume and given is not None:
            raise OptionError(f"{option} cannot change a resumed run; its settings are in "
                              f"{out / 'config.json'}")
    chosen = preset or auto_preset()
    base = load_config(config, preset=chosen, kind=kind)
    if log is not None and not resume:
        why = "" if preset else (" (a CUDA device is visible)" if chosen == "gpu"
                                 else " (no CUDA device; choose with --preset)")
        log(f"preset {chosen}{why}" + (f", updated by {config}" if config else ""))
    if folds is not None or fold is not None or splits is not None:
        from .crossval import train_folds

        return train_folds(data, kind, out, base, n_folds=folds, fold=fold, splits=splits,
                           resume=resume, overrides=overrides, log=log, progress=progress)
    return train(data, kind, out, base, resume=resume, overrides=overrides, log=log,
                 progress=progress)


def export_model(model: str | os.PathLike, out: str | os.PathLike,
                 to: str = "monai-bundle", name: str = "leg3dus_calf",
                 overwrite: bool = False) -> dict:
    """Export the trained model ``model`` (a run folder, model.ts or .pt) as a MONAI
    bundle ``out/name``, the TorchScript file ``out`` or the ONNX file ``out``
    (:data:`EXPORT_TARGETS`); the
    output appears only once complete. Returns ``{"model", "to", "output", "kind"}``.

    >>> export_model("runs/r2d", "bundles", name="calf2d")["output"]  # doctest: +SKIP
    'bundles/calf2d'
    """
    from ..core.atomic import check_not_input

    model, out = Path(model), Path(out)
    if to not in EXPORT_TARGETS:
        raise OptionError(f"--to must be one of {', '.join(EXPORT_TARGETS)}, found {to!r}")
    from .export import export_monai_bundle, export_onnx, export_torchscript
    from .infer import load_model

    target = out / name if to == "monai-bundle" else out
    suffix = {"torchscript": ".ts", "onnx": ".onnx"}.get(to)
    if suffix and out.suffix != suffix:
        raise OptionError(f"{out}: expected a {to} file name ending in {suffix}")
    if suffix and out.exists() and not overwrite:
        raise OutputError(f"{out}: already exists; choose another name or pass --overwrite")
    check_not_input(target, [model])
    loaded = load_model(model, device="cpu")
    if to == "monai-bundle":
        written = export_monai_bundle(loaded, out, name, overwrite=overwrite)
    else:
        from .models import build_model

        net = build_model(loaded.spec)
        net.load_state_dict(loaded.net.state_dict())
        export = export_torchscript if to == "torchscript" else export_onnx
        written = export(net, loaded.spec, out)
    return {"model": str(model), "to": to, "output": str(written), "kind": loaded.spec["kind"]}
