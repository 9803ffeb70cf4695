"""Training configuration: defaults, config files (JSON or TOML) and overrides.

Top-level keys are training settings; the ``model`` table overrides the model spec
(see :mod:`leg3dus.segment.models`). Example TOML::

    batch_size = 8
    steps_per_epoch = 100
    max_epochs = 40
    lr = 0.001
    [model]
    context = 2
    patch = [1, 128, 128]
    channels = [16, 32, 64, 128, 256]
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

from ..errors import InputFileError, OptionError

DEFAULTS: dict = {
    "batch_size": 8,           # patches per step
    "steps_per_epoch": 100,
    "max_epochs": 50,
    "time_limit": None,        # seconds for this invocation (training stops cleanly)
    "patience": 10,            # epochs without a better validation Dice before stopping
    "lr": 1e-3,
    "lr_schedule": "poly",     # poly: lr * (1 - (epoch - 1) / max_epochs) ** 0.9; or constant
    "weight_decay": 1e-5,
    "seed": 0,
    "threads": None,           # CPU threads for torch (None: torch's default)
    "augment": True,
    "val_overlap": 0.25,       # sliding-window overlap used for validation
    "val_slice_step": 1,       # 2d: score every n-th slice only (faster epochs)
    "val_split": "val",        # split used for validation; else the last train subject
    "cache_dir": None,         # default RUN/cache
    "image_name": "x1.mha",
    "label_name": "masksX1.mha",
    "model": {},
}


def load_config(path: str | os.PathLike | None) -> dict:
    """The defaults updated with the JSON or TOML file at ``path`` (unknown keys raise)."""
    config = {**DEFAULTS, "model": {}}
    if path is None:
        return config
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such config file")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise OptionError(f"{path}: config files end in .json or .toml")
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InputFileError(f"{path}: cannot parse the config: {exc}") from None
    return merge(config, data, str(path))


def merge(config: dict, updates: dict, source: str = "config") -> dict:
    """``config`` with ``updates`` applied; keys outside :data:`DEFAULTS` raise."""
    unknown = sorted(set(updates) - set(DEFAULTS))
    if unknown:
        raise OptionError(f"{source}: unknown setting(s) {', '.join(unknown)}; expected "
                          f"some of {', '.join(DEFAULTS)}")
    out = {**config, **{k: v for k, v in updates.items() if k != "model"}}
    if "model" in updates:
        if not isinstance(updates["model"], dict):
            raise OptionError(f"{source}: 'model' must be a table of model settings")
        out["model"] = {**config.get("model", {}), **updates["model"]}
    for key in ("batch_size", "steps_per_epoch", "max_epochs", "patience", "val_slice_step"):
        if not isinstance(out[key], int) or out[key] < 1:
            raise OptionError(f"{source}: {key} must be a positive integer, found {out[key]!r}")
    if out["lr_schedule"] not in ("poly", "constant"):
        raise OptionError(f"{source}: lr_schedule must be 'poly' or 'constant', "
                          f"found {out['lr_schedule']!r}")
    if out["threads"] is not None and (not isinstance(out["threads"], int) or out["threads"] < 1):
        raise OptionError(f"{source}: threads must be a positive integer, found {out['threads']!r}")
    if out["time_limit"] is not None and float(out["time_limit"]) <= 0:
        raise OptionError(f"{source}: time_limit must be positive seconds, "
                          f"found {out['time_limit']!r}")
    return out
