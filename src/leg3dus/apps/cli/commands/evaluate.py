"""``leg3dus evaluate``: metrics of predicted labels against the truth, for one pair of
volumes or for a folder of predictions against a LEG-3D-US tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from ....core.errors import OptionError
from ....core.tables import json_ready, screen_cell
from ....dataset import LABEL_NAME
from ..app import (
    EXIT_USAGE,
    command,
    console,
    emit_json,
    image_name_option,
    label_name_option,
    label_values_option,
    quiet_option,
    run_batch,
    scheduler_option,
    workers_option,
)

_SHOWN = ("dice", "iou", "hd", "hd95", "assd", "nsd", "volume_error_percent")
_HEADINGS = {"structure": "label", "volume_error_percent": "vol err %",
             "worst_slices": "worst slices"}
_BORDER_SHOWN = tuple(f"{p}_{k}" for p in ("distinct", "completed")
                      for k in ("hd95", "assd", "border_dice"))


def _num(v) -> str:
    if isinstance(v, list):
        return "..".join(str(x) for x in v)
    if v is None:
        return "-"
    return screen_cell(v) if isinstance(v, (int, float)) else str(v)


def _border_spec(values: list[str] | None, part: str):
    """``--distinct-border``/``--completed-border`` values: one PATH (all muscles) or
    MUSCLE=PATH items (single muscles)."""
    from ....core.labels import BY_NAME

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


def _worst_notes(result: dict) -> list[str]:
    from ....metrics import STRUCTURES

    notes = []
    for name in STRUCTURES:
        w = result[name].get("worst_slices")
        if w:
            notes.append(f"{name}: the distances beyond HD95 ({_num(result[name]['hd95'])} "
                         f"mm) lie in slices {w[0]}..{w[1]} (axis 0)")
    return notes


def _write_out(out: Path, text: str, inputs) -> None:
    from ....core.atomic import atomic_path, check_not_input

    check_not_input(out, inputs)
    with atomic_path(out) as tmp:
        tmp.write_text(text)


def _check_out(out: Path | None, inputs) -> None:
    """Refuse a bad --out before any work: wrong suffix, or one of the inputs."""
    from ....core.atomic import check_not_input

    if out is None:
        return
    if out.suffix.lower() not in (".json", ".csv"):
        raise OptionError(f"{out}: --out must end in .json or .csv")
    check_not_input(out, inputs)


def _output(obj, csv_text: str, as_json: bool, as_csv: bool, out: Path | None, inputs):
    if out is not None:
        suffix = out.suffix.lower()
        if suffix not in (".json", ".csv"):
            raise OptionError(f"{out}: --out must end in .json or .csv")
        text = json.dumps(json_ready(obj), indent=2) + "\n" if suffix == ".json" else csv_text
        _write_out(out, text, inputs)
    if as_json:
        emit_json(obj)
    elif as_csv:
        sys.stdout.write(csv_text)
    return not (as_json or as_csv)


def _pair_table(result: dict) -> Table:
    from ....metrics import STRUCTURES

    table = Table(box=None, pad_edge=False)
    table.add_column("metric")
    for name in STRUCTURES:
        table.add_column(name, justify="right")
    for key in result[STRUCTURES[0]]:
        if key != "worst_slices":
            table.add_row(key, *(_num(result[n][key]) for n in STRUCTURES))
    return table


def _cohort_tables(rows: list[dict], summary: dict) -> tuple[Table, Table]:
    from ....metrics import STRUCTURES

    # One space between columns and short headings: the table fits 80 columns.
    per = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for col in ("split", "subject", "structure", *_SHOWN, "worst_slices"):
        per.add_column(_HEADINGS.get(col, col), no_wrap=True,
                       justify="left" if col in ("split", "subject", "structure") else "right")
    for r in rows:
        if "error" in r:
            per.add_row(r["split"] or "-", r["id"], "error", r["error"])
            continue
        for name in STRUCTURES:
            per.add_row(r["split"] or "-", r["id"], name,
                        *(_num(r[name].get(k)) for k in (*_SHOWN, "worst_slices")))
    summ = Table(box=None, pad_edge=False, title="cohort: mean of finite values (inf: "
                 "muscle missed, undef: undefined)")
    for col in ("structure", "metric", "mean", "sd", "median", "n", "inf", "undef",
                "failed"):
        summ.add_column(col, justify="left" if col in ("structure", "metric") else "right")
    shown = [k for k in summary[STRUCTURES[0]] if k in _SHOWN or k in _BORDER_SHOWN]
    for name in STRUCTURES:
        for key in shown:
            s = summary[name][key]
            summ.add_row(name, key, _num(s["mean"]), _num(s["sd"]), _num(s["median"]),
                         str(s["n"]), str(s["n_inf"]), str(s["n_undefined"]),
                         str(s["n_failed"]))
    return per, summ


def _conventions(pred, truth, options) -> dict:
    """The label conventions a pair was read with (as evaluate_files resolved them)."""
    from ....core.label_values import resolve

    return {"prediction": resolve(pred, options["pred_label_values"]).as_json(),
            "truth": resolve(truth, options["truth_label_values"]).as_json()}


def _print_label_values(results: list[dict]) -> None:
    """One line per label convention used, for predictions and for the truth."""
    from ....core.label_values import LabelConvention

    lines = dict.fromkeys(
        f"{role}: {LabelConvention.from_json(r['label_values'][role]).describe()}"
        for r in results for role in ("prediction", "truth"))
    for line in lines:
        console().print(line, markup=False)


@command("evaluate")
def evaluate(
    pred: Path = typer.Argument(..., help="A predicted label volume, or a folder of them."),
    truth: Path = typer.Argument(..., help="The truth label volume, or a LEG-3D-US tree."),
    image: Path = typer.Option(None, "--image", help="Ultrasound volume of a pair: adds "
                               "leg3dus's border estimator (estimated_* keys)."),
    with_image: bool = typer.Option(False, "--with-image", help="Tree: the border "
                                    "estimator with each subject's ultrasound."),
    distinct_border: list[str] = typer.Option(
        None, "--distinct-border", metavar="PATH|MUSCLE=PATH",
        help="Pair: distinct-border label volume (published border analysis); all "
             "muscles, or MUSCLE=PATH per muscle (repeat)."),
    completed_border: list[str] = typer.Option(
        None, "--completed-border", metavar="PATH|MUSCLE=PATH",
        help="Pair: completed-border label volume, as --distinct-border."),
    gradcam: Path = typer.Option(None, "--gradcam", metavar="RUN", help="Grad-CAM "
                                 "activation of the background class on the distinct and "
                                 "completed borders, for this trained network (run folder "
                                 "or .pt checkpoint); needs the image and the border "
                                 "volumes (--image and --distinct/--completed-border, or "
                                 "--with-image --borders for a tree)."),
    gradcam_layer: str = typer.Option(None, "--gradcam-layer", help="Network layer that "
                                      "Grad-CAM reads (default: model.1 for 2d, the last "
                                      "up-sampling block for 3d)."),
    borders: bool = typer.Option(False, "--borders", help="Tree: published border "
                                 "analysis with each subject's distinct_border_label and "
                                 "completed_border_label volumes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
    out: Path = typer.Option(None, "--out", "-o", help="Also write the results to a .json "
                             "or .csv file."),
    tolerance: float = typer.Option(1.0, "--tolerance", min=0.0, help="NSD and border "
                                    "tolerance in mm."),
    hd95: str = typer.Option("max", "--hd95", help="HD95 convention: max (larger directed "
                             "percentile) or pooled (both directions together)."),
    surface: str = typer.Option("surfel", "--surface", help="Surface points: surfel "
                                "(DeepMind surface elements) or voxel (border voxels)."),
    border_rule: str = typer.Option("either", "--border-rule", help="Estimator's distinct "
                                    "border: either, gradient or aponeurosis."),
    gradient_threshold: float = typer.Option(40.0, "--gradient-threshold", min=0.0,
                                             help="Grey levels per mm across a distinct "
                                             "border."),
    border_sigma: float = typer.Option(0.5, "--border-sigma", min=0.0, help="Gaussian "
                                       "smoothing of the image in mm before the gradient."),
    aponeurosis_mm: float = typer.Option(1.0, "--aponeurosis-mm", min=0.0, help="Distance "
                                         "to another muscle that makes a border shared."),
    split: list[str] = typer.Option(None, "--split", help="Tree: only these splits "
                                    "(repeat the option)."),
    pred_name: str = typer.Option(LABEL_NAME, help="Prediction file name inside subject "
                                  "folders of PRED."),
    image_name: str = image_name_option(),
    label_name: str = label_name_option(),
    label_values: str = label_values_option(),
    truth_label_values: str = typer.Option(
        None, "--truth-label-values", metavar="1,2,3|SOL=1,GM=2,GL=3",
        help="As --label-values, for TRUTH (--label-values applies to PRED)."),
    flat: bool = typer.Option(False, help="The tree is a flat folder; names are patterns "
                              "with {id}."),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Dice, IoU, precision, recall, volumes (cm3) and volume error (%), HD, HD95, ASSD,
    MASD and NSD (mm) per muscle (SOL, GM, GL) and for their union, and the slices where
    the distances beyond HD95 lie; with distinct/completed border volumes, every surface
    metric and a border Dice on each part (Duque et al., IPCAI 2024); with an ultrasound
    image, leg3dus's border estimator. PRED and TRUTH are two
    volumes on the same grid, or a folder of predictions and a LEG-3D-US tree matched by
    subject id (PRED_DIR/<split>/<id>/masksX1.mha, PRED_DIR/<id>/masksX1.mha or
    PRED_DIR/<id>.mha), giving a per-subject table and a cohort summary.

    Example: leg3dus evaluate predictions/ LEG-3D-US --split test --out results.csv
    """
    from ....core.label_values import from_option
    from ....metrics import BorderOptions
    from ....metrics.cohort import EvalJob, evaluate_job, match_predictions, summarise, to_csv
    from ....metrics.evaluate import evaluate_files

    if as_json and as_csv:
        raise OptionError("give --json or --csv, not both")
    options = {"tolerance_mm": tolerance, "hd95_mode": hd95, "surface": surface,
               "border": BorderOptions(border_rule, gradient_threshold, border_sigma,
                                       aponeurosis_mm),
               "pred_label_values": from_option(label_values),
               "truth_label_values": from_option(truth_label_values, "--truth-label-values")}
    if border_rule == "gradient" and not (image or with_image):
        raise OptionError("--border-rule gradient needs the ultrasound: --image for a pair, "
                          "--with-image for a tree")
    border_files = {part: spec for part, spec in
                    (("distinct", _border_spec(distinct_border, "distinct")),
                     ("completed", _border_spec(completed_border, "completed")))
                    if spec is not None}
    if not pred.is_dir() and not truth.is_dir():
        if with_image or split or borders:
            raise OptionError("--with-image, --borders and --split apply to a folder of "
                              "predictions")
        border_paths = [p for v in border_files.values()
                        for p in (v.values() if isinstance(v, dict) else [v])]
        _check_out(out, [pred, truth, image, *border_paths])
        if border_files:
            options["borders"] = border_files
        if gradcam is not None and (image is None or not border_files):
            raise OptionError("--gradcam needs --image and --distinct-border and/or "
                              "--completed-border")
        result = evaluate_files(pred, truth, image, **options)
        if gradcam is not None:
            from .evaluate_gradcam import add_gradcam

            add_gradcam(gradcam, image, border_files, gradcam_layer, result)
        result["label_values"] = _conventions(pred, truth, options)
        show = _output(result, to_csv([result], with_ids=False), as_json, as_csv, out,
                       [pred, truth, image, *border_paths])
        if show:
            console().print(_pair_table(result))
            for note in _worst_notes(result):
                console().print(note)
            _print_label_values([result])
        return
    if border_files:
        raise OptionError("--distinct-border and --completed-border take volumes of a "
                          "pair; for a tree use --borders")
    if gradcam is not None and not (borders and with_image):
        raise OptionError("--gradcam on a tree needs --borders and --with-image")
    if not (pred.is_dir() and truth.is_dir()):
        raise OptionError(f"{pred} and {truth}: give two volumes, or a folder of "
                          "predictions and a dataset folder")
    if image is not None:
        raise OptionError("--image takes one volume; for a tree use --with-image")
    matched, missing = match_predictions(pred, truth, pred_name, split or None, with_image,
                                         image_name=image_name, label_name=label_name,
                                         flat=flat)
    inputs = [pred, truth, *(f for s, p in matched for f in (p, s.image, s.label))]
    _check_out(out, inputs)
    jobs = [EvalJob(s, p, s.image if with_image else None, options, borders)
            for s, p in matched]
    results = run_batch(evaluate_job, jobs, scheduler, workers, "evaluating", quiet)
    rows = []
    for r in results:
        head = {"split": r.item.subject.split, "id": r.item.subject.id,
                "prediction": str(r.item.prediction)}
        rows.append({**head, **r.value,
                     "label_values": _conventions(r.item.prediction, r.item.subject.label,
                                                  options)}
                    if r.ok else {**head, "error": r.error})
    if gradcam is not None:
        from .evaluate_gradcam import add_gradcam_rows

        add_gradcam_rows(gradcam, gradcam_layer, rows,
                         {(s.split, s.id): s for s, _ in matched})
    summary = summarise(rows)
    obj = {"subjects": rows, "summary": summary,
           "missing": [s.key for s in missing]}
    show = _output(obj, to_csv(rows, with_ids=True), as_json, as_csv, out, inputs)
    if show:
        per, summ = _cohort_tables(rows, summary)
        console().print(per)
        console().print(summ)
        _print_label_values([r for r in rows if "label_values" in r])
    for s in missing:
        print(f"warning: no prediction for {s.key} in {pred}", file=sys.stderr)
    failed = [r for r in rows if "error" in r]
    for r in failed:
        print(f"error: {r['split']}/{r['id']}: {r['error']}", file=sys.stderr)
    if failed:
        raise typer.Exit(EXIT_USAGE)
