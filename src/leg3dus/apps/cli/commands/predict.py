"""``leg3dus predict``: apply a trained network to a volume or to every subject of a tree."""

from __future__ import annotations

from pathlib import Path

import typer

from ....dataset import LABEL_NAME
from ..app import (
    batch_runner,
    command,
    emit_json,
    image_name_option,
    label_values_option,
    progress_callback,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..output import exit_if_failed, say


@command("predict")
def predict(
    models: list[Path] = typer.Argument(
        ..., metavar="MODEL", help="A run folder or a model.ts / .pt file; several (or a "
        "cross-validation run's folds) predict as an ensemble: probabilities averaged."),
    data: Path = typer.Argument(..., metavar="DATA", help="A volume file, or a LEG-3D-US tree."),
    out: Path = typer.Option(..., "--out", "-o", help="Label file (for one volume) or "
                             "folder (for a tree; mirrors its split/subject layout)."),
    tta: bool = typer.Option(False, "--tta", help="Average over flips (axes 0 and 2)."),
    lcc: bool = typer.Option(False, "--lcc", help="Keep each muscle's largest component."),
    min_island_cm3: str = typer.Option(
        None, "--min-island-cm3", metavar="CM3|NAME=CM3,...",
        help="Remove each muscle's connected pieces smaller than this many cm3 (one "
             "number, or per muscle: SOL=1,GM=0.5,GL=0.2)."),
    mask_outside_scan: bool = typer.Option(
        False, "--mask-outside-scan", help="No label where the image has no data (value 0 "
        "outside the scanned region)."),
    overlap: float = typer.Option(0.25, "--overlap", min=0.0, max=0.95,
                                  help="Sliding-window overlap."),
    slab: int = typer.Option(64, "--slab", min=1, help="Slices along axis 0 per slab "
                             "(bounds memory)."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Windows per forward "
                                   "pass (default: 8 on the CPU, ~4 M voxels on a GPU)."),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads for torch "
                                "and onnxruntime (default: theirs, usually one per core)."),
    native: bool = typer.Option(False, "--native", help="Apply at the image's spacing even "
                                "if the model was trained at another."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda if seen)."),
    image_name: str = image_name_option(),
    output_name: str = typer.Option(LABEL_NAME, help="Label file name written per subject."),
    propagate: Path = typer.Option(
        None, "--propagate", metavar="SPARSE",
        help="Adapt the model to this subject first: labels on some slices (axis 0) of the "
             "image's grid; the network is fine-tuned on them, then predicts the volume, "
             "and the annotated slices are kept as drawn. Needs a checkpoint (not model.ts)."),
    annotated: str = typer.Option(
        None, "--annotated", metavar="FILE|INDICES",
        help="With --propagate: the annotated slices ('0,20,40', '0:400:20' or a file); a "
             "listed slice may be empty. Default: every slice holding a label."),
    adapt_steps: int = typer.Option(200, "--adapt-steps", min=0,
                                    help="With --propagate: fine-tuning steps."),
    adapt_lr: float = typer.Option(2e-4, "--adapt-lr",
                                   help="With --propagate: fine-tuning learning rate."),
    seed: int = typer.Option(0, "--seed", help="With --propagate: seed of patch positions "
                             "and augmentation (same seed, same result)."),
    label_values: str = label_values_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Segment B-mode volumes: labels 0/100/150/200 on each input's grid, by sliding
    window with Gaussian blending, in slabs along axis 0.

    With --propagate SPARSE, the network is first fine-tuned on the annotated slices of
    this subject (few-shot adaptation), then applied at the image's own spacing.

    Example: leg3dus predict runs/p2d phantom/test -o predictions --tta --lcc

    Example: leg3dus predict runs/p2d x1.mha -o labels.mha --propagate sparse.mha

    Example: leg3dus predict runs/cv2d runs/other phantom/test -o predictions
    """
    from ....segment.predict_files import predict_paths

    single = data.is_file() or propagate is not None  # a tree has the batch's own bar
    with progress_callback(quiet or as_json or not single) as bar:
        result = predict_paths(
            models, data, out, image_name=image_name, output_name=output_name,
            propagate=propagate, annotated=annotated, adapt_steps=adapt_steps,
            adapt_lr=adapt_lr, seed=seed, label_values=label_values,
            min_island_cm3=min_island_cm3, runner=batch_runner(scheduler, workers,
                                                               "predicting", quiet),
            progress=bar, tta=tta, lcc=lcc, overlap=overlap, slab=slab,
            batch_size=batch_size, resample=not native, device=device,
            mask_outside_scan=mask_outside_scan, threads=threads)
    rows = result.get("subjects", [result])
    if as_json:
        emit_json(result)
    elif "subjects" in result:
        say(*(f"{r['image']}: " + (f"error: {r['error']}" if "error" in r
                                   else f"wrote {r['output']}") for r in rows))
    else:
        from ....core.label_values import LabelConvention

        say(f"wrote {result['output']}", *(
            ["annotations read as " + LabelConvention.from_json(
                result["label_values"]).describe()] if "label_values" in result else []))
    exit_if_failed((r["image"], r["error"]) for r in rows if "error" in r)
