"""Training a segmentation network into a run folder.

A run folder holds ``config.json`` (settings and model spec), ``last.pt`` (written at the
end of every epoch: weights, optimizer state, epoch, history), ``best.pt`` (best mean
validation Dice), ``log.csv`` (per epoch: loss, validation Dice per muscle, seconds),
``curves.png`` and, at the end, ``model.ts`` (TorchScript of the best weights).

Each epoch's random streams (patch positions, augmentation, torch) are seeded from
``(seed, epoch)``, so a run resumed from ``last.pt`` continues exactly as an
uninterrupted run would.

The training cache is held on the training device when it fits (``device_cache_mb``,
default half the free memory), and patches are cut and augmented there
(:mod:`.device_data`, :mod:`.epoch`); otherwise they are cut on the host from the
memory-mapped cache, with the same draws and the same batches.

A time limit is checked before every step: training stops inside the epoch when the
budget is spent, keeping back the time the last validation and checkpoint took, so the
run ends close to the limit; the partial epoch is validated, saved and logged with its
step count.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.atomic import atomic_path
from ..core.errors import InputFileError, OptionError
from ..core.layout import find_subjects
from . import require_seg
from .cache import CachedSubject, cache_dir_for, cache_subject
from .config import merge
from .device_data import check_limit, choose_patches, draw_epoch
from .epoch import noise_generator, run_epoch
from .export import export_torchscript
from .infer import LoadedModel, default_device, read_checkpoint, sliding_window
from .models import build_model, check_spec, default_spec

torch, monai = require_seg()

#: The clock of time limits (a module attribute so tests can replace it).
_now = time.monotonic

#: ``progress(description, done, total)``: called as work advances (e.g. to draw a bar).
Progress = Callable[[str, int, int], None]

MUSCLE_NAMES = [m.name for m in lab.MUSCLES]
LOG_FIELDS = ["epoch", "steps", "loss", *[f"dice_{n}" for n in MUSCLE_NAMES], "dice_mean",
              "lr", "seconds"]


def split_subjects(data, config: dict):
    """(train, val) subjects of the tree ``data``; val is ``config['val_split']`` or, when
    that split is empty, the last train subject."""
    found = [s for s in find_subjects(data, config["image_name"], config["label_name"])
             if s.image is not None]
    subjects = [s for s in found if s.label is not None]
    # Sparse training needs an image and its sparse annotations (checked when cached).
    train = [s for s in (found if config.get("sparse") else subjects)
             if s.split in ("train", "")]
    val = [s for s in subjects if s.split == config["val_split"]]
    if not val and len(train) > 1:
        train, val = train[:-1], train[-1:]
    if not train:
        raise InputFileError(f"{data}: no training subjects with both "
                             f"{config['image_name']} and {config['label_name']}")
    return train, val


def sparse_files(subject) -> tuple[Path, list[int] | str]:
    """A subject's sparse annotations beside its image: the labels file and the annotated
    slices (from ``sparseX1_slices.txt``, else the slices that hold labels);
    :class:`InputFileError` when the annotations are missing."""
    from ..core.annotated import parse_annotated
    from ..core.layout import SLICES_NAME, SPARSE_NAME

    folder = Path(subject.image).parent
    labels, slices = folder / SPARSE_NAME, folder / SLICES_NAME
    if not labels.is_file():
        raise InputFileError(f"{labels}: no sparse annotations for subject {subject.key} "
                             f"(sparse training reads {SPARSE_NAME} and {SLICES_NAME})")
    return labels, (parse_annotated(slices) if slices.is_file() else "labels")


def dice_per_muscle(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice of each muscle between two class volumes (0..3), by :func:`leg3dus.metrics.dice`
    (1 when the muscle is absent from both)."""
    from ..metrics import dice

    return {m.name: dice(pred == m.index, truth == m.index) for m in lab.MUSCLES}


def validate(net, spec: dict, subjects: list[CachedSubject], device: str,
             overlap: float, slice_step: int = 1,
             progress: Progress | None = None) -> dict[str, float]:
    """Mean Dice per muscle over ``subjects`` (whole volumes, sliding window; a 2d model
    can be scored on every ``slice_step``-th slice only, which it predicts independently)."""
    if not subjects:
        return {n: float("nan") for n in MUSCLE_NAMES}
    net.eval()
    model = LoadedModel(net, spec, "training", device)
    scores = {n: [] for n in MUSCLE_NAMES}
    for i, s in enumerate(subjects):
        if progress is not None:
            progress("validating", i, len(subjects))
        zs = np.arange(0, s.image.shape[0], slice_step if spec["kind"] == "2d" else 1)
        pred = sliding_window(s.image, model, overlap=overlap, slab=64, z_indices=zs)
        for name, value in dice_per_muscle(pred[zs], np.asarray(s.classes[zs])).items():
            if name in scores and np.isfinite(value):
                scores[name].append(value)
    return {n: float(np.mean(v)) if v else float("nan") for n, v in scores.items()}


