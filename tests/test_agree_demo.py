"""The demo's agreement step on small label volumes, and the report it feeds."""

from __future__ import annotations

import numpy as np
import pytest

from leg3dus import Volume, read_volume, write_volume
from leg3dus.agree.results_io import read_result
from leg3dus.apps.demo import QUICK, Context, demo
from leg3dus.apps.demo.agree_step import agree
from leg3dus.dataset import find_subjects


def _labels(scale: float, extra_sol: int = 0) -> Volume:
    labels = np.zeros((30, 16, 16), np.uint8)
    n = int(10 * scale)
    labels[1 : 1 + n + extra_sol, 2:8, 2:8] = 100
    labels[1 : 1 + n // 2, 8:14, 2:8] = 150
    labels[2 : 2 + n, 8:14, 8:14] = 200
    return Volume(labels, (1.0, 1.0, 1.0))


@pytest.fixture
def ctx(tmp_path):
    data, out = tmp_path / "demo" / "data", tmp_path / "demo"
    for i, s in enumerate((1.0, 1.5, 2.0, 2.5), 1):
        write_volume(_labels(s), data / "train" / f"S{i}" / "masksX1.mha")
    subs = find_subjects(data)
    c = Context(out=out, settings=QUICK, log=lambda _: None,
                progress=lambda items, **_: items, data=data)
    # Network predictions of two subjects: one slice of SOL too many in S1.
    for s, scale, extra in zip(subs[:2], (1.0, 1.5), (1, 0), strict=True):
        write_volume(_labels(scale, extra), out / "predictions" / "train" / s.id / "masksX1.mha")
    c["predictions"], c["predicted"] = out / "predictions", subs[:2]
    # sdf-propagated labels of three subjects, equal to the truth.
    for s in subs[:3]:
        write_volume(read_volume(s.label), out / "propagated" / f"{s.id}_sdf.mha")
    c["propagation"] = {"sdf": []}
    c["annotations"] = [(s, None, []) for s in subs[:3]]
    # A second acquisition's labels for one subject, GL two slices shorter.
    x2 = read_volume(subs[0].label).array.copy()
    x2[10:12][x2[10:12] == 200] = 0
    write_volume(Volume(x2, (1.0, 1.0, 1.0)), subs[0].label.parent / "masksX2.mha")
    c["second"] = [(subs[0], {"labels": subs[0].label.parent / "masksX2.mha"})]
    return c


def test_agree_step_writes_each_comparison(ctx):
    message = agree(ctx)
    out = ctx["out"] / "agreement"
    assert sorted(p.name for p in out.iterdir()) == ["network.json", "sdf.json", "x1_x2.json"]
    sdf = read_result(out / "sdf.json")
    assert sdf["title"] == "sdf-propagated labels vs truth" and sdf["by"] == "muscle"
    assert sdf["results"]["SOL"]["volume_cm3"]["bias"] == pytest.approx(0.0)
    net = read_result(out / "network.json")
    # Two subjects: every subject-muscle pair counts (6 pairs), bias = 36 mm3 / 6.
    assert net["by"] == "none" and net["results"]["all"]["volume_cm3"]["n"] == 6
    assert net["results"]["all"]["volume_cm3"]["bias"] == pytest.approx(0.036 / 6)
    x12 = read_result(out / "x1_x2.json")
    assert x12["raters"] == ["x1", "x2"]
    assert x12["results"]["all"]["volume_cm3"]["bias"] == pytest.approx(0.072 / 3)
    assert "sdf-propagated labels vs truth: SOL ICC2 1.000" in message
    assert "muscles pooled, 6 subject-muscle pairs" in message
    assert ctx["agreement"] == [out / "network.json", out / "sdf.json", out / "x1_x2.json"]


def test_demo_report_holds_the_agreement(ctx):
    from leg3dus.apps.demo.steps import report

    agree(ctx)
    ctx["predictions"] = None  # the report's evaluation is not what is tested here
    report(ctx)
    html = (ctx["out"] / "report.html").read_text()
    assert '<section id="agreement">' in html
    for title in ("network prediction vs truth", "sdf-propagated labels vs truth",
                  "x1 vs x2 (second acquisition, test-retest)"):
        assert f"<h3>{title}</h3>" in html
    assert "all: muscles pooled, each subject and muscle one target" in html


def test_agree_step_skipped_without_inputs(tmp_path):
    result = demo(tmp_path / "d", only=("agree",), log=lambda _: None)
    assert [(s.name, s.status) for s in result.steps] == [("agree", "skipped")]
    assert "did not run" in result.steps[0].message
