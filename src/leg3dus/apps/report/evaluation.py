"""The evaluation part of the report: predictions matched to subjects, overlap and
distance metrics from :mod:`leg3dus.metrics`, and predicted against true morphology."""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path

import numpy as np

from ...core import labels as lab
from ...core.errors import InputFileError, OptionError
from ...dataset import LABEL_NAME, Subject
from . import html as H
from .figures import box_figure, muscle_colour, png_bytes

#: Metrics shown in the evaluation table: (key in leg3dus.metrics' rows, heading, digits).
METRIC_COLUMNS = (("dice", "Dice", 3), ("iou", "IoU", 3), ("hd95", "HD95 (mm)", 2),
                  ("assd", "ASSD (mm)", 2), ("nsd", "NSD", 3),
                  ("volume_error_percent", "volume error (%)", 2))


def find_predictions(folder: str | os.PathLike, subjects: list[Subject],
                     name: str | None = None) -> dict[str, Path]:
    """Predicted label files of ``subjects`` in ``folder``, keyed by ``Subject.key``.

    Matched as ``leg3dus evaluate`` matches them
    (:func:`leg3dus.metrics.cohort.find_prediction`): ``<split>/<id>/<name>`` (the layout
    ``leg3dus predict`` writes for a tree), ``<id>/<name>``, ``<split>/<id><ext>`` or
    ``<id><ext>``, ``name`` defaulting to the dataset's label name, and nnU-Net case
    files by case name. A folder that matches no subject, or an nnU-Net prediction
    folder with a case that is no subject's, is an error.
    """
    find_prediction = _metrics("cohort", "find_prediction")
    folder = Path(folder)
    if not folder.is_dir():
        raise InputFileError(f"{folder}: no such predictions folder")
    name = name or LABEL_NAME
    found: dict[str, Path] = {}
    for s in subjects:
        hit = find_prediction(folder, s, name)
        if hit is not None:
            found[s.key] = hit
    if not found:
        raise InputFileError(f"{folder}: no predictions found for any subject; expected "
                             f"<split>/<id>/{name}, <id>/{name} or <id>.mha")
    if _metrics("cohort", "is_nnunet_predictions")(folder):
        _metrics("cohort", "check_nnunet_cases")(folder, list(found.values()), "the dataset")
    return found


def _metrics(module: str, name: str):
    """A function of :mod:`leg3dus.metrics`, or :class:`OptionError` if it is missing."""
    import importlib

    try:
        return getattr(importlib.import_module(f"leg3dus.metrics.{module}"), name)
    except (ImportError, AttributeError):
        raise OptionError("evaluating predictions needs leg3dus.metrics, which this "
                          "installation lacks") from None


def evaluate_subject(pair: tuple[Subject, Path], leg_extent: str = "labels",
                     label_values=None, prediction_label_values=None) -> dict:
    """Metrics of one prediction against its truth (:func:`leg3dus.metrics.evaluate_files`)
    and the prediction's morphology; a picklable per-subject job. ``label_values`` and
    ``prediction_label_values`` give the label conventions of the truth and the
    prediction (default: each file's label table, else the scheme)."""
    from ...core.label_values import read_labels
    from ...morphology import measure
    from ...morphology.axis import ObliqueAxisWarning

    evaluate_files = _metrics("evaluate", "evaluate_files")
    subject, pred_path = pair
    metrics = evaluate_files(pred_path, subject.label, pred_label_values=prediction_label_values,
                             truth_label_values=label_values)
    pred = read_labels(pred_path, prediction_label_values, allow_stray=True)[0]
    with warnings.catch_warnings():
        # An oblique leg axis is recorded in the result (axis_oblique_deg), not printed.
        warnings.simplefilter("ignore", ObliqueAxisWarning)
        morphology = measure(pred, leg_extent=leg_extent)
    return {"split": subject.split, "id": subject.id, "prediction": str(pred_path),
            "metrics": metrics, "morphology": morphology}


