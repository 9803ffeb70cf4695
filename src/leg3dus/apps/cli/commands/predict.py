"""``leg3dus predict``: apply a trained network to a volume or to every subject of a tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from ....core.atomic import check_not_input, check_outputs
from ....core.errors import GeometryError, InputFileError, OptionError, OutputError
from ....dataset import LABEL_NAME, find_subjects, subject_folder
from ..app import (
    command,
    console,
    emit_json,
    fail,
    image_name_option,
    label_values_option,
    progress_callback,
    quiet_option,
    run_batch,
    scheduler_option,
    workers_option,
)


@dataclass(frozen=True)
class PredictJob:
    """One image to segment: where it is, where its labels go, and how."""

    image: Path
    output: Path
    model: Path
    inputs: tuple
    options: tuple
    adapt: tuple = ()


def predict_file(job: PredictJob, progress=None) -> dict:
    """Segment ``job.image`` into ``job.output``; returns a summary row (module level so
    Dask workers can run it). ``progress(description, done, total)`` follows the work."""
    from ....core.volume_io import read_header, read_volume, write_volume
    from ....segment.infer import load_model, predict

    check_not_input(job.output, job.inputs)
    header = read_header(job.image)
    if header.components != 1:
        raise GeometryError(f"{job.image}: {header.components} channels per voxel; the model "
                            f"expects a single-channel B-mode volume")
    opts = dict(job.options)
    device = opts.pop("device")
    threads = opts.pop("threads", None)
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    opts["source"] = str(job.image)
    if job.adapt:
        return _predict_adapted(job, opts, device, progress)
    model = load_model(job.model, device=device)
    labels = predict(read_volume(job.image), model, progress=progress, **opts)
    write_volume(labels, job.output)
    return {"image": str(job.image), "output": str(job.output), "shape": list(labels.shape)}


def _predict_adapted(job: PredictJob, opts: dict, device, progress=None) -> dict:
    """``predict --propagate``: tune on the annotated slices, segment, write back."""
    from ....core.label_values import read_labels
    from ....core.volume_io import read_volume, write_volume
    from ....propagate.common import parse_annotated
    from ....segment.adapt import load_trainable, predict_adapted

    a = dict(job.adapt)
    sparse_path = Path(a.pop("sparse"))
    annotated = parse_annotated(a.pop("annotated"))
    sparse, convention = read_labels(sparse_path, a.pop("label_values", None))
    model = load_trainable(job.model, device=device)
    image = read_volume(job.image)
    opts["image_source"] = opts.pop("source")
    labels = predict_adapted(image, model, sparse, annotated=annotated,
                             source=str(sparse_path), progress=progress, **a, **opts)
    write_volume(labels, job.output)
    return {"image": str(job.image), "output": str(job.output), "shape": list(labels.shape),
            "annotation": str(sparse_path), "adapt_steps": a["steps"], "adapt_lr": a["lr"],
            "seed": a["seed"], "label_values": convention.as_json()}


@command("predict")
def predict(
    model: Path = typer.Argument(..., help="A run folder, or a model.ts / .pt file."),
    data: Path = typer.Argument(..., help="A volume file, or a LEG-3D-US tree."),
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
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Windows per forward pass."),
    threads: int = typer.Option(None, "--threads", min=1, help="CPU threads for torch "
                                "(default: torch's, usually one per core)."),
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
    """
    from ....segment import require_seg

    require_seg()
    if not model.exists():
        raise InputFileError(f"{model}: no such run folder or model file")
    islands = None
    if min_island_cm3 is not None:
        from ....segment.postprocess import parse_per_muscle

        islands = parse_per_muscle(min_island_cm3, "--min-island-cm3")
    options = (("tta", tta), ("lcc", lcc), ("overlap", overlap), ("slab", slab),
               ("batch_size", batch_size), ("resample", not native), ("device", device),
               ("min_island_cm3", islands), ("mask_outside_scan", mask_outside_scan),
               ("threads", threads))
    adapt = ()
    if propagate is None:
        if annotated is not None or label_values is not None:
            raise OptionError("--annotated and --label-values apply only with --propagate "
                              "SPARSE")
    else:
        if data.is_dir():
            raise OptionError(f"{data}: --propagate adapts to one subject; give one image "
                              f"file, not a folder")
        if not propagate.is_file():
            raise InputFileError(f"{propagate}: no such annotation file")
        if annotated is not None and not Path(annotated).is_file():
            from ....propagate.common import parse_annotated

            parse_annotated(annotated)  # fail early on a malformed list
        from ....core.label_values import from_option

        adapt = (("sparse", str(propagate)), ("annotated", annotated), ("steps", adapt_steps),
                 ("lr", adapt_lr), ("seed", seed), ("label_values", from_option(label_values)))
    if data.is_file() or adapt:
        with progress_callback(quiet or as_json) as bar:
            row = predict_file(PredictJob(data, out, model, (data, model) if not adapt
                                          else (data, propagate, model), options, adapt), bar)
        if as_json:
            emit_json(row)
        else:
            console().print(f"wrote {row['output']}")
            if "label_values" in row:
                from ....core.label_values import LabelConvention

                console().print("annotations read as " + LabelConvention.from_json(
                    row["label_values"]).describe(), markup=False)
        return
    subjects = [s for s in find_subjects(data, image_name=image_name) if s.image is not None]
    if not subjects:
        raise InputFileError(f"{data}: no subject folders holding {image_name}")
    jobs = [PredictJob(s.image, subject_folder(out, s.split, s.id) / output_name, model,
                       (s.image, s.label), options) for s in subjects]
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: expected an output folder for a tree, found a file")
    check_outputs([j.output for j in jobs],
                  [model, *(p for s in subjects for p in (s.image, s.label))])
    results = run_batch(predict_file, jobs, scheduler, workers, "predicting", quiet)
    rows = [r.value if r.ok else {"image": str(r.item.image), "error": r.error}
            for r in results]
    if as_json:
        emit_json({"subjects": rows})
    else:
        for r in rows:
            console().print(f"{r['image']}: " + (f"error: {r['error']}" if "error" in r
                                                 else f"wrote {r['output']}"))
    failed = [r for r in rows if "error" in r]
    if failed:
        fail(f"{len(failed)} of {len(rows)} subjects failed; first: {failed[0]['error']}")

