"""Training configuration: defaults, named presets, config files (JSON or TOML) and
overrides, applied in that order (a later source wins).

A *preset* is a tested set of settings for a kind of machine (:data:`PRESETS`):
``cpu-quick`` (a small 2D U-Net that trains in minutes on a laptop CPU), ``gpu``
(a larger network and batches), and ``none`` (the bare :data:`DEFAULTS`). ``auto``
(:func:`auto_preset`) is ``gpu`` when torch sees a CUDA device, else ``cpu-quick``.

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

from ..core.errors import InputFileError, OptionError

DEFAULTS: dict = {
    "batch_size": 8,           # patches per step
    "steps_per_epoch": 100,
    "max_epochs": 50,
    "time_limit": None,        # seconds for this invocation (training stops cleanly)
    "patience": 10,            # epochs without a better validation Dice before stopping
    "lr": 1e-3,
    "lr_schedule": "poly",     # poly: lr * (1 - (epoch - 1) / max_epochs) ** 0.9; constant;
                               # poly-budget: poly over the epochs that fit the time limit
    "weight_decay": 1e-5,
    "seed": 0,
    "threads": None,           # CPU threads for torch (None: torch's default)
    "augment": True,
    "val_overlap": 0.25,       # sliding-window overlap used for validation
    "val_slice_step": 1,       # 2d: score every n-th slice only (faster epochs)
    "val_split": "val",        # split used for validation; else the last train subject
    "cache_dir": None,         # default RUN/cache
    "device_cache_mb": None,   # MB of the training cache held on the device (None: up to
                               # half the free memory; 0: cut patches on the host)
    "image_name": "x1.mha",
    "label_name": "masksX1.mha",
    "label_values": None,      # values of SOL,GM,GL in the label files, e.g. "1,2,3"
                               # (None: each file's label table, else 100,150,200)
    "sparse": False,           # train on each subject's sparse annotations (sparseX1.mha,
                               # sparseX1_slices.txt), the loss on annotated slices only
    "preset": None,            # the preset these settings started from (recorded)
    "model": {},
}

#: Learning-rate schedules: ``poly`` decays as ``(1 - (epoch - 1) / max_epochs) ** 0.9``;
#: ``poly-budget`` the same over the epochs expected to fit in the time limit when that
#: is fewer (estimated from the epochs done so far); ``constant``.
SCHEDULES = ("poly", "poly-budget", "constant")

#: Named presets: per model kind, settings over :data:`DEFAULTS` (a ``model`` table
#: overrides the model spec). ``cpu-quick`` 2d is the setting measured in
#: docs/segment.md (Dice > 0.93 on held-out phantom subjects after 6 CPU minutes).
PRESETS: dict[str, dict[str, dict]] = {
    "cpu-quick": {
        "2d": {"batch_size": 8, "steps_per_epoch": 50, "max_epochs": 50, "patience": 15,
               "lr": 2e-3, "lr_schedule": "poly-budget", "val_slice_step": 8,
               "model": {"context": 2, "patch": [1, 128, 128],
                         "channels": [8, 16, 32, 64, 128]}},
        "3d": {"batch_size": 2, "steps_per_epoch": 25, "max_epochs": 50, "patience": 15,
               "lr": 2e-3, "lr_schedule": "poly-budget",
               "model": {"patch": [32, 64, 64], "channels": [8, 16, 32, 64]}},
    },
    "gpu": {
        "2d": {"batch_size": 32, "steps_per_epoch": 100, "max_epochs": 100, "patience": 20,
               "lr": 2e-3, "lr_schedule": "poly-budget", "val_slice_step": 2,
               "model": {"context": 2, "patch": [1, 128, 128],
                         "channels": [16, 32, 64, 128, 256]}},
        "3d": {"batch_size": 4, "steps_per_epoch": 100, "max_epochs": 100, "patience": 20,
               "lr": 2e-3, "lr_schedule": "poly-budget",
               "model": {"patch": [64, 64, 64], "channels": [16, 32, 64, 128]}},
    },
    "none": {"2d": {}, "3d": {}},
}


def auto_preset(cuda: bool | None = None) -> str:
    """The preset for this machine: ``"gpu"`` when CUDA is available, else ``"cpu-quick"``.

    ``cuda`` None asks torch (a machine without torch gets ``"cpu-quick"``).

    >>> auto_preset(cuda=False), auto_preset(cuda=True)
    ('cpu-quick', 'gpu')
    """
    if cuda is None:
        try:
            import torch
        except ImportError:
            cuda = False
        else:
            cuda = bool(torch.cuda.is_available())
    return "gpu" if cuda else "cpu-quick"


def preset_settings(name: str, kind: str) -> dict:
    """The settings of preset ``name`` for a ``kind`` (``"2d"``/``"3d"``) model; ``"auto"``
    resolves with :func:`auto_preset`. Returns a new dict (with a ``model`` table).

    >>> preset_settings("cpu-quick", "2d")["model"]["channels"]
    [8, 16, 32, 64, 128]
    """
    if name == "auto":
        name = auto_preset()
    if name not in PRESETS:
        raise OptionError(f"--preset: expected one of auto, {', '.join(PRESETS)}, "
                          f"found {name!r}")
    if kind not in PRESETS[name]:
        raise OptionError(f"unknown model kind {kind!r}; expected one of "
                          f"{', '.join(PRESETS[name])}")
    chosen = json.loads(json.dumps(PRESETS[name][kind]))  # a deep copy
    return {**chosen, "preset": name, "model": chosen.get("model", {})}


def load_config(path: str | os.PathLike | None, preset: str | None = None,
                kind: str = "2d") -> dict:
    """The defaults, updated with ``preset`` (for a ``kind`` model; None: no preset) and
    then with the JSON or TOML file at ``path`` (unknown keys raise).

    >>> load_config(None)["batch_size"], load_config(None, "gpu")["batch_size"]
    (8, 32)
    """
    config = {**DEFAULTS, "model": {}}
    if preset is not None:
        config = merge(config, preset_settings(preset, kind), f"preset {preset}")
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
    if isinstance(data, dict) and "preset" in data:
        raise OptionError(f"{path}: 'preset' is chosen with --preset (or load_config's "
                          f"preset argument), not in a config file")
    return merge(config, data, str(path))


def merge(config: dict, updates: dict, source: str = "config") -> dict:
    """``config`` with ``updates`` applied; keys outside :data:`DEFAULTS` raise."""
    if not isinstance(updates, dict):
        raise OptionError(f"{source}: expected a table of settings, found "
                          f"{type(updates).__name__}")
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
    if out["lr_schedule"] not in SCHEDULES:
        raise OptionError(f"{source}: lr_schedule must be one of {', '.join(SCHEDULES)}, "
                          f"found {out['lr_schedule']!r}")
    if out["threads"] is not None and (not isinstance(out["threads"], int) or out["threads"] < 1):
        raise OptionError(f"{source}: threads must be a positive integer, found {out['threads']!r}")
    if out.get("label_values") is not None:
        from ..core.label_values import parse_label_values

        parse_label_values(str(out["label_values"]), f"{source}: label_values")
    limit = out["time_limit"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                              or not limit > 0):
        raise OptionError(f"{source}: time_limit must be positive seconds, "
                          f"found {out['time_limit']!r}")
    return out
