"""The HTML report rendered in a real browser (headless Chromium): every figure decodes
and the tables hold the computed numbers. Skipped without Chromium, required in CI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from leg3dus.apps.report import make_report
from leg3dus.apps.report.html import fmt

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser_or_skip() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI") == "true":
        pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
    pytest.skip("Chromium not installed")


def run_browser(exe, tmp_path, *args) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
    return subprocess.run([exe, *flags, *args], capture_output=True, text=True, timeout=120,
                          check=False)


class Tables(HTMLParser):
    """Cell texts of every table with a class, by class name."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._current = None
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("class"):
            self._current = self.tables.setdefault(a["class"], [])
        elif tag == "tr" and self._current is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._current.append(self._row)
            self._row = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def test_report_renders_in_chromium(tiny_dataset, tmp_path):
    exe = browser_or_skip()
    (tiny_dataset / "cohort.csv").write_text("id,sex,side\nS01,F,left\nS02,M,right\n"
                                             "S03,F,right\nS04,M,left\n")
    from test_report import make_predictions

    pred = make_predictions(tiny_dataset, tmp_path / "pred")
    out = tmp_path / "report.html"
    result = make_report(tiny_dataset, out, predictions=pred, max_figures=2)
    source = out.read_text()
    n_images = source.count("<img ")
    # profiles, boxes, 2 evaluation plots, slices + 3D per subject
    assert n_images == result.figures == 2 + 2 + 2 * 2
    assert not re.search(r'(src|href)="(https?:|//)', source)  # self-contained

    dom = run_browser(exe, tmp_path, "--virtual-time-budget=10000", "--dump-dom",
                      out.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f'data-images="{n_images}/{n_images}"' in dom.stdout
    assert dom.stdout.count('data-loaded="1"') == n_images
    assert 'data-loaded="0"' not in dom.stdout

    tables = Tables()
    tables.feed(dom.stdout)
    cohort = tables.tables["cohort"]
    header, body = cohort[0], cohort[1:]
    assert len(body) == len(result.rows) == 4 * 3
    col = {h: i for i, h in enumerate(header)}
    for cells, row in zip(body, result.rows, strict=True):
        assert cells[col["subject"]] == row["id"]
        assert cells[col["sex"]] == row["sex"]
        assert cells[col["volume (cm3)"]] == fmt(row["volume_cm3"], 2)
        assert cells[col["length (mm)"]] == fmt(row["length_mm"], 1)
        assert cells[col["max CSA (cm2)"]] == fmt(row["max_csa_cm2"], 2)
        assert cells[col["max CSA at (% leg)"]] == fmt(row["max_csa_position_pct"], 1)
        assert float(cells[col["length (mm)"]]) > 0
    evaluation = tables.tables["evaluation"]
    col = {h: i for i, h in enumerate(evaluation[0])}
    by_key = {(r["id"], name): m for r in result.evaluation for name, m in r["metrics"].items()}
    assert len(evaluation) - 1 == 2 * 4  # two subjects, three muscles and their union
    for cells in evaluation[1:]:
        metrics = by_key[(cells[col["subject"]], cells[col["label"]])]
        assert cells[col["Dice"]] == fmt(metrics["dice"], 3)
        assert cells[col["HD95 (mm)"]] == fmt(metrics["hd95"], 2)
        assert cells[col["volume error (%)"]] == fmt(metrics["volume_error_percent"], 2)
    groups = {r[0] for r in tables.tables["summary"][1:]}
    assert {"all", "sex F", "sex M", "side left", "side right"} <= groups

    shot = tmp_path / "shot.png"
    res = run_browser(exe, tmp_path, "--window-size=1400,2400", f"--screenshot={shot}",
                      out.as_uri())
    assert res.returncode == 0 and shot.stat().st_size > 20_000
