"""The docs tell the truth: their examples run, and the words they use are accepted.

Every ``leg3dus`` line of README.md and docs/*.md (see :mod:`docs_examples`) names only
options its command has; the runnable ones run in page order (README first, then the
docs pages by name) in one folder, as a reader would run them, on small phantom data:
``synth`` at 3 mm with at most 8 subjects, training for one epoch, no Dask cluster
(``--workers`` dropped), ``predict`` without ``--tta``, sweeps of a few coarse frames.
Inputs the pages take for granted (``x1.mha``, ``sparse.mha``, ``LEG-3D-US`` ...) are
made from a phantom cohort first. Examples that cannot run here are in :data:`SKIP`
with the reason.
Python blocks run in the same folder (those in :data:`PY_IMPORTS_ONLY` only import).
"""

from __future__ import annotations

import contextlib
import functools
import glob
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import typer.main
from docs_examples import (
    is_synopsis,
    options_named,
    python_examples,
    shell_examples,
    words,
)
from test_compound import stack_sequence
from typer.testing import CliRunner

from leg3dus import Volume, read_volume, write_volume
from leg3dus.apps.cli import app
from leg3dus.sweep import write_config, write_sequence

SHELL = shell_examples()
RUNNABLE = [e for e in SHELL if not is_synopsis(e.text)]
PYTHON = python_examples()

#: (page, start of the command) -> why it is not run here.
SKIP = {
    ("README.md", "leg3dus demo"): "the whole pipeline (minutes); tests/test_demo.py runs it",
    ("docs/compound.md", "leg3dus compound SpinePhantomFreehand"): "PLUS's SpinePhantom "
    "recording; tests/test_compound_conformance.py runs it from ../shared",
    ("docs/compound.md", "leg3dus compound sweep1.igs.mha"): "five sweeps in the current "
    "folder; README's compound line runs the same options on phantom sweeps",
    ("docs/compound.md", "leg3dus compound labels*"): "label sweeps in the current folder; "
    "README's compound tree line compounds phantom label sweeps",
    ("docs/scale.md", "leg3dus validate /shared"): "needs a running Dask scheduler",
    ("docs/annotate.md", "leg3dus annotate"): "opens a napari window; the napari plugin "
    "tests open it under Xvfb",
    ("README.md", "leg3dus annotate"): "opens a napari window; the napari plugin tests open "
    "it under Xvfb",
    ("docs/segment.md", "leg3dus train phantom --model 2d --out runs/p2d --config"):
    "p2d.toml is shown as text in the page; README's train line is run",
    ("docs/segment.md", "leg3dus train phantom --model 2d --out runs/cv2d"): "K trainings "
    "(minutes); tests/test_segment_crossval.py runs a 2-fold cross-validation",
    ("docs/segment.md", "leg3dus predict runs/cv2d"): "needs the cross-validation run; "
    "tests/test_segment_crossval.py predicts with its folds",
}
#: (page, start of the command) -> expected exit code (default 0). The sweeps this test
#: makes have a few coarse frames, about 6 mm apart: qc rightly reports them (exit 1).
EXIT = {("docs/dataset.md", "leg3dus morphology pred.nii.gz -o m.csv$"): 2,
        ("docs/dataset.md", "leg3dus validate benchmarks"): 1,
        ("README.md", "leg3dus qc "): 1,
        ("docs/compound.md", "leg3dus qc "): 1}
#: Examples whose printed lines do not depend on the data's size: each must appear.
PRINTED = {("docs/dataset.md", "leg3dus validate benchmarks"),
           ("docs/dataset.md", "leg3dus morphology pred.nii.gz -o m.csv --label-values")}
#: Python blocks that need data or time this test does not have: their imports run.
PY_IMPORTS_ONLY = {
    "docs/compound.md": "five sweeps in the current folder",
    "docs/metrics.md": "arrays and border volumes named in the text",
    "docs/phantom.md": "points and 2D tissue codes named in the text; 0.5 mm volumes",
    "docs/scale.md": "a full-size volume (slices 640..704)",
    "docs/segment.md": "trains for 14 minutes, or needs RUN/model.ts",
    "docs/volumes.md": "allocates a full-size volume (0.5 GB)",
}
#: Python blocks with side effects on the library (a registered export format).
PY_SIDE_EFFECTS = {("docs/dataset.md", "register_format")}


