"""``leg3dus evaluate``: metrics of predicted labels against the truth, for one pair of
volumes or for a folder of predictions against a LEG-3D-US tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from ...dataset import LABEL_NAME
from ...errors import OptionError
from ..app import (
    EXIT_USAGE,
    _jsonable,
    command,
    console,
    emit_json,
    image_name_option,
    label_name_option,
    quiet_option,
    run_batch,
    scheduler_option,
    workers_option,
)

_SHOWN = ("dice", "iou", "hd", "hd95", "assd", "nsd", "volume_error_percent")


def _num(v: float) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def _write_out(out: Path, text: str, inputs) -> None:
    from ...atomic import atomic_path, check_not_input

    check_not_input(out, inputs)
    with atomic_path(out) as tmp:
        tmp.write_text(text)


def _check_out(out: Path | None, inputs) -> None:
    """Refuse a bad --out before any work: wrong suffix, or one of the inputs."""
    from ...atomic import check_not_input

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
        text = json.dumps(_jsonable(obj), indent=2) + "\n" if suffix == ".json" else csv_text
        _write_out(out, text, inputs)
    if as_json:
        emit_json(obj)
    elif as_csv:
        sys.stdout.write(csv_text)
    return not (as_json or as_csv)


def _pair_table(result: dict) -> Table:
    from ...metrics import STRUCTURES

    table = Table(box=None, pad_edge=False)
    table.add_column("metric")
    for name in STRUCTURES:
        table.add_column(name, justify="right")
    for key in result[STRUCTURES[0]]:
        table.add_row(key, *(_num(result[n][key]) for n in STRUCTURES))
    return table


def _cohort_tables(rows: list[dict], summary: dict) -> tuple[Table, Table]:
    from ...metrics import STRUCTURES

    per = Table(box=None, pad_edge=False)
    for col in ("split", "subject", "structure", *_SHOWN):
        per.add_column(col, justify="left" if col in ("split", "subject", "structure")
                       else "right")
    for r in rows:
        if "error" in r:
            per.add_row(r["split"] or "-", r["id"], "error", r["error"])
            continue
        for name in STRUCTURES:
            per.add_row(r["split"] or "-", r["id"], name, *(_num(r[name][k]) for k in _SHOWN))
    summ = Table(box=None, pad_edge=False, title="cohort: mean ± sd (median)")
    summ.add_column("metric")
    for name in STRUCTURES:
        summ.add_column(name, justify="right")
    for key in summary[STRUCTURES[0]]:
        cells = []
        for name in STRUCTURES:
            s = summary[name][key]
            cells.append(f"{s['mean']:.4g} ± {s['sd']:.2g} ({s['median']:.4g})")
        summ.add_row(key, *cells)
    return per, summ


@command("evaluate")
def evaluate(
    pred: Path = typer.Argument(..., help="A predicted label volume, or a folder of them."),
    truth: Path = typer.Argument(..., help="The truth label volume, or a LEG-3D-US tree."),
    image: Path = typer.Option(None, "--image", help="Ultrasound volume of a pair: adds "
                               "the border analysis."),
    with_image: bool = typer.Option(False, "--with-image", help="Tree: border analysis "
                                    "with each subject's ultrasound from the tree."),
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
    border_rule: str = typer.Option("either", "--border-rule", help="Distinct border: "
                                    "either, gradient or aponeurosis."),
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
    flat: bool = typer.Option(False, help="The tree is a flat folder; names are patterns "
                              "with {id}."),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Dice, IoU, precision, recall, volumes (cm3) and volume error (%), HD, HD95, ASSD,
    MASD and NSD (mm) per muscle (SOL, GM, GL) and for their union; with an ultrasound
    image, the border analysis (distinct vs completed borders). PRED and TRUTH are two
    volumes on the same grid, or a folder of predictions and a LEG-3D-US tree matched by
    subject id (PRED_DIR/<split>/<id>/masksX1.mha, PRED_DIR/<id>/masksX1.mha or
    PRED_DIR/<id>.mha), giving a per-subject table and a cohort summary.

    Example: leg3dus evaluate predictions/ LEG-3D-US --split test --out results.csv
    """
    from ...metrics import BorderOptions
    from ...metrics.cohort import EvalJob, evaluate_job, match_predictions, summarise, to_csv
    from ...metrics.evaluate import evaluate_files

    if as_json and as_csv:
        raise OptionError("give --json or --csv, not both")
    options = {"tolerance_mm": tolerance, "hd95_mode": hd95, "surface": surface,
               "border": BorderOptions(border_rule, gradient_threshold, border_sigma,
                                       aponeurosis_mm)}
    if border_rule == "gradient" and not (image or with_image):
        raise OptionError("--border-rule gradient needs the ultrasound: --image for a pair, "
                          "--with-image for a tree")
    if not pred.is_dir() and not truth.is_dir():
        if with_image or split:
            raise OptionError("--with-image and --split apply to a folder of predictions")
        _check_out(out, [pred, truth, image])
        result = evaluate_files(pred, truth, image, **options)
        show = _output(result, to_csv([result], with_ids=False), as_json, as_csv, out,
                       [pred, truth, image])
        if show:
            console().print(_pair_table(result))
        return
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
    jobs = [EvalJob(s, p, s.image if with_image else None, options) for s, p in matched]
    results = run_batch(evaluate_job, jobs, scheduler, workers, "evaluating", quiet)
    rows = []
    for r in results:
        head = {"split": r.item.subject.split, "id": r.item.subject.id,
                "prediction": str(r.item.prediction)}
        rows.append({**head, **r.value} if r.ok else {**head, "error": r.error})
    good = [r for r in rows if "error" not in r]
    summary = summarise(good)
    obj = {"subjects": rows, "summary": summary,
           "missing": [s.key for s in missing]}
    show = _output(obj, to_csv(rows, with_ids=True), as_json, as_csv, out, inputs)
    if show:
        per, summ = _cohort_tables(rows, summary)
        console().print(per)
        console().print(summ)
    for s in missing:
        print(f"warning: no prediction for {s.key} in {pred}", file=sys.stderr)
    failed = [r for r in rows if "error" in r]
    for r in failed:
        print(f"error: {r['split']}/{r['id']}: {r['error']}", file=sys.stderr)
    if failed:
        raise typer.Exit(EXIT_USAGE)
