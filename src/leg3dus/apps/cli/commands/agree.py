"""``leg3dus agree``: agreement and reliability of muscle measures between raters,
sessions or methods (ICC, SEM, MDC95, CV%, Bland-Altman)."""

from __future__ import annotations

import functools
from pathlib import Path

import typer
from rich.table import Table

from ....core.atomic import check_outputs
from ....core.errors import InputFileError, Leg3dusError
from ....core.tables import screen_cell
from ....dataset import IMAGE_NAME
from ....dataset.info import list_subjects, subject_files
from ..app import (
    command,
    console,
    emit_json,
    flat_option,
    label_name_option,
    label_values_option,
    quiet_option,
    run_batch,
    scheduler_option,
    workers_option,
)

#: Input files read as tables; folders are label trees or prediction folders.
TABLE_SUFFIXES = (".csv", ".tsv")


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
    from ....agree import agreement, left_out_lines, rater_names
    from ....agree.figures import write_agreement_figure
    from ....agree.results_io import check_result_path, write_result
    from ....agree.summary import BY_CHOICES
    from ....core.errors import OptionError

    measures = [m.strip() for item in measure for m in item.split(",") if m.strip()]
    if by not in BY_CHOICES:
        raise OptionError(f"--by must be one of {', '.join(BY_CHOICES)}, found {by!r}")
    if len(inputs) < 2:
        raise OptionError(f"expected at least two inputs to compare, found {len(inputs)}")
    if out is not None:
        check_result_path(out)
    read = functools.partial(_read_input, measures=measures, label_name=label_name,
                             label_values=label_values, flat=flat, quiet=quiet,
                             scheduler=scheduler, workers=workers)
    sources = [_sources(p, label_name, flat) for p in inputs]
    check_outputs((out, plot), [p for s in sources for p in s])
    if plot is not None:
        from ....agree.figures import FIGURE_FORMATS

        if plot.suffix.lower().lstrip(".") not in FIGURE_FORMATS:
            raise OptionError(f"{plot}: --plot must end in .png, .pdf or .svg, found "
                              f"{plot.suffix!r}")
    tables = [read(p, name=n) for p, n in zip(inputs, rater_names(inputs), strict=True)]
    result = agreement(tables, measures, by=by, z=loa_z)
    result["inputs"] = [str(p) for p in inputs]
    if out is not None:
        write_result(result, out)
    if plot is not None:
        write_agreement_figure(result, plot)
    if as_json:
        emit_json(result)
        return
    _print_results(result)
    for line in left_out_lines(result):
        console().print(f"note: {line}", markup=False)


def _sources(path: Path, label_name: str, flat: bool) -> list[Path]:
    """The files an input stands for (a table, or a tree's label files)."""
    if path.is_file() or path.suffix.lower() in TABLE_SUFFIXES:
        return [path]
    if not path.is_dir():
        raise InputFileError(f"{path}: no such table or folder (expected a CSV table, a "
                             "label tree or a folder of predictions)")
    return [path, *subject_files(list_subjects(path, IMAGE_NAME, label_name, flat))]


def _read_input(path: Path, name: str, measures, label_name, label_values, flat, quiet,
                scheduler, workers):
    """A measure table from a CSV/TSV file, or from a folder measured with morphology."""
    from ....agree import read_table, table_from_rows

    if path.suffix.lower() in TABLE_SUFFIXES or not path.is_dir():
        if path.is_file() and path.suffix.lower() not in TABLE_SUFFIXES:
            raise InputFileError(f"{path}: expected a CSV or TSV table, a label tree or a "
                                 f"folder of predictions, found a {path.suffix or 'plain'} "
                                 "file")
        return read_table(path, measures, name=name)
    from ....core.label_values import from_option
    from ....morphology import cohort_rows, measure_subject

    subjects = [s for s in list_subjects(path, IMAGE_NAME, label_name, flat)
                if s.label is not None]
    if not subjects:
        raise InputFileError(f"{path}: no label files found (expected <split>/<id>/"
                             f"{label_name})")
    job = functools.partial(measure_subject, label_values=from_option(label_values),
                            allow_stray=False)
    results = run_batch(job, subjects, scheduler, workers, f"measuring {name}", quiet)
    failed = [r for r in results if not r.ok]
    if failed:
        more = f" (and {len(failed) - 1} more subjects)" if len(failed) > 1 else ""
        raise Leg3dusError(f"{failed[0].error}{more}")
    return table_from_rows(cohort_rows([r.value for r in results]), measures, str(path), name)


def _print_results(result: dict) -> None:
    """One table per measure: ICC2 with its interval, SEM, MDC95, CV% (and, for two
    inputs, bias and limits of agreement) per muscle."""
    out = console()
    two = len(result["raters"]) == 2
    group = "muscle" if result["by"] == "muscle" else "group"
    heads = [group, "n", "ICC2", "95% CI", "SEM", "MDC95", "CV%"] + (
        ["bias", "LoA"] if two else [])
    for m in result["measures"]:
        table = Table(box=None, pad_edge=False, title=m, title_justify="left")
        for h in heads:
            table.add_column(h, justify="left" if h == group else "right", no_wrap=True)
        for g, per in result["results"].items():
            if m not in per:
                continue
            e = per[m]
            cells = [g, str(e["n"]), screen_cell(e["ICC2"]),
                     screen_cell([e["ICC2_ci_lower"], e["ICC2_ci_upper"]]),
                     screen_cell(e["SEM"]), screen_cell(e["MDC95"]), screen_cell(e["CV_pct"])]
            if two:
                cells += [screen_cell(e["bias"]),
                          screen_cell([e["loa_lower"], e["loa_upper"]])]
            table.add_row(*cells)
        out.print(table)
    raters = " minus ".join(result["raters"]) if two else ", ".join(result["raters"])
    out.print(f"{'bias: ' if two else 'raters: '}{raters}", markup=False)
    out.print("ICC2 = ICC(A,1): two-way random, absolute agreement, single measure;",
              markup=False)
    out.print("SEM = SD x sqrt(1 - ICC2); all six forms with --json or --out", markup=False)