def evaluation_sections(subjects, pred_paths, done, run, leg_extent, label_values=None,
                        prediction_label_values=None):
    """The HTML sections of the evaluation, the per-subject results, and the subjects
    whose prediction could not be evaluated (``{"split", "id", "error"}``)."""
    pairs = [(s, pred_paths[s.key]) for s in subjects if s.key in pred_paths]
    job = functools.partial(evaluate_subject, leg_extent=leg_extent, label_values=label_values,
                            prediction_label_values=prediction_label_values)
    results = run(job, pairs, "evaluating")
    evals = [r.value for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    errors = [f"{r.item[0].key}: {r.error}" for r in failed]
    missing = [s.key for s in subjects if s.key not in pred_paths]
    plural = "s" if len(evals) != 1 else ""
    parts = [H.paragraph(f"{len(evals)} prediction{plural} evaluated against their labels"
                         + (f"; no prediction for {', '.join(missing)}" if missing else "")
                         + ".")]
    parts += [H.paragraph(f"Not evaluated: {e}") for e in errors]
    names = [m.name for m in lab.MUSCLES] + ["union"]
    rows = []
    for e in evals:
        for n in names:
            m = e["metrics"].get(n)
            if m is not None:
                rows.append([e["split"], e["id"], n] + [m.get(k) for k, _, _ in METRIC_COLUMNS])
    parts.append(H.table(["split", "subject", "label"] + [h for _, h, _ in METRIC_COLUMNS],
                         rows, [0, 0, 0] + [d for _, _, d in METRIC_COLUMNS], cls="evaluation"))
    summary = []
    for n in names:
        vals = {k: [e["metrics"][n].get(k) for e in evals if n in e["metrics"]]
                for k, _, _ in METRIC_COLUMNS}
        summary.append([n] + [_mean_sd(vals[k], d, len(failed)) for k, _, d in METRIC_COLUMNS])
    parts.append("<h3>Summary (mean ± sd)</h3>")
    parts.append(H.paragraph("Each mean is over the n subjects whose value is finite; the "
                             "others are counted: inf (a muscle missed entirely, or predicted "
                             "where the labels have none), undefined, and failed (the "
                             "prediction could not be evaluated)."))
    parts.append(H.table(["label"] + [h for _, h, _ in METRIC_COLUMNS], summary,
                         cls="evaluation-summary"))
    if evals:
        panels = [(h, {m.name: [e["metrics"][m.name].get(k) for e in evals
                                if m.name in e["metrics"]] for m in lab.MUSCLES})
                  for k, h, _ in (METRIC_COLUMNS[0], METRIC_COLUMNS[2], METRIC_COLUMNS[5])]
        parts.append(H.image(png_bytes(box_figure(panels, "Predictions against labels")),
                             "evaluation box plots", "Dice, HD95 and volume error per muscle.",
                             "fig-eval-boxes"))
        parts.append(H.image(png_bytes(_volume_agreement(evals, done)), "volume agreement",
                             "Predicted against labelled muscle volume, one point per "
                             "subject; the line is identity.", "fig-eval-volumes"))
    failures = [{"split": r.item[0].split, "id": r.item[0].id,
                 "error": f"prediction not evaluated: {r.error}"} for r in failed]
    return ([H.section("Evaluation of predictions", *parts, section_id="evaluation")], evals,
            failures)


def _mean_sd(values, digits, n_failed=0):
    """``mean ± sd (n=N; k inf, k undefined, k failed)`` of the finite values.

    >>> _mean_sd([0.9, 0.8, float("inf"), None], 2, n_failed=1)
    '0.85 ± 0.07 (n=2; 1 inf, 1 undefined, 1 failed)'
    """
    a = np.asarray([np.nan if v is None else v for v in values], float)
    finite = a[np.isfinite(a)]
    counts = [(int(np.isinf(a).sum()), "inf"), (int(np.isnan(a).sum()), "undefined"),
              (n_failed, "failed")]
    extra = "".join(f", {k} {w}" for k, w in counts if k).lstrip(", ")
    n = f"n={finite.size}" + (f"; {extra}" if extra else "")
    if not finite.size:
        return f"– ({n})"
    sd = finite.std(ddof=1) if finite.size > 1 else 0.0
    return f"{finite.mean():.{digits}f} ± {sd:.{digits}f} ({n})"


def _volume_agreement(evals, done):
    from matplotlib.figure import Figure

    truth = {(r["split"], r["id"]): r["morphology"] for r in done}
    fig = Figure(figsize=(5, 4.6), layout="constrained")
    ax = fig.subplots()
    hi = 0.0
    for m in lab.MUSCLES:
        pts = [(truth[(e["split"], e["id"])].muscles[m.name].volume_cm3,
                e["morphology"].muscles[m.name].volume_cm3)
               for e in evals if (e["split"], e["id"]) in truth]
        if pts:
            t, p = np.asarray(pts).T
            ax.plot(t, p, "o", color=muscle_colour(m), label=m.name)
            hi = max(hi, t.max(), p.max())
    ax.plot([0, hi * 1.05], [0, hi * 1.05], color="grey", linewidth=1)
    ax.set_xlabel("labelled volume (cm3)")
    ax.set_ylabel("predicted volume (cm3)")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig
