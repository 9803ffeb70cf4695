"""Subject adaptation: fine-tune a trained network on a few annotated slices of a new
subject, then segment the whole volume with it (the idea of IFSS-Net, few-shot
propagation).

The annotation is a sparse label volume on the image's grid (z, y, x): the annotated
transverse slices (axis 0) hold labels 0/100/150/200, the others are ignored. An
annotated slice may be empty when the list of annotated slices is given explicitly: it
then says that no muscle is there. The network is tuned on patches drawn from the
annotated slices only (class-balanced, with training's augmentation), with a loss that
counts only annotated voxels, so a 3d model (whose patches span non-annotated slices) is
tuned on exactly what is known. The annotated slices are written back as drawn after
prediction: the annotation wins on its slices.

Tuning and prediction use the image's own grid: the annotation lives on it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..core import labels as lab
from ..core.annotated import annotated_indices
from ..core.errors import GeometryError, InputFileError, LabelError, OptionError
from ..core.volume import Volume
from . import require_seg
from .cache import IGNORE, CachedSubject
from .data import PatchSampler, as_uint8, augment_batch
from .infer import LoadedModel, default_device, load_model, predict

torch, monai = require_seg()

#: Patch centres kept per class (a random subset of the annotated voxels).
CENTRES_PER_CLASS = 20_000


def load_trainable(path: str | os.PathLike, device: str | None = None) -> LoadedModel:
    """A model that can be fine-tuned: a checkpoint (``.pt``) or a run folder's
    ``best.pt`` (else ``last.pt``).

    A TorchScript file (``model.ts``) holds a traced network that cannot be trained;
    it raises :class:`InputFileError` saying what to give instead.

    >>> model = load_trainable("runs/p2d")  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_dir():
        for name in ("best.pt", "last.pt"):
            if (path / name).is_file():
                return load_trainable(path / name, device)
        if (path / "model.ts").is_file():
            raise InputFileError(f"{path}: holds only model.ts (TorchScript), which cannot "
                                 f"be fine-tuned; adaptation needs best.pt or last.pt")
        raise InputFileError(f"{path}: no best.pt or last.pt in this run folder")
    model = load_model(path, device)
    check_trainable(model)
    return model


def check_trainable(model: LoadedModel) -> None:
    """Raise :class:`InputFileError` if ``model`` is TorchScript (not trainable)."""
    if isinstance(model.net, torch.jit.ScriptModule):
        raise InputFileError(f"{model.source}: a TorchScript model cannot be fine-tuned; "
                             f"give the run folder or its best.pt checkpoint")


def check_annotation(sparse: Volume | np.ndarray, image: Volume | np.ndarray,
                     annotated: Iterable[int] | None = None,
                     source: str = "annotation") -> tuple[np.ndarray, np.ndarray]:
    """Check a sparse annotation against its image; return ``(indices, classes)``.

    ``indices`` are the annotated slices along axis 0 (sorted): every slice holding a
    label, or ``annotated`` when given (then a listed slice may be empty, and a label
    on a slice not listed is an error). ``classes`` (uint8, (z, y, x)) holds the classes
    0..3 on the annotated slices and :data:`IGNORE` elsewhere.

    Raises :class:`GeometryError` when the grids differ (no resampling is done),
    :class:`LabelError` for values outside {0, 100, 150, 200} or no annotated slice, and
    :class:`OptionError` for slice indices out of range.
    """
    if isinstance(sparse, Volume) and isinstance(image, Volume):
        problems = sparse.geometry.matches(image.geometry)
        if problems:
            raise GeometryError(f"{source}: its grid differs from the image's "
                                f"({'; '.join(problems)}); give labels on the image's grid")
    labels = sparse.array if isinstance(sparse, Volume) else np.asarray(sparse)
    shape = image.shape if isinstance(image, Volume) else np.shape(image)
    if labels.shape != tuple(shape):
        raise GeometryError(f"{source}: shape {labels.shape} differs from the image's "
                            f"{tuple(shape)}")
    try:
        classes_all = lab.to_index(labels)
    except LabelError as exc:
        raise LabelError(f"{source}: {exc}") from None
    try:
        idx = annotated_indices(labels, annotated)
    except (OptionError, LabelError) as exc:
        raise type(exc)(f"{source}: {exc}") from None
    if idx.size == 0:
        raise LabelError(f"{source}: no annotated slice (the label volume holds only "
                         f"background); annotate some slices or list them with --annotated")
    classes = np.full(labels.shape, IGNORE, np.uint8)
    classes[idx] = classes_all[idx]
    return idx, classes


