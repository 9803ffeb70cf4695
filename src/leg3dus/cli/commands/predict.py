"""``leg3dus predict``: apply a trained network to a volume or to every subject of a tree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from ...atomic import check_not_input
from ...dataset import LABEL_NAME, find_subjects, subject_folder
from ...errors import GeometryError, InputFileError
from ..app import (
    command,
    console,
    emit_json,
    fail,
    image_name_option,
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


def predict_file(job: PredictJob) -> dict:
    """Segment ``job.image`` into ``job.output``; returns a summary row (module level so
    Dask workers can run it)."""
    from ...segment.infer import load_model, predict
    from ...volume import read_header, read_volume, write_volume

    check_not_input(job.output, job.inputs)
    header = read_header(job.image)
    if header.components != 1:
        raise GeometryError(f"{job.image}: {header.components} channels per voxel; the model "
                            f"expects a single-channel B-mode volume")
    opts = dict(job.options)
    device = opts.pop("device")
    model = load_model(job.model, device=device)
    labels = predict(read_volume(job.image), model, **opts)
    write_volume(labels, job.output)
    return {"image": str(job.image), "output": str(job.output), "shape": list(labels.shape)}


@command("predict")
def predict(
    model: Path = typer.Argument(..., help="A run folder, or a model.ts / .pt file."),
    data: Path = typer.Argument(..., help="A volume file, or a LEG-3D-US tree."),
    out: Path = typer.Option(..., "--out", "-o", help="Label file (for one volume) or "
                             "folder (for a tree; mirrors its split/subject layout)."),
    tta: bool = typer.Option(False, "--tta", help="Average over flips (axes 0 and 2)."),
    lcc: bool = typer.Option(False, "--lcc", help="Keep each muscle's largest component."),
    overlap: float = typer.Option(0.25, "--overlap", min=0.0, max=0.95,
                                  help="Sliding-window overlap."),
    slab: int = typer.Option(64, "--slab", min=1, help="Slices along axis 0 per slab "
                             "(bounds memory)."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Windows per forward pass."),
    native: bool = typer.Option(False, "--native", help="Apply at the image's spacing even "
                                "if the model was trained at another."),
    device: str = typer.Option(None, "--device", help="cpu or cuda (default: cuda if seen)."),
    image_name: str = image_name_option(),
    output_name: str = typer.Option(LABEL_NAME, help="Label file name written per subject."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Segment B-mode volumes: labels 0/100/150/200 on each input's grid, by sliding
    window with Gaussian blending, in slabs along axis 0.

    Example: leg3dus predict runs/p2d phantom/test -o predictions --tta --lcc
    """
    from ...segment import require_seg

    require_seg()
    if not model.exists():
        raise InputFileError(f"{model}: no such run folder or model file")
    options = (("tta", tta), ("lcc", lcc), ("overlap", overlap), ("slab", slab),
               ("batch_size", batch_size), ("resample", not native), ("device", device))
    if data.is_file():
        row = predict_file(PredictJob(data, out, model, (data,), options))
        if as_json:
            emit_json(row)
        else:
            console().print(f"wrote {row['output']}")
        return
    subjects = [s for s in find_subjects(data, image_name=image_name) if s.image is not None]
    if not subjects:
        raise InputFileError(f"{data}: no subject folders holding {image_name}")
    jobs = [PredictJob(s.image, subject_folder(out, s.split, s.id) / output_name, model,
                       (s.image, s.label), options) for s in subjects]
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

