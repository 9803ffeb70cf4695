"""Evaluation with Grad-CAM border activation (``leg3dus evaluate --gradcam``): loading a
trained network that Grad-CAM can hook and adding the ``gradcam_*`` keys to the results
of :func:`leg3dus.metrics.batch.evaluate_paths` (the analysis itself is
:func:`leg3dus.metrics.gradcam.border_activation`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.errors import InputFileError, Leg3dusError, OptionError


def load_for_gradcam(run: str | os.PathLike):
    """A trained leg3dus network that Grad-CAM can hook: a checkpoint, or a run folder's
    best.pt (else last.pt). TorchScript files cannot be hooked."""
    from .infer import load_model

    run = Path(run)
    if run.is_dir():
        found = [run / n for n in ("best.pt", "last.pt") if (run / n).is_file()]
        if not found:
            raise InputFileError(f"{run}: no best.pt or last.pt in this run folder; Grad-CAM "
                                 "needs a checkpoint")
        run = found[0]
    model = load_model(run, "cpu")
    import torch

    if isinstance(model.net, torch.jit.ScriptModule):
        raise InputFileError(f"{run}: a TorchScript model cannot be analysed with "
                             "Grad-CAM; give the run folder or its best.pt checkpoint")
    return model


def gradcam_keys(model, image: Path, border_files: dict, layer: str | None = None) -> dict:
    """``{structure: {"gradcam_*": value}}``: the Grad-CAM activation of the background
    class on the distinct and completed borders (``border_files`` as
    :func:`leg3dus.metrics.cohort.find_borders` gives them) of ``image``, for a model
    from :func:`load_for_gradcam`."""
    from ..core.volume_io import read_volume
    from ..metrics.evaluate import nest_border_items
    from ..metrics.gradcam import border_activation

    spec = model.spec
    image_vol = read_volume(image)
    model_sp = [float(s) for s in spec.get("spacing", [1.0] * 3)]
    if any(abs(a / b - 1) > 0.05 for a, b in zip(image_vol.spacing, model_sp, strict=True)):
        raise OptionError(f"{image}: spacing {tuple(image_vol.spacing)} mm differs from the "
                          f"network's {tuple(model_sp)} mm; Grad-CAM needs the network's "
                          "grid (resample the volumes first)")
    items = []
    for part, v in border_files.items():
        for muscle, path in (v.items() if isinstance(v, dict) else [(None, v)]):
            items.append((part, muscle, read_volume(path).array))
    factor = 2 ** (len(spec["channels"]) - 1)
    act = border_activation(model.net, image_vol.array, nest_border_items(items), kind=spec["kind"],
                            context=int(spec.get("context", 0)), factor=factor,
                            target_layer=layer)
    return {name: {f"gradcam_{k}": v for k, v in row.items()} for name, row in act.items()}


def evaluate_with_gradcam(pred, truth, run: str | os.PathLike, layer: str | None = None,
                          **options):
    """:func:`leg3dus.metrics.batch.evaluate_paths` with the Grad-CAM keys of the network
    of ``run`` (a run folder or a .pt checkpoint, loaded once) added for the pair or each
    subject. A pair needs ``image`` and border volumes; a tree ``borders`` and
    ``with_image``.

    >>> evaluate_with_gradcam("pred.mha", "truth.mha", "runs/p2d", image="x1.mha",
    ...                       distinct_border=["d.mha"]).result["GM"]  # doctest: +SKIP
    """
    from ..metrics.batch import evaluate_paths

    if Path(pred).is_dir() or Path(truth).is_dir():
        if not (options.get("borders") and options.get("with_image")):
            raise OptionError("--gradcam on a tree needs --borders and --with-image")
    elif options.get("image") is None or not (options.get("distinct_border")
                                              or options.get("completed_border")):
        raise OptionError("--gradcam needs --image and --distinct-border and/or "
                          "--completed-border")
    model = load_for_gradcam(run)

    def extra(image, border_files):
        try:
            return gradcam_keys(model, image, border_files, layer)
        except Leg3dusError as exc:
            raise type(exc)(f"Grad-CAM: {exc}") from None

    return evaluate_paths(pred, truth, extra=extra, **options)
