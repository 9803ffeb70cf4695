"""``leg3dus demo``: the whole pipeline on a small synthetic cohort, then an HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import EXIT_USAGE, command, console, emit_json, progress_bars

#: What a demo run writes in its folder; another folder is never written into.
DEMO_ENTRIES = frozenset({"data", "compounded", "annotations", "propagated", "registered",
                          "model", "predictions", "evaluation.json", "morphology.csv",
                          "csa_profiles.csv", "morphology_summary.csv", "meshes",
                          "report.html"})


def check_demo_folder(out: Path) -> None:
    """Refuse an --out that is a file, or a folder holding anything a demo does not write
    (a dataset, other results): the demo replaces files there.

    >>> check_demo_folder(Path("a-new-folder"))
    """
    from ....core.atomic import check_output_folder
    from ....core.errors import OutputError

    check_output_folder(out)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name not in DEMO_ENTRIES and not p.name.startswith("."))
        if foreign:
            raise OutputError(f"{out}: holds {', '.join(foreign[:3])}"
                              f"{' ...' if len(foreign) > 3 else ''}, which the demo did not "
                              "write; expected a new or empty folder, or a previous demo's")


@command("demo")
def demo(
    out: Path = typer.Option(Path("leg3dus-demo"), "--out", "-o", help="Output folder."),
    quick: bool = typer.Option(False, "--quick", help="Reduced form: 3 small subjects at "
                               "2 mm and one short training epoch (about a minute)."),
    seed: int = typer.Option(0, help="Seed of the synthetic cohort and of training."),
    as_json: bool = typer.Option(False, "--json", help="Print the steps as JSON at the end."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run leg3dus end to end on a synthetic cohort at 1 mm: synth with sweeps and second
    acquisitions, compound, sparse annotations, propagate (zoi, sdf), register, train a
    small network, predict, evaluate, morphology and the HTML report. Each step says what
    it did; a stage that is missing is reported as skipped. Exit 2 if a step failed.

    Example: leg3dus demo --out leg3dus-demo
    """
    import dataclasses

    from ...demo import FULL, QUICK
    from ...demo import demo as run_demo

    check_demo_folder(out)
    settings = dataclasses.replace(QUICK if quick else FULL, seed=seed)
    out_console = console()
    say = (lambda _m: None) if as_json else out_console.print

    result = run_demo(out, settings=settings, log=lambda m: say(m, markup=False)
                      if not as_json else None, progress=progress_bars(quiet))
    counts = {k: sum(s.status == k for s in result.steps) for k in ("done", "skipped", "failed")}
    if as_json:
        emit_json({"out": str(result.out), "report": result.report, "seconds": result.seconds,
                   "steps": [dataclasses.asdict(s) for s in result.steps]})
    else:
        say(f"demo finished in {result.seconds:.0f} s: {counts['done']} steps done, "
            f"{counts['skipped']} skipped, {counts['failed']} failed")
        if result.report:
            say(f"report: {result.report.resolve()}")
        else:
            say("no report was written")
    if counts["failed"]:
        raise typer.Exit(EXIT_USAGE)