def test_compounding_max_is_maximum(cli, tmp_path, rng):
    """The README says mean/max/latest: ``max`` gives exactly what ``maximum`` gives."""
    frames = rng.integers(1, 256, (4, 9, 7), dtype=np.uint8)
    seq, cfg = stack_sequence(frames, dz=0.5)
    s = write_sequence(seq, tmp_path / "s.igs.mha")
    c = write_config(cfg, tmp_path / "c.xml")
    got = {}
    for word in ("max", "maximum", "MAX"):
        out = tmp_path / f"{word}.mha"
        r = cli("compound", s, "--config", c, "-o", out, "--compounding", word, "--quiet")
        assert r.exit_code == 0, r.output
        got[word] = read_volume(out).array
    np.testing.assert_array_equal(got["max"], got["maximum"])
    np.testing.assert_array_equal(got["MAX"], got["maximum"])
    r = cli("compound", s, "--config", c, "-o", tmp_path / "x.mha", "--compounding", "mx")
    assert r.exit_code == 2 and "compounding" in r.stderr


def test_report_prediction_name_finds_differently_named_predictions(cli, tiny_dataset,
                                                                     tmp_path):
    """docs/report.md: ``--prediction-name NAME`` is the label file's name inside DIR."""
    pred = tmp_path / "pred"
    for sid in ("S01", "S02"):
        truth = next(tiny_dataset.glob(f"*/{sid}/masksX1.mha"))
        write_volume(read_volume(truth), pred / sid / "seg.mha")
    args = ("report", tiny_dataset, "--predictions", pred, "--max-figures", "0", "--json")
    res = cli(*args, "-o", tmp_path / "a.html")
    assert res.exit_code == 2 and "no predictions found" in res.stderr
    res = cli(*args, "-o", tmp_path / "b.html", "--prediction-name", "seg.mha")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["evaluated"] == 2


def test_propagate_smooth_annotated_is_the_default(cli, tmp_path):
    """docs/propagate.md: zoi smooths the annotated slices unless ``--keep-annotated``."""
    sparse = np.zeros((9, 12, 12), np.uint8)
    sparse[0, 3:9, 3:9] = 100
    sparse[8, 4:8, 4:8] = 100
    write_volume(Volume(sparse), tmp_path / "sparse.mha")
    outs = {}
    for flag in ("--smooth-annotated", "--keep-annotated", None):
        out = tmp_path / f"{flag}.mha"
        args = ["propagate", tmp_path / "sparse.mha", "-o", out, "--method", "zoi",
                "--annotated", "0,8", "--quiet"]
        res = cli(*args, *([flag] if flag else []))
        assert res.exit_code == 0, res.stderr
        outs[flag] = read_volume(out).array
    np.testing.assert_array_equal(outs["--keep-annotated"][[0, 8]], sparse[[0, 8]])
    assert not np.array_equal(outs["--smooth-annotated"][[0, 8]], sparse[[0, 8]])
    np.testing.assert_array_equal(outs[None], outs["--smooth-annotated"])


def _lookup(table: dict, example, default=None):
    """The value for ``example``: its page and the start of its command (or the whole
    command, ``$`` at the end of the key)."""
    for (doc, start), value in table.items():
        exact = start.endswith("$")
        if example.doc == doc and (words(example.text) == words(start[:-1]) if exact
                                   else example.text.startswith(start)):
            return value
    return default


