"""The report's Agreement section from ``leg3dus agree --out agree.json``."""

from __future__ import annotations

import json

from test_agree_cli import two_raters, write_table

from leg3dus.agree.results_io import read_result
from leg3dus.apps.report.agreement import agreement_rows


def test_report_agreement_section(cli, tiny_dataset, tmp_path):
    a, b = two_raters()
    pa, pb = write_table(tmp_path / "a.csv", a), write_table(tmp_path / "b.csv", b)
    agree_json = tmp_path / "agree.json"
    assert cli("agree", pa, pb, "-o", agree_json).exit_code == 0
    out = tmp_path / "r.html"
    res = cli("report", tiny_dataset, "--agreement", agree_json, "--max-figures", "0",
              "-o", out, "--json", "-q")
    assert res.exit_code == 0, res.stderr
    html = out.read_text()
    assert '<section id="agreement"><h2>Agreement</h2>' in html
    assert "<h3>a.csv vs b.csv</h3>" in html
    assert 'id="agreement-0"' in html
    # The table holds the ICC2 of each muscle as the JSON gives it (3 decimals).
    result = read_result(agree_json)
    _, rows = agreement_rows(result)
    for row in rows:
        assert f"<td>{row[0]}</td>" in html and f"{row[3]:.3f}" in html
    assert json.loads(res.stdout)["figures"] == html.count("<img ")


def test_report_without_agreement_has_no_section(cli, tiny_dataset, tmp_path):
    out = tmp_path / "r.html"
    assert cli("report", tiny_dataset, "--max-figures", "0", "-o", out, "-q").exit_code == 0
    assert 'id="agreement"' not in out.read_text()


def test_report_bad_agreement_file_exit_2(cli, tiny_dataset, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": []}))
    out = tmp_path / "r.html"
    res = cli("report", tiny_dataset, "--agreement", bad, "-o", out, "-q")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.json" in lines[0] and "expected an agreement result" \
        in lines[0]
    assert not out.exists()
    res = cli("report", tiny_dataset, "--agreement", bad, "-o", bad, "-q")
    assert res.exit_code == 2 and "overwrite the input" in res.stderr
