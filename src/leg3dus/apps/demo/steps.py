"""The steps of :func:`leg3dus.apps.demo.demo`. Each takes the shared context, calls the
library stage it names, and returns one line saying what it did; it raises
:class:`~leg3dus.apps.demo.Skip` when the stage or its input is not there."""

from __future__ import annotations

import json

import numpy as np

from ...core import labels as lab
from ...core.atomic import atomic_path
from ...core.layout import SWEEPS_DIR
from ...core.volume_io import read_volume, write_volume
from ...dataset import find_subjects, subject_folder
from . import Context, Skip, need


def _subjects(ctx: Context):
    return find_subjects(ctx.require("data", "synth"))


def _say(ctx: Context, text: str) -> None:
    ctx["log"](f"      {text}")


def _loop(ctx: Context, items, description: str):
    return ctx["progress"](items, total=len(items), description=description)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _fmt_muscles(values: dict, spec: str = ".3f") -> str:
    return ", ".join(f"{k} {format(v, spec)}" for k, v in values.items())


def _params(ctx: Context) -> dict:
    cohort_params = need("phantom", "cohort_params")
    s = ctx["settings"]
    return {p.id: p for p in cohort_params(s.subjects, s.seed)}


def synth(ctx: Context) -> str:
    write_cohort = need("phantom.cohort", "write_cohort")
    s, out = ctx["settings"], ctx["out"] / "data"
    rows = write_cohort(out, s.subjects, spacing=s.spacing, seed=s.seed, fractions=s.fractions)
    ctx["data"] = out
    subjects = find_subjects(out)
    splits: dict[str, int] = {}
    for sub in subjects:
        splits[sub.split] = splits.get(sub.split, 0) + 1
    shape = read_volume(subjects[0].label).shape
    text = (f"wrote {len(rows)} synthetic subjects at {s.spacing:g} mm into {out} "
            f"({', '.join(f'{k} {v}' for k, v in splits.items())}; grids like "
            f"{'x'.join(map(str, shape))}) with cohort.csv")
    params = _params(ctx)
    train = [x for x in subjects if x.split == "train"]
    extra = []
    try:
        extra.append(_write_sweeps(ctx, train[: s.sweep_subjects], params))
    except Skip as exc:
        extra.append(f"no sweeps: {exc}")
    try:
        extra.append(_write_second(ctx, train[: s.second_subjects], params))
    except Skip as exc:
        extra.append(f"no second acquisitions: {exc}")
    return "; ".join([text] + extra)


def _write_sweeps(ctx: Context, subjects, params) -> str:
    SweepProtocol, write_sweeps = need("phantom.sweeps", "SweepProtocol", "write_sweeps")
    s = ctx["settings"]
    # Coarser frames than the dataset's 537 x 221 px at 0.172 mm (same field of view)
    # and wider frame steps: rendering frames is the phantom's slowest part.
    protocol = SweepProtocol(n_sweeps=s.sweeps, frame_px=s.sweep_frame_px,
                             pixel_mm=s.sweep_pixel_mm, frame_spacing_mm=s.sweep_step_mm)
    Anatomy = need("phantom", "Anatomy")
    done = []
    for sub in _loop(ctx, subjects, "sweeping"):
        folder = sub.label.parent / SWEEPS_DIR
        write_sweeps(Anatomy(params[sub.id]), folder, protocol, seed=s.seed,
                     spacing=s.spacing)
        done.append((sub, folder))
    ctx["sweeps"] = done
    return (f"tracked sweeps for {', '.join(x.id for x, _ in done)} ({s.sweeps} sweeps, "
            f"frames {s.sweep_frame_px[0]}x{s.sweep_frame_px[1]} px at {s.sweep_pixel_mm} mm, "
            f"every {s.sweep_step_mm} mm, in <subject>/sweeps)")


def _write_second(ctx: Context, subjects, params) -> str:
    write_second = need("phantom.second", "write_second_acquisition")
    s = ctx["settings"]
    done = []
    for sub in _loop(ctx, subjects, "second acquisitions"):
        info = write_second(sub.label.parent, params[sub.id], read_volume(sub.image),
                            seed=s.seed)
        done.append((sub, info))
    ctx["second"] = done
    poses = "; ".join(f"{x.id} shifted {np.round(i['translation_mm_zyx'], 1).tolist()} mm, "
                      f"turned {np.round(i['rotation_deg_zyx'], 1).tolist()} deg"
                      for x, i in done)
    return f"second acquisitions at {done[0][1]['frequency_mhz']:g} MHz ({poses})"


