"""Segmenting files, as ``leg3dus predict`` does: read a volume, predict, write its labels;
for one image file or every subject of a LEG-3D-US tree (the output folder mirrors its
split/subject layout), optionally adapting the network to one subject's sparse
annotations first (:mod:`leg3dus.segment.adapt`).

A batch segments every subject it can; a subject that fails is a row with an ``"error"``
and the others are still written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..core.atomic import check_not_input, check_outputs
from ..core.errors import GeometryError, InputFileError, OptionError, OutputError
from ..core.layout import IMAGE_NAME, LABEL_NAME, find_subjects, subject_folder


@dataclass(frozen=True)
class PredictJob:
    """One image to segment: where it is, where its labels go, and how."""

    image: Path
    output: Path
    model: tuple[Path, ...]
    inputs: tuple
    options: tuple
    adapt: tuple = ()


def predict_file(job: PredictJob, progress=None) -> dict:
    """Segment ``job.image`` into ``job.output``; returns a summary row (module level so
    Dask workers can run it). ``progress(description, done, total)`` follows the work."""
    from ..core.volume_io import read_header, read_volume, write_volume
    from .ensemble import load_models
    from .infer import predict

    check_not_input(job.output, job.inputs)
    header = read_header(job.image)
    if header.components != 1:
        raise GeometryError(f"{job.image}: {header.components} channels per voxel; the model "
                            f"expects a single-channel B-mode volume")
    opts = dict(job.options)
    device = opts.pop("device")
    threads = opts.pop("threads", None)
    if threads and not all(m.suffix.lower() == ".onnx" for m in job.model):
        import torch

        torch.set_num_threads(int(threads))
    opts["source"] = str(job.image)
    if job.adapt:
        return _predict_adapted(job, opts, device, progress)
    model = load_models(job.model, device=device, threads=threads)
    labels = predict(read_volume(job.image), model, progress=progress, **opts)
    write_volume(labels, job.output)
    return {"image": str(job.image), "output": str(job.output), "shape": list(labels.shape),
            "models": len(getattr(model, "members", [model]))}


def _predict_adapted(job: PredictJob, opts: dict, device, progress=None) -> dict:
    """Tune on the annotated slices, segment, write back."""
    from ..core.annotated import parse_annotated
    from ..core.label_values import read_labels
    from ..core.volume_io import read_volume, write_volume
    from .adapt import load_trainable, predict_adapted

    a = dict(job.adapt)
    sparse_path = Path(a.pop("sparse"))
    annotated = parse_annotated(a.pop("annotated"))
    sparse, convention = read_labels(sparse_path, a.pop("label_values", None))
    model = load_trainable(job.model[0], device=device)
    image = read_volume(job.image)
    opts["image_source"] = opts.pop("source")
    if opts.get("batch_size") is None:  # the tuning batch keeps its own default
        opts.pop("batch_size", None)
    labels = predict_adapted(image, model, sparse, annotated=annotated,
                             source=str(sparse_path), progress=progress, **a, **opts)
    write_volume(labels, job.output)
    return {"image": str(job.image), "output": str(job.output), "shape": list(labels.shape),
            "annotation": str(sparse_path), "adapt_steps": a["steps"], "adapt_lr": a["lr"],
            "seed": a["seed"], "label_values": convention.as_json()}


def _adapt_options(data: Path, propagate, annotated, steps, lr, seed, label_values) -> tuple:
    from ..core.label_values import from_option

    if propagate is None:
        if annotated is not None or label_values is not None:
            raise OptionError("--annotated and --label-values apply only with --propagate "
                              "SPARSE")
        return ()
    if data.is_dir():
        raise OptionError(f"{data}: --propagate adapts to one subject; give one image "
                          f"file, not a folder")
    if not Path(propagate).is_file():
        raise InputFileError(f"{propagate}: no such annotation file")
    if annotated is not None and not Path(annotated).is_file():
        from ..core.annotated import parse_annotated

        parse_annotated(annotated)  # fail early on a malformed list
    return (("sparse", str(propagate)), ("annotated", annotated), ("steps", steps),
            ("lr", lr), ("seed", seed), ("label_values", from_option(label_values)))


def predict_paths(model, data: str | os.PathLike,
                  out: str | os.PathLike, *, image_name: str = IMAGE_NAME,
                  output_name: str = LABEL_NAME, propagate: str | os.PathLike | None = None,
                  annotated: str | None = None, adapt_steps: int = 200,
                  adapt_lr: float = 2e-4, seed: int = 0, label_values=None,
                  min_island_cm3=None, runner: Callable | None = None, progress=None,
                  **options) -> dict:
    """Segment the image file ``data`` into ``out``, or every subject of the tree
    ``data`` into ``out/<split>/<id>/<output_name>``.

    ``model`` is a run folder or model file, or a list of them: several models (or a
    cross-validation run's folds) predict as an ensemble, their class probabilities
    averaged (:mod:`leg3dus.segment.ensemble`).

    ``options`` go to :func:`leg3dus.segment.infer.predict` (``tta``, ``lcc``,
    ``overlap``, ``slab``, ``batch_size``, ``resample``, ``mask_outside_scan``) plus
    ``device`` and ``threads``; ``min_island_cm3`` is a number or ``"SOL=1,GM=0.5"``.
    ``propagate`` (sparse labels of one subject, with ``annotated``, ``adapt_steps``,
    ``adapt_lr``, ``seed`` and ``label_values``) fine-tunes the network to it first.
    ``runner(fn, jobs)`` runs the subjects of a tree (default in-process);
    ``progress(description, done, total)`` follows a single file.

    Returns the row of a single file (``{"image", "output", "shape", ...}``), or
    ``{"subjects": rows}`` for a tree, where a failed subject's row is ``{"image",
    "error"}``.

    >>> predict_paths("runs/p2d", "phantom/test", "predictions", tta=True)  # doctest: +SKIP
    """
    models = tuple(Path(m) for m in ([model] if isinstance(model, (str, os.PathLike))
                                      else model))
    if not all(m.suffix.lower() == ".onnx" for m in models):
        from . import require_seg

        require_seg()  # an ONNX model runs on onnxruntime alone
    data, out = Path(data), Path(out)
    for m in models:
        if not m.exists():
            raise InputFileError(f"{m}: no such run folder or model file")
    if not models:
        raise OptionError("no model given")
    if isinstance(min_island_cm3, str):
        from .postprocess import parse_per_muscle

        min_island_cm3 = parse_per_muscle(min_island_cm3, "--min-island-cm3")
    options = tuple({**options, "min_island_cm3": min_island_cm3}.items())
    adapt = _adapt_options(data, propagate, annotated, adapt_steps, adapt_lr, seed,
                           label_values)
    if adapt and len(models) != 1:
        raise OptionError("--propagate adapts one network; give one model, not an ensemble")
    if data.is_file() or adapt:
        inputs = (data, *models) if not adapt else (data, Path(propagate), *models)
        return predict_file(PredictJob(data, out, models, inputs, options, adapt), progress)
    subjects = [s for s in find_subjects(data, image_name=image_name) if s.image is not None]
    if not subjects:
        raise InputFileError(f"{data}: no subject folders holding {image_name}")
    jobs = [PredictJob(s.image, subject_folder(out, s.split, s.id) / output_name, models,
                       (s.image, s.label), options) for s in subjects]
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: expected an output folder for a tree, found a file")
    check_outputs([j.output for j in jobs],
                  [*models, *(p for s in subjects for p in (s.image, s.label))])
    if runner is None:
        from ..core.parallel import map_subjects

        runner = map_subjects
    return {"subjects": [r.value if r.ok else {"image": str(r.item.image), "error": r.error}
                         for r in runner(predict_file, jobs)]}
