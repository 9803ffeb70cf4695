"""The end-to-end demo: a small synthetic cohort through every stage of leg3dus.

synth (with tracked sweeps and second acquisitions) -> compound -> sparse annotations
-> propagate (zoi, sdf) -> register -> train -> predict -> evaluate -> morphology ->
agree -> report. Each step reports what it did; a stage this installation lacks, or one
whose input an earlier step could not make, is reported as skipped, never imitated.

>>> result = demo("leg3dus-demo")  # doctest: +SKIP
>>> result.report                  # doctest: +SKIP
PosixPath('leg3dus-demo/report.html')
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...core.errors import Leg3dusError

DEFAULT_OUT = "leg3dus-demo"


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo; :data:`FULL` runs in minutes, :data:`QUICK` for tests."""

    subjects: int = 8
    spacing: float = 1.0             # isotropic voxel size of the synthetic cohort, mm
    seed: int = 0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    sweep_subjects: int = 1          # subjects whose sweeps are compounded
    sweeps: int = 4
    sweep_frame_px: tuple[int, int] = (134, 55)  # rows (depth) x columns (across)
    sweep_pixel_mm: float = 0.69
    sweep_step_mm: float = 1.5
    second_subjects: int = 1         # subjects with a second acquisition to register
    register_levels_mm: tuple[float, ...] = (4.0, 2.0, 1.0)
    register_samples: int = 50_000
    register_iterations: int = 200
    register_point_step: int = 50    # every n-th muscle voxel is a registration target
    annotate_subjects: int = 3       # subjects whose labels are sparsified and propagated
    annotate_every_mm: float = 10.0
    annotator_jitter_mm: float = 0.5
    model: str = "2d"
    # A 4-level U-Net (about 4x fewer weights than the default 5 levels) whose window
    # covers a whole 1 mm transverse slice: validation and prediction then take one
    # window per slice, which is what costs most on a CPU.
    model_spec: tuple[tuple[str, object], ...] = (("channels", (16, 32, 64, 128)),
                                                  ("patch", (1, 192, 176)))
    max_epochs: int = 20
    steps_per_epoch: int = 40
    batch_size: int = 8
    train_seconds: float = 180.0
    val_overlap: float = 0.0
    lcc: bool = True
    report_figures: int = 3          # subjects with slice figures and a 3D picture


FULL = DemoSettings()
QUICK = DemoSettings(
    subjects=3, spacing=2.0, fractions=(0.34, 0.33, 0.33), sweeps=4, sweep_frame_px=(67, 28),
    sweep_pixel_mm=1.38, sweep_step_mm=3.0, register_levels_mm=(4.0, 2.0),
    register_samples=20_000, register_iterations=400, annotate_subjects=1,
    annotate_every_mm=12.0, model_spec=(("channels", (8, 16, 32)), ("patch", (1, 64, 64))),
    max_epochs=1, steps_per_epoch=4, batch_size=4, train_seconds=60.0, lcc=False,
    report_figures=1)


@dataclass
class Step:
    """The outcome of one step: ``status`` is done, skipped or failed."""

    name: str
    status: str
    message: str
    seconds: float = 0.0


@dataclass
class DemoResult:
    """Every step's outcome, the output folder and the report (None if not written)."""

    out: Path
    steps: list[Step] = field(default_factory=list)
    report: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(s.status == "failed" for s in self.steps)


class Skip(Exception):
    """A step cannot run: a stage is missing or an earlier step did not make its input."""


def need(module: str, *names: str):
    """Import ``leg3dus.<module>`` and return the attributes ``names``, or :class:`Skip`."""
    try:
        mod = importlib.import_module(f"leg3dus.{module}")
    except ImportError as exc:
        raise Skip(f"leg3dus.{module} is not part of this installation ({exc})") from None
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise Skip(f"leg3dus.{module} lacks {', '.join(missing)} in this installation")
    values = [getattr(mod, n) for n in names]
    return values[0] if len(values) == 1 else values


class Context(dict):
    """What steps hand to later steps; a missing key means that step did not run."""

    def require(self, key: str, made_by: str):
        if key not in self:
            raise Skip(f"needs the output of '{made_by}', which did not run")
        return self[key]


def _steps():
    from . import agree_step
    from . import steps as s

    return [("synth", s.synth), ("compound", s.compound), ("annotate", s.annotate),
            ("propagate", s.propagate), ("register", s.register), ("train", s.train),
            ("predict", s.predict), ("evaluate", s.evaluate), ("morphology", s.morphology),
            ("agree", agree_step.agree), ("report", s.report)]


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
    from ...core.atomic import check_output_folder
    from ...core.errors import OutputError

    check_output_folder(out)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir()
                         if p.name not in DEMO_ENTRIES and not p.name.startswith("."))
        if foreign:
            raise OutputError(f"{out}: holds {', '.join(foreign[:3])}"
                              f"{' ...' if len(foreign) > 3 else ''}, which the demo did not "
                              "write; expected a new or empty folder, or a previous demo's")


def demo(
    out: str | os.PathLike = DEFAULT_OUT,
    *,
    quick: bool = False,
    settings: DemoSettings | None = None,
    log: Callable[[str], None] = print,
    progress: Callable | None = None,
    only: tuple[str, ...] | None = None,
) -> DemoResult:
    """Run the demo into folder ``out`` and return what each step did.

    Parameters
    ----------
    out
        Output folder (created); the synthetic data, intermediate results, the model,
        predictions, tables, meshes and ``report.html`` go there.
    quick
        The reduced form (:data:`QUICK`: 3 small subjects at 2 mm, one short epoch).
    settings
        Explicit sizes; overrides ``quick``.
    log
        Receives one line per event (step start, what it did).
    progress
        ``progress(iterable, total=, description=)`` wrapper for per-subject loops, e.g.
        :func:`leg3dus.apps.cli.app.progress`; default none.
    only
        Run only these steps (their inputs must exist from an earlier run in ``out``).
    """
    settings = settings or (QUICK if quick else FULL)
    out = Path(out)
    check_demo_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(out=out, settings=settings, log=log,
                  progress=progress or (lambda items, **_: items))
    result = DemoResult(out)
    t0 = time.monotonic()
    steps = _steps()
    for i, (name, fn) in enumerate(steps, 1):
        if only and name not in only:
            continue
        log(f"[{i}/{len(steps)}] {name}")
        t = time.monotonic()
        try:
            message = fn(ctx)
            status = "done"
        except Skip as exc:
            status, message = "skipped", str(exc)
        except Leg3dusError as exc:
            status, message = "failed", str(exc)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - report the failure, let later steps try
            where = traceback.extract_tb(exc.__traceback__)[-1]
            status = "failed"
            message = (f"{type(exc).__name__}: {exc} "
                       f"(at {Path(where.filename).name}:{where.lineno})")
        step = Step(name, status, message, time.monotonic() - t)
        result.steps.append(step)
        log(f"      {status} in {step.seconds:.1f} s: {message}")
    result.seconds = time.monotonic() - t0
    report = out / "report.html"
    result.report = report if ctx.get("report") else None
    return result
