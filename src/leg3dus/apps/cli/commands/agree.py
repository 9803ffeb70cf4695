"""``leg3dus agree``: agreement and reliability of muscle measures between raters,
sessions or methods (ICC, SEM, MDC95, CV%, Bland-Altman)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import (
    batch_runner,
    command,
    console,
    emit_json,
    flat_option,
    label_name_option,
    label_values_option,
    quiet_option,
    scheduler_option,
    workers_option,
)
from ..tables import print_agreement


@command("agree")
def agree(
    inputs: list[Path] = typer.Argument(..., help="Two or more measure tables (CSV as "
                                        "`leg3dus morphology -o` writes), label trees or "
                                        "prediction folders: one per rater, session or method."),
    measure: list[str] = typer.Option(["volume_cm3"], "--measure", "-m", help="Measure "
                                      "column(s) to compare; repeat or separate by commas."),
    by: str = typer.Option("muscle", "--by", help="One result per muscle ('muscle') or all "
                           "subject-muscle pairs together ('none')."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the results to a .csv (one row "
                             "per muscle and measure) or .json file (all, with values)."),
    plot: Path = typer.Option(None, "--plot", help="Write Bland-Altman plots and identity "
                              "scatters per muscle and measure (.png, .pdf or .svg)."),
    loa_z: float = typer.Option(1.96, "--loa-z", min=0.5, help="Limits of agreement at "
                                "bias +- this many SD (1.96: 95 %)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    label_name: str = label_name_option(),
    label_values: str = label_values_option(),
    flat: bool = flat_option(),
    quiet: bool = quiet_option(),
    scheduler: str = scheduler_option(),
    workers: int = workers_option(),
) -> None:
    """ICC in six forms (ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k) with 95 % intervals, SEM,
    MDC95 and within-subject CV% per muscle and measure; with two inputs also
    Bland-Altman bias and limits of agreement (first minus second), their ratio variant,
    proportional bias, Lin's CCC, paired t and Wilcoxon tests. Rows are matched by
    subject and muscle; subjects missing from some input are listed and left out. A
    folder is measured first (leg3dus.morphology).

    Example: leg3dus agree rater1.csv rater2.csv --measure volume_cm3 --plot ba.png
    """
    from ....agree import left_out_lines
    from ....agree.inputs import agreement_from_inputs, split_measures
    from ..folder_measures import folder_measures

    folder_files, measure_folder = folder_measures(
        label_name, label_values, flat, batch_runner(scheduler, workers, quiet=quiet))
    result = agreement_from_inputs(inputs, split_measures(measure), by=by, z=loa_z, out=out,
                                   plot=plot, folder_files=folder_files,
                                   measure_folder=measure_folder)
    if as_json:
        emit_json(result)
        return
    print_agreement(result)
    for line in left_out_lines(result):
        console().print(f"note: {line}", markup=False)
