"""``leg3dus report``: one self-contained HTML report of a cohort."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import (
    batch_runner,
    command,
    emit_json,
    flat_option,
    image_name_option,
    label_name_option,
    label_values_option,
    progress_bars,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..output import exit_if_failed, say


@command("report")
def report(
    data: Path = typer.Argument(..., help="A LEG-3D-US tree or a folder of subjects."),
    out: Path = typer.Option(Path("report.html"), "--out", "-o", help="The HTML file to write."),
    predictions: Path = typer.Option(None, "--predictions", help="Folder of predicted labels "
                                     "(<split>/<id>/masksX1.mha as leg3dus predict writes, "
                                     "<id>/NAME or <id>.mha): adds the evaluation."),
    prediction_name: str = typer.Option(None, help="Label file name inside the predictions "
                                        "folder (default: --label-name)."),
    participants: Path = typer.Option(None, "--participants", help="CSV/TSV with subject id, "
                                      "sex and side; default DATA/cohort.csv when present."),
    agreement: list[Path] = typer.Option(None, "--agreement", help="Agreement results "
                                         "(JSON from leg3dus agree --out agree.json; "
                                         "repeat the option): adds an Agreement section."),
    meshes: Path = typer.Option(None, "--meshes", help="Also export one surface mesh per "
                                "subject and muscle into this folder."),
    mesh_format: str = typer.Option("stl", help="Mesh file format: stl, ply or obj."),
    mesh_step: int = typer.Option(1, min=1, help="Marching-cubes step (voxels) of exported "
                                  "meshes; 2 or more gives lighter files."),
    max_figures: int = typer.Option(4, min=0, help="How many subjects get slice figures "
                                    "and a 3D picture: those with a prediction first when "
                                    "--predictions is given."),
    subjects: str = typer.Option(None, "--subjects", metavar="ID,ID",
                                 help="Draw these subjects (ids or split/id) instead."),
    leg_extent: str = typer.Option("labels", help="100 % of leg length: 'labels' or 'volume'."),
    title: str = typer.Option("leg3dus report", help="Title of the page."),
    image_name: str = image_name_option(),
    label_name: str = label_name_option(),
    label_values: str = label_values_option(),
    prediction_label_values: str = typer.Option(
        None, "--prediction-label-values", metavar="1,2,3|SOL=1,GM=2,GL=3",
        help="As --label-values, for the --predictions files."),
    flat: bool = flat_option(),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """Write one self-contained HTML report (figures embedded): the cohort's muscle
    morphology table and summary, cross-section profiles, box plots, slices with label
    overlays, 3D surface pictures, and with --predictions the evaluation.

    The slice figures show the image with the labels filled and, for subjects with a
    prediction, the prediction outlined dashed. A subject that could not be measured,
    evaluated or drawn is one error line and the page says which; the report is still
    written and the exit code is 2.

    Example: leg3dus report LEG-3D-US --predictions predictions -o report.html

    Example: leg3dus report LEG-3D-US/test --predictions pred --subjects P031,P035
    """
    from ....core.errors import OptionError
    from ....core.label_values import LabelConvention, from_option
    from ....morphology.cohort import check_leg_extent
    from ...report import make_report
    from ...report.mesh import MESH_FORMATS

    check_leg_extent(leg_extent)
    if f".{mesh_format.lower()}" not in MESH_FORMATS:
        raise OptionError("--mesh-format must be one of "
                          f"{', '.join(f[1:] for f in MESH_FORMATS)}; found {mesh_format!r}")

    wanted = None
    if subjects is not None:
        wanted = [w.strip() for w in subjects.split(",") if w.strip()]
        if not wanted:
            raise OptionError(f"--subjects: expected ids separated by commas, found "
                              f"{subjects!r}")

    result = make_report(data, out, predictions=predictions, participants=participants,
                         image_name=image_name, label_name=label_name,
                         prediction_name=prediction_name, flat=flat, leg_extent=leg_extent,
                         max_figures=max_figures, subjects=wanted, meshes_dir=meshes,
                         mesh_format=mesh_format, mesh_step=mesh_step, title=title,
                         run=batch_runner(scheduler, workers, quiet=quiet),
                         progress=progress_bars(quiet), label_values=from_option(label_values),
                         prediction_label_values=from_option(prediction_label_values,
                                                             "--prediction-label-values"),
                         agreement=agreement)
    if as_json:
        emit_json({"report": str(result.path), "subjects": result.subjects,
                   "figures": result.figures, "drawn": result.drawn,
                   "meshes": [str(p) for p in result.meshes],
                   "evaluated": None if result.evaluation is None else len(result.evaluation),
                   "errors": result.errors, "label_values": result.label_values})
    else:
        extra = f", {len(result.meshes)} meshes in {meshes}" if meshes else ""
        evaluated = (f", {len(result.evaluation)} predictions evaluated"
                     if result.evaluation is not None else "")
        drawn = f"slices of {', '.join(result.drawn)}" if result.drawn else "no subject drawn"
        say(*(LabelConvention.from_json(lv).describe() for lv in result.label_values),
            f"report: {result.path} ({result.subjects} subjects, {result.figures} figures, "
            f"{drawn}{evaluated}{extra})")
    exit_if_failed((f"{e['split'] or '-'}/{e['id']}", e["error"]) for e in result.errors)