def compound(ctx: Context) -> str:
    sweeps = ctx.require("sweeps", "synth (sweeps)")
    SweepSubject, compound_subject, Options = need(
        "compound", "SweepSubject", "compound_subject", "Options")
    parts = []
    for sub, folder in _loop(ctx, sweeps, "compounding"):
        # The batch's own per-subject job: image and labels, the labels' holes filled by
        # the Gaussian-weighted vote, written atomically in <out>/compounded/<id>.
        job = SweepSubject(sub.id, sub.split, folder, ctx["out"] / "compounded" / sub.id)
        row = compound_subject(job, options=Options(method="vnn", fill="gaussian"))
        grid = "x".join(map(str, row["shape_zyx"]))
        done = (f"{sub.id}: {row['frames_used']} frames from {row['sweeps']} sweeps -> "
                f"{grid} voxels (voxel-based nearest neighbour + Gaussian hole filling)")
        if row["labels"] is None:
            parts.append(f"{done}; no label sweeps, not compared")
            continue
        labels, truth = read_volume(row["labels"]), read_volume(sub.label)
        if labels.shape != truth.shape:
            parts.append(f"{done} (not on the phantom's grid {truth.shape}, not compared)")
            continue
        dice = _dice(labels, truth)
        score = (f"labels Dice against the phantom {_fmt_muscles(dice)}" if dice
                 else "Dice needs leg3dus.metrics")
        parts.append(f"{done}; {score}")
    return "; ".join(parts) + f"; volumes in {ctx['out'] / 'compounded'}"


def annotate(ctx: Context) -> str:
    s = ctx["settings"]
    chosen = [x for x in _subjects(ctx) if x.label is not None][: s.annotate_subjects]
    sparse_annotations = need("phantom.annotations", "sparse_annotations")
    if not chosen:
        raise Skip("no labelled subject to annotate")
    done = []
    for i, sub in enumerate(_loop(ctx, chosen, "annotating")):
        dense = read_volume(sub.label)
        sparse, idx = sparse_annotations(dense.array, every_mm=s.annotate_every_mm,
                                         spacing=dense.spacing, jitter_mm=s.annotator_jitter_mm,
                                         seed=s.seed + i)
        path = ctx["out"] / "annotations" / f"{sub.id}_sparse.mha"
        write_volume(dense.with_array(sparse), path)
        done.append((sub, path, [int(k) for k in idx]))
    ctx["annotations"] = done
    per = ", ".join(f"{sub.id} {len(idx)}" for sub, _, idx in done)
    return (f"kept every {s.annotate_every_mm:g} mm of the dense labels as expert-like 2D "
            f"masks with {s.annotator_jitter_mm:g} mm boundary jitter (slices: {per})")


def _overlap(pred, truth) -> dict:
    """Dice (from leg3dus.metrics when present) and volume error per muscle."""
    out = {}
    truth_cm3 = lab.muscle_volumes_cm3(truth.array, truth.spacing)
    pred_cm3 = lab.muscle_volumes_cm3(pred.array, pred.spacing)
    dice = _dice(pred, truth)
    for m in lab.MUSCLES:
        t = truth_cm3[m.name]
        out[m.name] = {"dice": dice.get(m.name) if dice else None,
                       "volume_error_percent": 100 * (pred_cm3[m.name] - t) / t if t else None}
    return out


