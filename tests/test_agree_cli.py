"""``leg3dus agree``: tables matched by subject and muscle, folders measured first,
outputs, and bad input (one line, exit 2, no partial output)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from leg3dus import Volume, write_volume
from leg3dus.agree import ICC_FORMS, bland_altman, icc

MUSCLES = ("SOL", "GM", "GL")


def write_table(path, values: dict, measure="volume_cm3", extra=None):
    """values: {(subject, muscle): value}; written as `leg3dus morphology` writes."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["split", "id", "sex", "side", "muscle", measure, "length_mm"])
        for (sid, muscle), v in values.items():
            w.writerow(["train", sid, "F", "left", muscle, v, 100 + int(sid[-1])])
        for row in extra or []:
            w.writerow(row)
    return path


def two_raters(n=6, seed=0):
    rng = np.random.default_rng(seed)
    a, b = {}, {}
    for i in range(n):
        for j, m in enumerate(MUSCLES):
            true = 400.0 / (j + 1) + rng.normal(0, 40)
            a[(f"P{i:03d}", m)] = round(true + rng.normal(0, 5), 3)
            b[(f"P{i:03d}", m)] = round(true + rng.normal(2, 5), 3)
    return a, b


def test_two_tables_json_keys_and_values(cli, tmp_path):
    a, b = two_raters()
    res = cli("agree", write_table(tmp_path / "a.csv", a), write_table(tmp_path / "b.csv", b),
              "--json")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["raters"] == ["a.csv", "b.csv"]
    assert set(out["results"]) == set(MUSCLES)
    for m in MUSCLES:
        e = out["results"][m]["volume_cm3"]
        for key in (*ICC_FORMS, "bias", "sd_diff", "loa_lower", "loa_upper"):
            assert isinstance(e[key], float), key
        x = np.array([[a[(f"P{i:03d}", m)], b[(f"P{i:03d}", m)]] for i in range(6)])
        assert e["values"] == x.tolist()
        ref = icc(x)
        for f in ICC_FORMS:
            assert e[f] == pytest.approx(ref[f]["icc"], abs=1e-12)
        assert e["bias"] == pytest.approx(bland_altman(x[:, 0], x[:, 1])["bias"])
        assert e["bias"] == pytest.approx(float(np.mean(x[:, 0] - x[:, 1])))
        assert e["n"] == 6 and e["k"] == 2


def test_table_on_screen_and_several_measures(cli, tmp_path):
    a, b = two_raters()
    res = cli("agree", write_table(tmp_path / "a.csv", a), write_table(tmp_path / "b.csv", b),
              "--measure", "volume_cm3,length_mm")
    assert res.exit_code == 0, res.stderr
    assert "volume_cm3" in res.stdout and "length_mm" in res.stdout
    assert "bias: a.csv minus b.csv" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80


def test_subjects_missing_from_one_table_are_listed_and_left_out(cli, tmp_path):
    a, b = two_raters()
    del b[("P002", "SOL")]
    b[("P001", "GM")] = ""  # an empty cell is a missing value
    a[("P999", "GL")] = 10.0
    res = cli("agree", write_table(tmp_path / "a.csv", a), write_table(tmp_path / "b.csv", b))
    assert res.exit_code == 0, res.stderr
    assert "volume_cm3 of SOL: 1 subject left out (P002: missing in b.csv)" in res.stdout
    assert "volume_cm3 of GM: 1 subject left out (P001: missing in b.csv)" in res.stdout
    assert "volume_cm3 of GL: 1 subject left out (P999: missing in b.csv)" in res.stdout
    js = json.loads(cli("agree", tmp_path / "a.csv", tmp_path / "b.csv", "--json").stdout)
    assert js["results"]["SOL"]["volume_cm3"]["n"] == 5
    assert "P002" not in js["results"]["SOL"]["volume_cm3"]["subjects"]
    assert js["left_out"]["SOL"]["volume_cm3"] == [{"subject": "P002",
                                                    "missing_in": ["b.csv"]}]


def test_three_raters_and_by_none(cli, tmp_path):
    a, b = two_raters()
    c = {k: v + 1.0 for k, v in a.items()}
    paths = [write_table(tmp_path / f"{n}.csv", t) for n, t in (("a", a), ("b", b), ("c", c))]
    out = json.loads(cli("agree", *paths, "--json").stdout)
    e = out["results"]["SOL"]["volume_cm3"]
    assert e["k"] == 3 and "ICC3k" in e and "bias" not in e
    pooled = json.loads(cli("agree", *paths, "--by", "none", "--json").stdout)
    e = pooled["results"]["all"]["volume_cm3"]
    assert e["n"] == 18 and "P000/SOL" in e["subjects"]


