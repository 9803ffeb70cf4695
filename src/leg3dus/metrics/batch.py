"""Evaluating files, as ``leg3dus evaluate`` does: one pair of volumes, or a folder of
predictions against a LEG-3D-US tree (matched by subject id, see
:mod:`leg3dus.metrics.cohort`), with the per-subject rows, the cohort summary, the
subjects that failed and the results written to a .json or .csv file.

A batch evaluates every subject it can; a subject that fails is a row with an
``"error"`` (and a line of :attr:`Evaluation.failed`), never the end of the batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import Leg3dusError, OptionError
from ..core.labels import BY_NAME
from ..core.layout import IMAGE_NAME, LABEL_NAME
from ..core.tables import json_ready
from .cohort import EvalJob, evaluate_job, find_borders, match_predictions, summarise, to_csv
from .evaluate import evaluate_files

#: File endings of ``out``: the results as JSON (all) or CSV (one row per structure).
OUT_SUFFIXES = (".json", ".csv")


@dataclass
class Evaluation:
    """What :func:`evaluate_paths` found.

    ``result`` is the JSON object (a pair's result, or ``{"subjects", "summary",
    "missing"}`` for a tree), ``csv`` the same as CSV text; ``failed`` holds
    ``(split/id, message)`` of every subject that could not be evaluated, ``missing`` the
    truth subjects without a prediction."""

    result: dict
    csv: str
    pair: bool
    failed: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def parse_border_spec(values: list[str] | None, part: str):
    """``--distinct-border``/``--completed-border`` values: one PATH (all muscles) or
    MUSCLE=PATH items (single muscles); None when not given.

    >>> parse_border_spec(["gm=d_gm.mha"], "distinct")
    {'GM': PosixPath('d_gm.mha')}
    """
    if not values:
        return None
    plain = [v for v in values if "=" not in v]
    if plain and len(values) > 1:
        raise OptionError(f"--{part}-border: give one volume of all muscles, or "
                          f"MUSCLE=PATH items; found {values}")
    if plain:
        return Path(plain[0])
    out = {}
    for v in values:
        name, path = v.split("=", 1)
        if name.upper() not in BY_NAME:
            raise OptionError(f"--{part}-border {v}: unknown muscle {name!r}; expected "
                              f"one of {', '.join(BY_NAME)}")
        out[name.upper()] = Path(path)
    return out


def _check_out(out: Path | None, inputs) -> None:
    from ..core.atomic import check_not_input

    if out is None:
        return
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise OptionError(f"{out}: --out must end in .json or .csv")
    check_not_input(out, inputs)


def _write_out(out: Path | None, evaluation: Evaluation, inputs) -> None:
    from ..core.atomic import atomic_path, check_not_input

    if out is None:
        return
    check_not_input(out, inputs)
    text = (json.dumps(json_ready(evaluation.result), indent=2) + "\n"
            if out.suffix.lower() == ".json" else evaluation.csv)
    with atomic_path(out) as tmp:
        tmp.write_text(text)


def _conventions(pred, truth, options) -> dict:
    """The label conventions a pair was read with (as evaluate_files resolved them)."""
    from ..core.label_values import resolve

    return {"prediction": resolve(pred, options["pred_label_values"]).as_json(),
            "truth": resolve(truth, options["truth_label_values"]).as_json()}


def evaluate_paths(pred: str | os.PathLike, truth: str | os.PathLike, *,
                   image: str | os.PathLike | None = None, with_image: bool = False,
                   distinct_border: list[str] | None = None,
                   completed_border: list[str] | None = None, borders: bool = False,
                   splits: list[str] | None = None, pred_name: str = LABEL_NAME,
                   image_name: str = IMAGE_NAME, label_name: str = LABEL_NAME,
                   flat: bool = False, out: str | os.PathLike | None = None,
                   runner: Callable | None = None, extra: Callable | None = None,
                   pred_label_values=None, truth_label_values=None,
                   **metric_options) -> Evaluation:
    """Evaluate a pair of label volumes, or a folder of predictions against a tree.

    ``metric_options`` go to :func:`leg3dus.metrics.evaluate` (``tolerance_mm``,
    ``hd95_mode``, ``surface``, ``border``). A pair may take its ``image`` and border
    volumes (``distinct_border``/``completed_border``: see :func:`parse_border_spec`);
    a tree takes ``with_image`` (each subject's ultrasound), ``borders`` (each subject's
    border volumes, :func:`leg3dus.metrics.cohort.find_borders`) and ``splits``.
    ``runner(fn, jobs)`` runs the subjects (default in-process,
    :func:`leg3dus.core.parallel.map_subjects`); ``extra(image, border_files)`` returns
    more keys per structure (``{"SOL": {...}, ...}``) for a pair or each evaluated subject
    (a subject whose ``extra`` fails becomes a failed row). ``out`` (.json or .csv) is
    checked before any work and written at the end.

    >>> evaluate_paths("predictions", "LEG-3D-US", splits=["test"]).failed  # doctest: +SKIP
    []
    """
    from ..core.label_values import from_option

    pred, truth = Path(pred), Path(truth)
    out = Path(out) if out is not None else None
    image = Path(image) if image is not None else None
    options = {**metric_options,
               "pred_label_values": from_option(pred_label_values)
               if isinstance(pred_label_values, str) else pred_label_values,
               "truth_label_values": from_option(truth_label_values, "--truth-label-values")
               if isinstance(truth_label_values, str) else truth_label_values}
    border = metric_options.get("border")
    if border is not None and border.rule == "gradient" and not (image or with_image):
        raise OptionError("--border-rule gradient needs the ultrasound: --image for a pair, "
                          "--with-image for a tree")
    border_files = {part: spec for part, spec in
                    (("distinct", parse_border_spec(distinct_border, "distinct")),
                     ("completed", parse_border_spec(completed_border, "completed")))
                    if spec is not None}
    if not pred.is_dir() and not truth.is_dir():
        if with_image or splits or borders:
            raise OptionError("--with-image, --borders and --split apply to a folder of "
                              "predictions")
        return _evaluate_pair(pred, truth, image, border_files, out, extra, options)
    if border_files:
        raise OptionError("--distinct-border and --completed-border take volumes of a "
                          "pair; for a tree use --borders")
    if not (pred.is_dir() and truth.is_dir()):
        raise OptionError(f"{pred} and {truth}: give two volumes, or a folder of "
                          "predictions and a dataset folder")
    if image is not None:
        raise OptionError("--image takes one volume; for a tree use --with-image")
    matched, missing = match_predictions(pred, truth, pred_name, splits or None, with_image,
                                         image_name=image_name, label_name=label_name,
                                         flat=flat)
    inputs = [pred, truth, *(f for s, p in matched for f in (p, s.image, s.label))]
    _check_out(out, inputs)
    if runner is None:
        from ..core.parallel import map_subjects

        runner = map_subjects
    jobs = [EvalJob(s, p, s.image if with_image else None, options, borders)
            for s, p in matched]
    rows = []
    for r in runner(evaluate_job, jobs):
        s = r.item.subject
        head = {"split": s.split, "id": s.id, "prediction": str(r.item.prediction)}
        row = ({**head, **r.value, "label_values": _conventions(r.item.prediction, s.label,
                                                                 options)}
               if r.ok else {**head, "error": r.error})
        if r.ok and extra is not None:
            try:
                _add(row, extra(s.image, find_borders(s)))
            except Leg3dusError as exc:
                row = {**head, "error": str(exc)}
        rows.append(row)
    evaluation = Evaluation({"subjects": rows, "summary": summarise(rows),
                             "missing": [s.key for s in missing]},
                            to_csv(rows, with_ids=True), pair=False,
                            failed=[(f"{r['split']}/{r['id']}", r["error"])
                                    for r in rows if "error" in r],
                            missing=[s.key for s in missing])
    _write_out(out, evaluation, inputs)
    return evaluation


def _add(result: dict, keys: dict) -> None:
    for name, row in keys.items():
        result[name].update(row)


def _evaluate_pair(pred, truth, image, border_files, out, extra, options) -> Evaluation:
    border_paths = [p for v in border_files.values()
                    for p in (v.values() if isinstance(v, dict) else [v])]
    inputs = [pred, truth, image, *border_paths]
    _check_out(out, inputs)
    if border_files:
        options = {**options, "borders": border_files}
    result = evaluate_files(pred, truth, image, **options)
    if extra is not None:
        _add(result, extra(image, border_files))
    result["label_values"] = _conventions(pred, truth, options)
    evaluation = Evaluation(result, to_csv([result], with_ids=False), pair=True)
    _write_out(out, evaluation, inputs)
    return evaluation
