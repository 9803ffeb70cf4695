"""``leg3dus evaluate``: metrics of predicted labels against the truth, for one pair of
volumes or for a folder of predictions against a LEG-3D-US tree."""

from __future__ import annotations

from pathlib import Path

import typer

from ....core.errors import OptionError
from ....dataset import LABEL_NAME
from ..app import (
    batch_runner,
    command,
    image_name_option,
    label_name_option,
    label_values_option,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..output import exit_if_failed, warn


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
    tolerance_mm: float = typer.Option(1.0, "--tolerance-mm", "--tolerance", min=0.0,
                                       help="NSD and border tolerance in mm."),
    hd95: str = typer.Option("max", "--hd95", help="HD95 convention: max (larger directed "
                             "percentile) or pooled (both directions together)."),
    surface: str = typer.Option("surfel", "--surface", help="Surface points: surfel "
                                "(DeepMind surface elements) or voxel (border voxels)."),
    border_rule: str = typer.Option("either", "--border-rule", help="Estimator's distinct "
                                    "border: either, gradient or aponeurosis."),
    gradient_threshold: float = typer.Option(40.0, "--gradient-threshold", min=0.0,
                                             help="Grey levels per mm across a distinct "
                                             "border."),
    border_sigma_mm: float = typer.Option(0.5, "--border-sigma-mm", "--border-sigma", min=0.0,
                                          help="Gaussian smoothing of the image in mm "
                                          "before the gradient."),
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
    image, leg3dus's border estimator. PRED and TRUTH are two volumes on the same grid,
    or a folder of predictions and a LEG-3D-US tree matched by subject id
    (PRED_DIR/<split>/<id>/masksX1.mha, PRED_DIR/<id>/masksX1.mha or
    PRED_DIR/<id>.mha), giving a per-subject table and a cohort summary.

    Example: leg3dus evaluate predictions/ LEG-3D-US --split test --out results.csv
    """
    from ....metrics import BorderOptions
    from ..evaluate_tables import print_evaluation  # imports the metrics (numba)

    if as_json and as_csv:
        raise OptionError("give --json or --csv, not both")
    options = dict(
        image=image, with_image=with_image, distinct_border=distinct_border,
        completed_border=completed_border, borders=borders, splits=split, pred_name=pred_name,
        image_name=image_name, label_name=label_name, flat=flat, out=out,
        runner=batch_runner(scheduler, workers, "evaluating", quiet),
        pred_label_values=label_values, truth_label_values=truth_label_values,
        tolerance_mm=tolerance_mm, hd95_mode=hd95, surface=surface,
        border=BorderOptions(border_rule, gradient_threshold, border_sigma_mm, aponeurosis_mm))
    from ....metrics.batch import evaluate_paths as run
    if gradcam is not None:
        from ....segment.gradcam_eval import evaluate_with_gradcam as run
        options.update(run=gradcam, layer=gradcam_layer)
    evaluation = run(pred, truth, **options)
    print_evaluation(evaluation, as_json, as_csv)
    for key in evaluation.missing:
        warn(f"no prediction for {key} in {pred}")
    exit_if_failed(evaluation.failed)
