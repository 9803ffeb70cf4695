"""Grad-CAM border activation for ``leg3dus evaluate --gradcam``: loading a trained
network that Grad-CAM can hook and adding the ``gradcam_*`` keys to results (the analysis
itself is :func:`leg3dus.metrics.gradcam.border_activation`)."""

from __future__ import annotations

from pathlib import Path

from ....core.errors import OptionError


def load_for_gradcam(run: Path):
    """A trained leg3dus network that Grad-CAM can hook: a checkpoint, or a run folder's
    best.pt (else last.pt). TorchScript files cannot be hooked."""
    from ....core.errors import InputFileError
    from ....segment.infer import load_model

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


def add_gradcam(run, image: Path, border_files: dict, layer: str | None,
             result: dict) -> None:
    """Add the Grad-CAM border activation keys (gradcam_*) to ``result``; ``run`` is a
    path or a model from :func:`load_for_gradcam`."""
    from ....core.volume_io import read_volume
    from ....metrics.evaluate import _rebuild
    from ....metrics.gradcam import border_activation

    model = load_for_gradcam(run) if isinstance(run, Path) else run
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
    act = border_activation(model.net, image_vol.array, _rebuild(items), kind=spec["kind"],
                            context=int(spec.get("context", 0)), factor=factor,
                            target_layer=layer)
    for name, row in act.items():
        result[name].update({f"gradcam_{k}": v for k, v in row.items()})


def add_gradcam_rows(run: Path, layer: str | None, rows: list[dict], subjects: dict) -> None:
    """Grad-CAM keys for every evaluated subject of a tree (one model, loaded once); a
    subject whose analysis fails becomes a failed row."""
    from ....core.errors import Leg3dusError
    from ....metrics.cohort import find_borders

    model = load_for_gradcam(run)
    for k, row in enumerate(rows):
        if "error" in row:
            continue
        s = subjects[(row["split"], row["id"])]
        try:
            add_gradcam(model, s.image, find_borders(s), layer, row)
        except Leg3dusError as exc:
            rows[k] = {key: row[key] for key in ("split", "id", "prediction")}
            rows[k]["error"] = f"Grad-CAM: {exc}"