def _dice(pred, truth) -> dict | None:
    try:
        evaluate_volumes = need("metrics", "evaluate_volumes")
    except Skip:
        return None
    res = evaluate_volumes(pred, truth)
    return {m.name: res[m.name]["dice"] for m in lab.MUSCLES if m.name in res}


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def propagate(ctx: Context) -> str:
    annotations = ctx.require("annotations", "annotate")
    run = need("propagate", "propagate")
    results: dict[str, list[dict]] = {"zoi": [], "sdf": []}
    for sub, path, idx in _loop(ctx, annotations, "propagating"):
        sparse, truth = read_volume(path), read_volume(sub.label)
        for method in results:
            filled = run(sparse, method, annotated=idx)
            write_volume(filled, ctx["out"] / "propagated" / f"{sub.id}_{method}.mha")
            scores = _overlap(filled, truth)
            results[method].extend(scores.values())
    parts = []
    for method, rows in results.items():
        dice = _mean(rows, "dice")
        err = float(np.mean([abs(r["volume_error_percent"]) for r in rows
                             if r["volume_error_percent"] is not None]))
        parts.append(f"{method}: " + (f"mean Dice {dice:.3f}, " if np.isfinite(dice) else "")
                     + f"mean |volume error| {err:.1f} %")
    note = "" if np.isfinite(_mean(results["sdf"], "dice")) else (
        " (Dice needs leg3dus.metrics, not in this installation)")
    ctx["propagation"] = results
    return (f"filled {_n(len(annotations), 'sparse label volume')} to dense 3D labels; against the "
            f"phantom truth: {'; '.join(parts)}{note}")


def register(ctx: Context) -> str:
    second = ctx.require("second", "synth (second acquisitions)")
    register_rigid, transfer_labels, read_transform, tre = need(
        "register", "register_rigid", "transfer_labels", "read_transform",
        "target_registration_error")
    s = ctx["settings"]
    parts = []
    for sub, info in _loop(ctx, second, "registering"):
        x1, x2 = read_volume(sub.image), read_volume(info["image"])
        result = register_rigid(x1, x2, levels_mm=s.register_levels_mm,
                                samples=s.register_samples,
                                iterations=s.register_iterations, seed=s.seed)
        truth = read_transform(info["transform"])
        labels1 = read_volume(sub.label)
        surface = np.argwhere(labels1.array > 0)[:: s.register_point_step]
        errors = tre(result.transform, truth, labels1.geometry.index_to_physical(surface))
        moved = transfer_labels(read_volume(info["labels"]), x1.geometry, result.transform)
        write_volume(moved, ctx["out"] / "registered" / f"{sub.id}_masksX2_on_x1.mha")
        seen = transfer_labels(_ones_like(read_volume(info["labels"])), x1.geometry,
                               result.transform).array > 0
        dice = _dice(moved.with_array(np.where(seen, moved.array, 0).astype(np.uint8)),
                     labels1.with_array(np.where(seen, labels1.array, 0).astype(np.uint8)))
        parts.append(f"{sub.id}: {result.seconds:.0f} s, target registration error over the "
                     f"muscles median {np.median(errors):.2f} mm (max {errors.max():.2f} mm)"
                     + (f", transferred labels Dice {_fmt_muscles(dice)} where both scans "
                        "overlap" if dice else ""))
    return ("registered each second acquisition (moving) onto x1 (fixed), rigid, "
            "normalised correlation: " + "; ".join(parts))


def _ones_like(vol):
    return vol.with_array(np.ones(vol.shape, np.uint8))


def train(ctx: Context) -> str:
    data = ctx.require("data", "synth")
    train_fn = need("segment.train", "train")
    load_config = need("segment.config", "load_config")
    need("segment", "require_seg")()
    s = ctx["settings"]
    run = ctx["out"] / "model"
    summary = train_fn(data, s.model, run, load_config(None),
                       overrides={"max_epochs": s.max_epochs, "steps_per_epoch":
                                  s.steps_per_epoch, "batch_size": s.batch_size,
                                  "time_limit": s.train_seconds, "patience": s.max_epochs,
                                  "seed": s.seed, "val_overlap": s.val_overlap,
                                  "model": {k: list(v) if isinstance(v, tuple) else v
                                            for k, v in s.model_spec}},
                       log=lambda m: _say(ctx, m))
    if not summary.get("model"):
        raise Skip(f"training ran {summary['epochs']} epochs but saved no model")
    ctx["model"] = summary["model"]
    ctx["train"] = summary
    dice = summary.get("best_dice") or {}
    return (f"trained a {s.model} network for {_n(summary['epochs'], 'epoch')} in "
            f"{summary['seconds']:.0f} s on {summary['device']} (stopped by "
            f"{summary['stopped_by']}); best validation Dice {_fmt_muscles(dice)}; "
            f"model {summary['model']}")