def masked_dice_ce(logits, target, ignore: int = IGNORE):
    """Dice + cross-entropy of ``logits`` (B, K, ...) against classes ``target``
    (B, 1, ...), counting only voxels whose class is not ``ignore``.

    Without ignored voxels it equals MONAI's ``DiceCELoss(to_onehot_y=True,
    softmax=True)`` (Dice per sample and class, smoothing 1e-5, then the mean).
    """
    k = logits.shape[1]
    valid = (target != ignore)
    t = torch.where(valid, target, torch.zeros_like(target))[:, 0]
    w = valid.to(logits.dtype)
    log_p = torch.log_softmax(logits, dim=1)
    nll = -log_p.gather(1, t[:, None]) * w
    ce = nll.sum() / w.sum().clamp_min(1.0)
    p = log_p.exp() * w
    onehot = torch.nn.functional.one_hot(t, k).movedim(-1, 1).to(logits.dtype) * w
    dims = tuple(range(2, logits.dim()))
    inter = (p * onehot).sum(dims)
    denom = p.sum(dims) + onehot.sum(dims)
    dice = 1.0 - (2.0 * inter + 1e-5) / (denom + 1e-5)
    return dice.mean() + ce


def _sampler(image: np.ndarray, classes: np.ndarray, idx: np.ndarray, spec: dict,
             rng: np.random.Generator) -> PatchSampler:
    """A PatchSampler whose patch centres lie on the annotated slices, balanced over
    the classes drawn there (background only inside the scanned region)."""
    samples = {}
    sub_c, sub_i = classes[idx], image[idx]
    for k in range(len(lab.MUSCLES) + 1):
        mask = (sub_c == k) & (sub_i > 0) if k == 0 else sub_c == k
        where = np.argwhere(mask)
        if len(where) == 0:
            continue
        if len(where) > CENTRES_PER_CLASS:
            where = where[np.sort(rng.choice(len(where), CENTRES_PER_CLASS, replace=False))]
        where[:, 0] = idx[where[:, 0]]
        samples[k] = where.astype(np.int32)
    if not samples:
        raise LabelError("the annotated slices hold no muscle and no image (all zero)")
    subject = CachedSubject("adapt", image, classes, (1.0, 1.0, 1.0), samples)
    return PatchSampler([subject], spec)