def test_out_csv_json_and_plot(cli, tmp_path):
    a, b = two_raters()
    pa, pb = write_table(tmp_path / "a.csv", a), write_table(tmp_path / "b.csv", b)
    res = cli("agree", pa, pb, "-o", tmp_path / "r.csv", "--plot", tmp_path / "ba.png")
    assert res.exit_code == 0, res.stderr
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [r["group"] for r in rows] == list(MUSCLES)
    assert {"ICC2", "ICC2_ci_lower", "bias", "loa_upper", "MDC95"} <= set(rows[0])
    assert (tmp_path / "ba.png").read_bytes()[:4] == b"\x89PNG"
    assert cli("agree", pa, pb, "-o", tmp_path / "r.json").exit_code == 0
    from leg3dus.agree.results_io import read_result

    back = read_result(tmp_path / "r.json")
    assert back["results"]["GM"]["volume_cm3"]["ICC2"] == pytest.approx(float(rows[1]["ICC2"]),
                                                                      rel=1e-5)


def _label_tree(root, scale: dict[str, float]):
    """A tree of label volumes, one subject per entry, muscles sized by ``scale``."""
    for sid, s in scale.items():
        labels = np.zeros((30, 16, 16), np.uint8)
        n = int(10 * s)
        labels[1 : 1 + n, 2:8, 2:8] = 100
        labels[1 : 1 + n // 2, 8:14, 2:8] = 150
        labels[2 : 2 + n, 8:14, 8:14] = 200
        write_volume(Volume(labels, (1.0, 1.0, 1.0)), root / "train" / sid / "masksX1.mha")
    return root


def test_folder_inputs_are_measured_first(cli, tmp_path):
    truth = _label_tree(tmp_path / "truth", {"S1": 1.0, "S2": 1.5, "S3": 2.0, "S4": 2.5})
    pred = _label_tree(tmp_path / "pred", {"S1": 1.1, "S2": 1.5, "S3": 2.0, "S5": 2.5})
    table = tmp_path / "m.csv"
    assert cli("morphology", truth, "-o", table, "-q").exit_code == 0
    res = cli("agree", table, truth, "--json", "-q")
    assert res.exit_code == 0, res.stderr
    e = json.loads(res.stdout)["results"]["SOL"]["volume_cm3"]
    assert e["bias"] == pytest.approx(0.0, abs=1e-4) and e["ICC2"] == pytest.approx(1.0)
    res = cli("agree", pred, truth, "-q")
    assert res.exit_code == 0, res.stderr
    assert ("volume_cm3 of SOL: 2 subjects left out (S5: missing in truth, S4: missing in "
            "pred)") in res.stdout
    e = json.loads(cli("agree", pred, truth, "--json", "-q").stdout)["results"]["SOL"]
    # S1: 11 slices against 10 of 36 mm2: +0.036 cm3, the others equal.
    assert e["volume_cm3"]["bias"] == pytest.approx(0.036 / 3)


def _one_error_line(res):
    lines = res.stderr.strip().splitlines()
    assert res.exit_code == 2, (res.stdout, res.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_bad_inputs_exit_2_with_one_line(cli, tmp_path):
    a, b = two_raters(n=3)
    pa, pb = write_table(tmp_path / "a.csv", a), write_table(tmp_path / "b.csv", b)
    out = tmp_path / "out.json"
    # fewer than 3 matched subjects
    del b[("P000", "SOL")]
    few = write_table(tmp_path / "few.csv", b)
    assert "2 subjects matched" in _one_error_line(cli("agree", pa, few, "-o", out))
    # a constant measure
    const = write_table(tmp_path / "const.csv", {k: 5.0 for k in a})
    assert "constant" in _one_error_line(cli("agree", const, const, "-o", out))
    # a missing measure column
    line = _one_error_line(cli("agree", pa, pb, "--measure", "csa_cm2", "-o", out))
    assert "expected a measure column 'csa_cm2'" in line and "a.csv" in line
    # a non-numeric value
    bad = dict(a)
    bad[("P001", "GM")] = "12,5"
    line = _one_error_line(cli("agree", write_table(tmp_path / "bad.csv", bad), pb, "-o", out))
    assert "bad.csv" in line and "'12,5'" in line and "expected a number" in line
    # a subject and muscle twice
    dup = write_table(tmp_path / "dup.csv", a, extra=[["val", "P001", "", "", "GM", 3, 1]])
    assert "appears twice" in _one_error_line(cli("agree", dup, pb, "-o", out))
    # one input, a missing file, a volume file, bad options
    assert "at least two" in _one_error_line(cli("agree", pa, "-o", out))
    assert "no such" in _one_error_line(cli("agree", pa, tmp_path / "nope.csv", "-o", out))
    vol = tmp_path / "v.mha"
    write_volume(Volume(np.zeros((2, 2, 2), np.uint8), (1.0, 1.0, 1.0)), vol)
    assert "expected a CSV" in _one_error_line(cli("agree", pa, vol, "-o", out))
    assert "--by" in _one_error_line(cli("agree", pa, pb, "--by", "side", "-o", out))
    assert ".csv or .json" in _one_error_line(cli("agree", pa, pb, "-o", tmp_path / "x.txt"))
    assert "--plot" in _one_error_line(cli("agree", pa, pb, "--plot", tmp_path / "x.bmp"))
    assert "overwrite the input" in _one_error_line(cli("agree", pa, pb, "-o", pa))
    assert not out.exists() and not (tmp_path / "x.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_constant_volumes_in_a_tree_are_an_error(cli, tiny_dataset, tmp_path):
    table = tmp_path / "m.csv"
    assert cli("morphology", tiny_dataset, "-o", table, "-q").exit_code == 0
    assert "constant" in _one_error_line(cli("agree", table, tiny_dataset, "-q"))


def test_ratio_keys_only_for_positive_values(cli, tmp_path):
    a, b = two_raters()
    res = json.loads(cli("agree", write_table(tmp_path / "a.csv", a),
                         write_table(tmp_path / "b.csv", b), "--json").stdout)
    e = res["results"]["GL"]["volume_cm3"]
    assert e["ratio_loa_lower"] < e["ratio_bias"] < e["ratio_loa_upper"]
    assert math.isfinite(e["ccc"]) and 0 < e["wilcoxon_p"] <= 1


def test_folder_options_loa_z_tsv_and_svg(cli, tmp_path):
    truth = _label_tree(tmp_path / "truth", {"S1": 1.0, "S2": 1.5, "S3": 2.0, "S4": 2.5})
    table = tmp_path / "m.csv"
    assert cli("morphology", truth, "-o", table, "-q").exit_code == 0
    # A folder of 0/1/2/3 label maps named seg.mha: --label-name and --label-values.
    from leg3dus import read_volume

    for path in truth.glob("*/*/masksX1.mha"):
        vol = read_volume(path)
        classes = np.select([vol.array == 100, vol.array == 150, vol.array == 200],
                            [1, 2, 3], 0).astype(np.uint8)
        write_volume(Volume(classes, vol.spacing), tmp_path / "pred" / path.parent.name
                     / "seg.mha")
    res = cli("agree", table, tmp_path / "pred", "--label-name", "seg.mha",
              "--label-values", "1,2,3", "--json", "-q", "--loa-z", "2")
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["loa_z"] == 2.0
    e = out["results"]["GL"]["volume_cm3"]
    assert e["bias"] == pytest.approx(0.0, abs=1e-4)
    assert e["loa_upper"] == pytest.approx(e["bias"] + 2 * e["sd_diff"])
    res = cli("agree", table, tmp_path / "pred", "--label-name", "seg.mha", "-q")
    assert "error: " in res.stderr and res.exit_code == 2  # 1/2/3 read without the convention
    tsv = tmp_path / "m.tsv"
    tsv.write_text(table.read_text().replace(",", "\t"))
    res = cli("agree", tsv, table, "--plot", tmp_path / "f.svg", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["results"]["SOL"]["volume_cm3"]["ICC2"] == pytest.approx(1.0)
    assert b"<svg" in (tmp_path / "f.svg").read_bytes()[:400]


def test_help_has_an_example(cli):
    text = cli("agree", "--help").stdout
    assert "Example: leg3dus agree " in text
    for option in ("--measure", "--by", "--out", "--plot", "--json", "--scheduler"):
        assert option in text


def test_plot_refuses_a_file_of_a_tree_input(cli, tmp_path):
    truth = _label_tree(tmp_path / "truth", {"S1": 1.0, "S2": 1.5, "S3": 2.0})
    table = tmp_path / "m.csv"
    assert cli("morphology", truth, "-o", table, "-q").exit_code == 0
    label = truth / "train" / "S1" / "masksX1.mha"
    before = label.read_bytes()
    line = _one_error_line(cli("agree", table, truth, "--plot", label, "-q"))
    assert "overwrite the input" in line
    assert label.read_bytes() == before


def test_tables_without_muscle_column(cli, tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("subject,score\nA,1\nB,2\nC,4\nD,3\n")
    b.write_text("subject,score\nB,2.5\nA,1.5\nC,4\nD,2.5\n")  # matched by id, not order
    res = cli("agree", a, b, "--measure", "score", "--json")
    assert res.exit_code == 0, res.stderr
    e = json.loads(res.stdout)["results"]["all"]["score"]
    assert e["subjects"] == ["A", "B", "C", "D"]
    assert e["values"] == [[1.0, 1.5], [2.0, 2.5], [4.0, 4.0], [3.0, 2.5]]
    assert e["bias"] == pytest.approx(-0.125)


def test_agreement_from_inputs_is_what_the_command_prints(cli, tmp_path):
    from leg3dus.agree.inputs import agreement_from_inputs, split_measures

    a, b = two_raters()
    paths = [write_table(tmp_path / "a.csv", a), write_table(tmp_path / "b.csv", b)]
    result = agreement_from_inputs(paths, split_measures(["volume_cm3,length_mm"]),
                                   out=tmp_path / "r.json")
    printed = json.loads(cli("agree", *paths, "-m", "volume_cm3,length_mm", "--json").stdout)
    assert printed["results"]["GM"]["volume_cm3"]["ICC2"] == pytest.approx(
        result["results"]["GM"]["volume_cm3"]["ICC2"])
    assert result["inputs"] == [str(p) for p in paths]
    assert json.loads((tmp_path / "r.json").read_text())["raters"] == ["a.csv", "b.csv"]
    folder = tmp_path / "tree"
    folder.mkdir()
    with pytest.raises(Exception, match="needs measuring first"):
        agreement_from_inputs([paths[0], folder], ["volume_cm3"])
