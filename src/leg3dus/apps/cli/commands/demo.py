"""``leg3dus demo``: the whole pipeline on a small synthetic cohort, then an HTML report."""

from __future__ import annotations

from pathlib import Path

import typer

from ..app import EXIT_USAGE, command, console, emit_json, progress_bars


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