def budget_horizon(epoch: int, max_epochs: float, timed: int, elapsed_s: float,
                   remaining_s: float) -> float:
    """The epoch count a ``poly-budget`` schedule decays over: ``max_epochs``, or fewer
    when the time left (``remaining_s``) fits fewer epochs at the pace of the ``timed``
    epochs done so far (``elapsed_s``). Always more than ``epoch - 1``.

    >>> budget_horizon(5, 50, 4, 40.0, 60.0)   # 10 s per epoch, 6 more fit: 4 + 6 + 1
    11.0
    >>> budget_horizon(5, 50, 4, 40.0, 1e6)
    50.0
    """
    fit = max(remaining_s, 0.0) / max(elapsed_s / timed, 1e-9)
    return float(min(max_epochs, (epoch - 1) + fit + 1))


def _save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, str(tmp))


def _write_log(history: list[dict], run: Path) -> None:
    with atomic_path(run / "log.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, LOG_FIELDS)
        writer.writeheader()
        for row in history:
            writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k])
                             for k in LOG_FIELDS})
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [r["loss"] for r in history], "k-o", ms=3)
    ax1.set(xlabel="epoch", ylabel="training loss (Dice + CE)")
    for m in lab.MUSCLES:
        ax2.plot(epochs, [r[f"dice_{m.name}"] for r in history], "-o", ms=3,
                 color=np.asarray(m.color) / 255, label=m.name)
    ax2.set(xlabel="epoch", ylabel="validation Dice", ylim=(0, 1))
    ax2.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(run / "curves.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def _prepare(data, kind: str, run: Path, config: dict, resume: bool,
             overrides: dict) -> tuple[dict, dict, dict | None]:
    last = run / "last.pt"
    if resume:
        if not last.is_file():
            raise InputFileError(f"{run}: nothing to resume (no last.pt)")
        ckpt = read_checkpoint(last)
        if ckpt["spec"].get("kind") != kind:
            raise OptionError(f"{last}: checkpoint of a {ckpt['spec'].get('kind')} model, "
                              f"but --model {kind} was asked")
        try:
            saved = json.loads((run / "config.json").read_text())["config"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputFileError(f"{run / 'config.json'}: cannot read the run's settings "
                                 f"({type(exc).__name__}); expected the config.json that "
                                 "training wrote") from None
        return merge(saved, overrides, "options"), ckpt["spec"], ckpt
    if last.exists() or (run / "model.ts").exists():
        raise OptionError(f"{run}: already holds a training run; use --resume to continue "
                          f"it or choose another --out")
    config = merge(config, overrides, "options")
    spec = check_spec({**default_spec(kind), **config["model"], "kind": kind}, "model config")
    return config, spec, None


def train(data: str | os.PathLike, kind: str, run: str | os.PathLike, config: dict,
          resume: bool = False, overrides: dict | None = None,
          log: Callable[[str], None] | None = None,
          progress: Progress | None = None, subjects: tuple[list, list] | None = None) -> dict:
    """Train a ``kind`` (``"2d"``/``"3d"``) model on the tree ``data`` into folder ``run``.

    Parameters
    ----------
    data
        A LEG-3D-US tree; the ``train`` split trains, ``val`` validates (see
        :func:`split_subjects`). ``test`` is never read.
    config
        From :func:`leg3dus.segment.config.load_config`.
    resume
        Continue from ``run/last.pt`` (same model kind), with the saved settings updated
        by ``overrides`` (e.g. a larger ``max_epochs``).
    overrides
        Settings that win over ``config`` (the command's options).
    log
        Called with one line per epoch.
    progress
        Called as ``progress("epoch N", step, steps_per_epoch)`` before each step and
        ``progress("validating", i, n)`` before each validation subject.
    subjects
        ``(train, val)`` subjects instead of the tree's splits (a cross-validation fold,
        :func:`leg3dus.segment.crossval.train_folds`).

    Returns
    -------
    A summary: epochs run (a partial epoch cut by the time limit counts), steps of the
    last epoch, stop reason, best epoch, best Dice per muscle, preset, paths.

    Examples
    --------
    >>> train("phantom", "2d", "runs/p2d", load_config(None),
    ...       overrides={"max_epochs": 30, "time_limit": 840})  # doctest: +SKIP
    """
    t_start = _now()
    run = Path(run)
    say = log or (lambda _m: None)
    config, spec, ckpt = _prepare(data, kind, run, config, resume, overrides or {})
    check_limit(config.get("device_cache_mb"))
    train_s, val_s = subjects if subjects is not None else split_subjects(data, config)
    cache = cache_dir_for(run, config)
    say(f"caching {len(train_s) + len(val_s)} subjects in {cache}")
    lv = config.get("label_values")
    if config.get("sparse"):
        train_c = []
        for s in train_s:
            labels, annotated = sparse_files(s)
            train_c.append(cache_subject(s.key.replace("/", "-"), s.image, labels, cache, lv,
                                         annotated=annotated))
    else:
        train_c = [cache_subject(s.key.replace("/", "-"), s.image, s.label, cache, lv)
                   for s in train_s]
    val_c = [cache_subject(s.key.replace("/", "-"), s.image, s.label, cache, lv)
             for s in val_s]
    if ckpt is None:
        spec["spacing"] = [float(v) for v in np.mean([s.spacing for s in train_c], axis=0)]
        run.mkdir(parents=True, exist_ok=True)
        with atomic_path(run / "config.json") as tmp:
            tmp.write_text(json.dumps({"config": config, "spec": spec}, indent=2))
    device = default_device()
    if config["threads"]:
        torch.set_num_threads(int(config["threads"]))
    seed = int(config["seed"])
    torch.manual_seed(seed)
    net = build_model(spec).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config["lr"],
                            weight_decay=config["weight_decay"])
    state = {"epoch": 0, "history": [], "best": -1.0, "best_epoch": 0, "bad": 0}
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = {k: ckpt[k] for k in state}
    if config.get("sparse"):
        from .adapt import masked_dice_ce as loss_fn
    else:
        from monai.losses import DiceCELoss

        loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    patches = choose_patches(train_c, spec, device, config.get("device_cache_mb"), say)
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True
    limit = config["time_limit"]
    deadline = t_start + float(limit) if limit else None
    reserve = 0.0  # seconds the last validation and checkpoint took
    stop = "max_epochs"
    steps, batch = int(config["steps_per_epoch"]), int(config["batch_size"])
    timed, t_first = 0, _now()  # epochs run by this call, and when the first began
    for epoch in range(state["epoch"] + 1, int(config["max_epochs"]) + 1):
        t_epoch = _now()
        rng = np.random.default_rng([seed, epoch])
        torch.manual_seed(seed * 100_003 + epoch)
        if config["lr_schedule"] != "constant":
            horizon = float(config["max_epochs"])
            if config["lr_schedule"] == "poly-budget" and deadline is not None and timed:
                horizon = budget_horizon(epoch, horizon, timed, t_epoch - t_first,
                                         deadline - t_epoch)
            for group in opt.param_groups:
                group["lr"] = config["lr"] * (1 - (epoch - 1) / horizon) ** 0.9
        net.train()
        draws = draw_epoch(rng, train_c, spec, steps, batch, bool(config["augment"]))
        loss, done = run_epoch(
            net, opt, loss_fn, patches, draws, steps, batch,
            generator=noise_generator(device, seed, epoch),
            stop=None if deadline is None else (lambda r=reserve: _now() + r >= deadline),
            progress=None if progress is None else
            (lambda step, e=epoch: progress(f"epoch {e}", step, steps)))
        if done < steps:
            stop = "time_limit"
        if not done:
            break
        t_check = _now()
        dice = validate(net, spec, val_c, device, float(config["val_overlap"]),
                        int(config["val_slice_step"]), progress)
        finite = [v for v in dice.values() if np.isfinite(v)]
        mean = float(np.mean(finite)) if finite else float("nan")
        row = {"epoch": epoch, "steps": done, "loss": loss,
               **{f"dice_{n}": dice[n] for n in MUSCLE_NAMES}, "dice_mean": mean,
               "lr": float(opt.param_groups[0]["lr"]),
               "seconds": _now() - t_epoch}
        state["history"].append(row)
        state["epoch"] = epoch
        partial = f", {done} of {steps} steps" if done < steps else ""
        say(f"epoch {epoch}: loss {row['loss']:.4f}, val Dice "
            + ", ".join(f"{n} {dice[n]:.3f}" for n in MUSCLE_NAMES)
            + f" ({row['seconds']:.0f} s{partial})")
        improved = (np.isfinite(mean) and mean > state["best"] + 1e-4) or not val_c
        if improved:
            state.update(best=mean if np.isfinite(mean) else state["best"],
                         best_epoch=epoch, bad=0)
            _save({"spec": spec, "model": net.state_dict(), "epoch": epoch}, run / "best.pt")
        else:
            state["bad"] += 1
        _save({"spec": spec, "model": net.state_dict(), "optimizer": opt.state_dict(),
               **state}, run / "last.pt")
        _write_log(state["history"], run)
        reserve = _now() - t_check
        timed += 1
        if stop == "time_limit":
            break
        if state["bad"] >= int(config["patience"]):
            stop = "early_stopping"
            break
    best = run / "best.pt"
    if best.is_file():
        net.load_state_dict(read_checkpoint(best)["model"])
        export_torchscript(net, spec, run / "model.ts")
    best_row = next((r for r in state["history"] if r["epoch"] == state["best_epoch"]), None)
    last_row = state["history"][-1] if state["history"] else None
    return {"run": str(run), "kind": kind, "preset": config.get("preset"),
            "epochs": state["epoch"], "stopped_by": stop,
            "last_epoch_steps": last_row["steps"] if last_row else 0,
            "steps_per_epoch": steps, "best_epoch": state["best_epoch"],
            "best_dice": {n: best_row[f"dice_{n}"] for n in MUSCLE_NAMES} if best_row else {},
            "seconds": _now() - t_start, "device": device,
            "model": str(run / "model.ts") if best.is_file() else None}