def annotated_loss(model: LoadedModel, image: np.ndarray, classes: np.ndarray,
                   idx: Iterable[int], *, batch_size: int = 8) -> float:
    """Mean Dice + cross-entropy (:func:`masked_dice_ce`) of ``model`` on the annotated
    slices ``idx`` of ``image`` (uint8, (z, y, x)) against ``classes`` (from
    :func:`check_annotation`).

    Windows of the model's size tile each annotated slice in-plane (for a 3d model they
    are centred on the slice along axis 0 and only annotated voxels count); windows whose
    image is all zero are skipped. No augmentation: a fixed measure to compare models,
    e.g. before and after :func:`adapt`.
    """
    from .data import extract
    from .infer import window_starts

    spec = model.spec
    patch, context = [int(p) for p in spec["patch"]], int(spec.get("context", 0))
    ny, nx = image.shape[1:]
    starts = [(int(z), y, x) for z in idx for y in window_starts(ny, patch[1], 0.0)
              for x in window_starts(nx, patch[2], 0.0)]
    total, count = 0.0, 0
    with torch.inference_mode():
        for a in range(0, len(starts), batch_size):
            xs, ys = [], []
            for z, y, x in starts[a:a + batch_size]:
                if spec["kind"] == "2d":
                    tile = extract(image, (z, y, x), patch, context=context)
                    target = extract(classes, (z, y, x), patch)
                else:
                    start = (z - patch[0] // 2, y, x)
                    tile = extract(image, start, patch)[None]
                    target = extract(classes, start, patch)
                if tile.any():
                    xs.append(tile)
                    ys.append(target)
            if not xs:
                continue
            x_t = torch.from_numpy(np.stack(xs)).to(model.device, torch.float32) / 255.0
            y_t = torch.from_numpy(np.stack(ys).astype(np.int64)[:, None]).to(model.device)
            if spec["kind"] == "2d":
                y_t = y_t[:, :, 0]
            total += float(masked_dice_ce(model.net(x_t), y_t)) * len(xs)
            count += len(xs)
    return total / max(count, 1)


def adapt(model: LoadedModel, image: Volume | np.ndarray, sparse: Volume | np.ndarray, *,
          annotated: Iterable[int] | None = None, steps: int = 200, lr: float = 2e-4,
          batch_size: int = 8, augment: bool = True, seed: int = 0,
          device: str | None = None, source: str = "annotation",
          log: Callable[[str], None] | None = None, image_source: str = "image",
          progress: Callable[[str, int, int], None] | None = None) -> LoadedModel:
    """Fine-tune a copy of ``model`` on the annotated slices of one subject.

    Parameters
    ----------
    model
        A trainable model (:func:`load_trainable`; TorchScript is refused), 2d or 3d.
    image
        The subject's B-mode volume (uint8, (z, y, x)).
    sparse
        Labels 0/100/150/200 on the image's grid, on the annotated slices along axis 0
        (checked by :func:`check_annotation`).
    annotated
        The annotated slices; default: every slice holding a label.
    steps, lr, batch_size
        AdamW steps at a constant learning rate, patches per step.
    augment
        Training's augmentation (:func:`leg3dus.segment.data.augment_batch`).
    seed
        Seeds patch positions and augmentation: the same seed gives the same weights.
    source, image_source
        Names of the annotation and the image (their files) in error messages.
    log, progress
        Called with a line every 50 steps, and as ``progress("adapting", step, steps)``.

    Returns
    -------
    A new :class:`LoadedModel` (eval mode) with the tuned weights; ``model`` is unchanged.

    Examples
    --------
    >>> tuned = adapt(load_trainable("runs/p2d"), image, sparse, steps=200)  # doctest: +SKIP
    >>> labels = predict(image, tuned, resample=False)                       # doctest: +SKIP
    """
    return _adapt(model, image, sparse, annotated, steps, lr, batch_size, augment, seed,
                  device, source, log, image_source, progress)[0]


def _adapt(model, image, sparse, annotated, steps, lr, batch_size, augment, seed, device,
           source, log, image_source="image", progress=None) -> tuple[LoadedModel, np.ndarray]:
    check_trainable(model)
    if int(steps) < 0:
        raise OptionError(f"adaptation steps must be 0 or more, found {steps}")
    if not lr > 0:
        raise OptionError(f"adaptation learning rate must be positive, found {lr}")
    array = image.array if isinstance(image, Volume) else np.asarray(image)
    array = as_uint8(array, image_source)
    idx, classes = check_annotation(sparse, image, annotated, source)
    device = device or model.device or default_device()
    spec = model.spec
    rng = np.random.default_rng(seed)
    sampler = _sampler(array, classes, idx, spec, rng)
    net = copy.deepcopy(model.net).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=float(lr), weight_decay=1e-5)
    net.train()
    say = log or (lambda _m: None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(int(steps)):
            if progress is not None:
                progress("adapting", step, int(steps))
            x, y = map(torch.from_numpy, sampler.batch(int(batch_size), rng))
            if augment:
                x, y = augment_batch(x, y, rng, spec["kind"])
            loss = masked_dice_ce(net(x.to(device)), y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if (step + 1) % 50 == 0:
                say(f"adaptation step {step + 1}/{steps}: loss {float(loss.detach()):.4f}")
    net.eval()
    return LoadedModel(net, spec, f"{model.source} adapted to {len(idx)} slices", device), idx


def predict_adapted(image: Volume, model: LoadedModel, sparse: Volume, *,
                    annotated: Iterable[int] | None = None, steps: int = 200,
                    lr: float = 2e-4, batch_size: int = 8, augment: bool = True,
                    seed: int = 0, source: str = "annotation",
                    log: Callable[[str], None] | None = None, image_source: str = "image",
                    progress: Callable[[str, int, int], None] | None = None,
                    **predict_options) -> Volume:
    """Adapt ``model`` to the annotated slices (:func:`adapt`), segment the whole
    ``image`` with the tuned weights at the image's own spacing, and write the
    annotated slices back as drawn (the annotation wins there).

    ``predict_options`` go to :func:`leg3dus.segment.infer.predict` (``tta``, ``lcc``,
    ``overlap``, ``slab``, ``min_island_cm3``, ``mask_outside_scan``); ``resample`` is
    ignored (tuning happened on this grid).
    Returns labels 0/100/150/200 (uint8) with the image's geometry.

    >>> labels = predict_adapted(read_volume("x1.mha"), load_trainable("runs/p2d"),
    ...                          read_volume("sparse.mha"), steps=200)  # doctest: +SKIP
    """
    tuned, idx = _adapt(model, image, sparse, annotated, steps, lr, batch_size, augment,
                        seed, None, source, log, image_source, progress)
    predict_options.pop("resample", None)
    out = predict(image, tuned, resample=False, source=image_source, progress=progress,
                  **predict_options)
    labels = sparse.array if isinstance(sparse, Volume) else np.asarray(sparse)
    array = out.array if isinstance(out, Volume) else out
    array[idx] = labels[idx].astype(np.uint8)
    return out