def _command_options() -> dict[str, set[str]]:
    group = typer.main.get_command(app)
    return {name: {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
            | {"--help"} for name, cmd in group.commands.items()}


@pytest.mark.parametrize("example", SHELL, ids=str)
def test_every_option_in_the_docs_exists(example):
    """Synopses and examples name only commands and options that exist."""
    commands = _command_options()
    name = words(example.text)[1]
    assert name in commands, f"{example}: no command {name!r}"
    unknown = options_named(example.text) - commands[name]
    assert not unknown, f"{example}: {name} has no {', '.join(sorted(unknown))}"


def _tiny_sweeps(tree: Path, seed: int = 0, n_sweeps: int = 2) -> None:
    """Sweeps of a few coarse frames for every subject of a synth tree."""
    from leg3dus.phantom import Anatomy, cohort_params
    from leg3dus.phantom.cohort import read_cohort_csv
    from leg3dus.phantom.sweeps import SweepProtocol, write_sweeps

    protocol = SweepProtocol(n_sweeps=n_sweeps, frame_px=(40, 20), pixel_mm=2.5,
                             frame_spacing_mm=8.0)
    rows = read_cohort_csv(tree / "cohort.csv")
    params = cohort_params(max(int(r["index"]) for r in rows) + 1, seed=seed)
    for row in rows:
        write_sweeps(Anatomy(params[int(row["index"])]),
                     tree / row["split"] / row["id"] / "sweeps", protocol,
                     spacing=float(row["spacing_mm"]))


def _slices() -> int:
    """Slices of the phantom subject the examples use (in the current folder)."""
    from leg3dus import read_header

    return read_header("sparse.mha").shape[0]


def _reduce(args: list[str]) -> tuple[list[str], list]:
    """Smaller options of the same command, and what to do after it."""
    out, after, i = [], [], 0
    name = args[0]
    while i < len(args):
        a = args[i]
        if a == "--workers":
            i += 2
            continue
        if name == "synth" and a in ("--subjects", "--second-acquisition-subjects"):
            most = 1 if "--sweeps" in args else 8  # 8: the README's test subjects P007, P008
            out += [a, str(min(int(args[i + 1]), most))]
            i += 2
            continue
        if name == "synth" and a == "--spacing":
            out += [a, "3"]
            i += 2
            continue
        if name == "synth" and a == "--sweeps":
            seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 0
            after.append(functools.partial(_tiny_sweeps, Path(args[1]), seed))
        elif name == "train" and a == "--time-limit":
            out += [a, "10s", "--max-epochs", "1"]
            i += 2
            continue
        elif name == "predict" and a == "--tta":
            pass  # four passes at the model's spacing: tests/test_segment.py covers it
        elif a == "--annotated" and ":1443:" in args[i + 1]:
            # the dataset's 1443 slices: the phantom subject's at 3 mm
            out += [a, args[i + 1].replace(":1443:", f":{_slices()}:")]
            i += 2
            continue
        else:
            out.append(a)
        i += 1
    if name == "predict" and "--propagate" in out:
        out += ["--adapt-steps", "5"]
    return out, after


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The folder the examples run in, with the inputs the pages take for granted."""
    ws = tmp_path_factory.mktemp("docs")
    runner = CliRunner()
    base = ws / ".base"
    # 8 subjects, seed 0: the subjects and splits of the README's cohort
    res = runner.invoke(app, ["synth", str(base), "--subjects", "8", "--spacing", "3",
                              "--second-acquisition", "--quiet"])
    assert res.exit_code == 0, res.output
    p001 = base / "train" / "P001"
    for name in ("x1.mha", "masksX1.mha", "x2.mha", "masksX2.mha"):
        shutil.copy(p001 / name, ws / name)
        (ws / "S01").mkdir(exist_ok=True)
        shutil.copy(p001 / name, ws / "S01" / name)
    shutil.copy(p001 / "x2_true.tfm", ws / "rough.tfm")
    truth = read_volume(p001 / "masksX1.mha")
    sparse = np.zeros_like(truth.array)
    sparse[::20] = truth.array[::20]
    write_volume(truth.with_array(sparse), ws / "sparse.mha")
    (ws / "slices.txt").write_text(f"0:{truth.shape[0]}:20\n")
    moved = np.roll(truth.array, 1, axis=0)
    gm = moved == 150
    moved[gm & ~ndi.binary_erosion(gm)] = 0
    write_volume(truth.with_array(moved), ws / "pred" / "P001.mha")
    write_volume(truth.with_array(moved), ws / "pred.mha")
    res = runner.invoke(app, ["morphology", str(base), "-o", str(ws / "rater1.csv"), "-q"])
    assert res.exit_code == 0, res.output
    lines = (ws / "rater1.csv").read_text().splitlines()
    col = lines[0].split(",").index("volume_cm3")
    rng = np.random.default_rng(0)
    second = [lines[0]]
    for line in lines[1:]:  # a second rater: volumes within a few percent
        cells = line.split(",")
        cells[col] = f"{float(cells[col]) * rng.uniform(0.97, 1.03):.3f}"
        second.append(",".join(cells))
    (ws / "rater2.csv").write_text("\n".join(second) + "\n")
    classes = np.searchsorted([0, 100, 150, 200], truth.array).astype(np.uint8)
    write_volume(truth.with_array(classes), ws / "pred.nii.gz")
    for name in ("synthetic", "LEG-3D-US"):
        shutil.copytree(base, ws / name)
    shutil.copytree(p001, ws / "LEG-3D-US" / "train" / "01")
    shutil.copytree(p001, ws / "train" / "P001")
    subject = ws / "data" / "train" / "S01"  # as `leg3dus annotate` saves it
    shutil.copytree(p001, subject)
    write_volume(truth.with_array(sparse), subject / "sparseX1.mha")
    (subject / "sparseX1_slices.txt").write_text(
        "".join(f"{k}\n" for k in range(0, truth.shape[0], 20)))
    bench = ws / "benchmarks" / "_data" / "dataset" / "train"
    for sid in ("S01", "S02"):
        shutil.copytree(p001, bench / sid)
    stray = truth.array.copy()
    stray.flat[np.flatnonzero(stray == 100)[:20]] = 99
    write_volume(truth.with_array(stray), bench / "S02" / "masksX1.mha")
    return ws


def _chdir(path):
    @contextlib.contextmanager
    def inside():
        before = os.getcwd()
        os.chdir(path)
        try:
            yield
        finally:
            os.chdir(before)
    return inside()


_DONE: dict[str, str] = {}


@pytest.mark.parametrize("example", RUNNABLE, ids=str)
def test_shell_example_runs(example, workspace):
    reason = _lookup(SKIP, example)
    if reason:
        pytest.skip(reason)
    key = " ".join(words(example.text))
    if key in _DONE:
        pytest.skip(f"the same command ran at {_DONE[key]}")
    args = words(example.text)[1:]
    redirect = None
    if ">" in args:
        redirect = args[args.index(">") + 1]
        args = args[: args.index(">")]
    with _chdir(workspace):
        args = [m for a in args for m in (sorted(glob.glob(a)) if "*" in a else [a])]
        args, after = _reduce(args)
        res = CliRunner().invoke(app, args, catch_exceptions=False)
        expected = _lookup(EXIT, example, 0)
        assert res.exit_code == expected, \
            f"{example}: leg3dus {' '.join(args)}\nexit {res.exit_code}\n{res.output}"
        if redirect:
            Path(redirect).write_text(res.stdout)
        if _lookup(dict.fromkeys(PRINTED, True), example):
            shown = [line.rstrip() for line in res.output.splitlines()]
            missing = [p for p in example.printed if p.strip() not in ("", "...")
                       and p not in shown]
            assert not missing, f"{example}: the page shows lines not printed: {missing}"
        for step in after:
            step()
    _DONE[key] = str(example)


@pytest.mark.parametrize("example", PYTHON, ids=str)
def test_python_example_runs(example, workspace):
    code = example.text
    only_imports = example.doc in PY_IMPORTS_ONLY or any(
        example.doc == doc and word in code for doc, word in PY_SIDE_EFFECTS)
    if only_imports:
        code = "\n".join(_import_statements(code))
    code = re.sub(r"spacing=1\.0\)", "spacing=3.0)", code)  # README: the phantom at 3 mm
    namespace = {"__name__": "docs_example"}
    with _chdir(workspace), contextlib.redirect_stdout(io.StringIO()):
        code = code.replace("1443", str(_slices()))  # the dataset's slices: the phantom's
        namespace["vol"] = namespace["dense"] = read_volume("masksX1.mha")
        exec(compile(code, str(example), "exec"), namespace)  # noqa: S102


def _import_statements(code: str) -> list[str]:
    """The import statements of a block (parenthesised ones joined)."""
    out, current = [], None
    for line in code.splitlines():
        if current is not None:
            current += " " + line.strip()
            if ")" in line:
                out.append(current)
                current = None
        elif re.match(r"(from \S+ )?import ", line):
            if "(" in line and ")" not in line:
                current = line
            else:
                out.append(line)
    return out