def predict(ctx: Context) -> str:
    model_path = ctx.require("model", "train")
    load_model, predict_fn = need("segment.infer", "load_model", "predict")
    model = load_model(model_path)
    subjects = [x for x in _subjects(ctx) if x.split == "test" and x.image is not None]
    subjects = subjects or [x for x in _subjects(ctx) if x.split == "val" and x.image]
    if not subjects:
        raise Skip("no test or val subject to predict")
    pred_dir = ctx["out"] / "predictions"
    for sub in _loop(ctx, subjects, "predicting"):
        labels = predict_fn(read_volume(sub.image), model, lcc=ctx["settings"].lcc)
        write_volume(labels, subject_folder(pred_dir, sub.split, sub.id) / "masksX1.mha")
    ctx["predictions"] = pred_dir
    ctx["predicted"] = subjects
    return (f"segmented {_n(len(subjects), 'held-out volume')} "
            f"({', '.join(x.id for x in subjects)}) into {pred_dir}")


def evaluate(ctx: Context) -> str:
    pred_dir = ctx.require("predictions", "predict")
    evaluate_files = need("metrics", "evaluate_files")
    rows = []
    for sub in _loop(ctx, ctx["predicted"], "evaluating"):
        pred = subject_folder(pred_dir, sub.split, sub.id) / "masksX1.mha"
        scores = evaluate_files(pred, sub.label)
        rows.append({"split": sub.split, "id": sub.id, "metrics": scores})
    with atomic_path(ctx["out"] / "evaluation.json") as tmp:
        from ...core.tables import json_ready

        tmp.write_text(json.dumps(json_ready(rows), indent=2))
    dice = {m.name: float(np.mean([r["metrics"][m.name]["dice"] for r in rows]))
            for m in lab.MUSCLES}
    hd95 = {m.name: float(np.mean([r["metrics"][m.name]["hd95"] for r in rows]))
            for m in lab.MUSCLES}
    return (f"scored {_n(len(rows), 'prediction')} against their labels: mean Dice "
            f"{_fmt_muscles(dice)}; mean HD95 {_fmt_muscles(hd95, '.1f')} mm; "
            f"table in evaluation.json")


def morphology(ctx: Context) -> str:
    from ...morphology import (
        cohort_rows,
        find_participants,
        measure_subject,
        profile_rows,
        read_participants,
        summarise,
        write_csv,
    )

    data = ctx.require("data", "synth")
    subjects = [x for x in _subjects(ctx) if x.label is not None]
    results = [measure_subject(x) for x in _loop(ctx, subjects, "measuring")]
    table = find_participants(data)
    people = read_participants(table) if table else {}
    rows = cohort_rows(results, people)
    out = ctx["out"]
    write_csv(rows, out / "morphology.csv")
    write_csv(profile_rows(results), out / "csa_profiles.csv")
    write_csv(summarise(rows), out / "morphology_summary.csv")
    means = {m.name: float(np.mean([r["volume_cm3"] for r in rows if r["muscle"] == m.name]))
             for m in lab.MUSCLES}
    return (f"measured {len(results)} subjects: mean volume {_fmt_muscles(means, '.0f')} cm3; "
            "morphology.csv, csa_profiles.csv, morphology_summary.csv")


def report(ctx: Context) -> str:
    from ..report import make_report

    data = ctx.require("data", "synth")
    predictions = ctx.get("predictions")
    if predictions is not None:
        try:
            need("metrics", "evaluate_files")
        except Skip:
            predictions = None
    path = ctx["out"] / "report.html"
    result = make_report(data, path, predictions=predictions,
                         max_figures=ctx["settings"].report_figures,
                         meshes_dir=ctx["out"] / "meshes", mesh_step=2,
                         title="leg3dus demo report", agreement=ctx.get("agreement"))
    ctx["report"] = path
    evaluated = (f", evaluation of {_n(len(result.evaluation), 'prediction')}"
                 if result.evaluation else "")
    return (f"wrote {path} ({result.subjects} subjects, {result.figures} figures"
            f"{evaluated}) and {len(result.meshes)} surface meshes in {ctx['out'] / 'meshes'}")
