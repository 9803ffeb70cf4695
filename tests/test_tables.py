"""Numbers in CSV files and tables: meaningful digits, no float noise, no exponent."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leg3dus import Volume, write_volume
from leg3dus.core.tables import csv_cell, format_number, screen_cell


@pytest.mark.parametrize(("value", "digits", "text"), [
    (12.790000000000001, 6, "12.79"), (0.1 + 0.2, 6, "0.3"), (54.6242774566474, 6, "54.6243"),
    (318.63238038559916, 4, "318.6"), (-3.4482758620689653, 6, "-3.44828"), (0.0, 6, "0"),
    (-0.0000001, 3, "-1e-07"), (-0.0004, 6, "-0.0004"), (1234567.89, 4, "1234568"),
    (99.99999, 4, "100"),
    (2.5e-9, 6, "2.5e-09"), (3e17, 6, "3e+17"), (math.inf, 6, "inf"), (-math.inf, 6, "-inf"),
    (math.nan, 6, "nan"), (np.float32(0.1), 6, "0.1"), (-0.00004, 1, "-0.00004"),
])
def test_format_number_known_answers(value, digits, text):
    assert format_number(value, digits) == text


def test_ordinary_values_have_no_exponent_and_keep_their_digits(rng):
    values = np.concatenate([rng.uniform(-1e6, 1e6, 500), 10.0 ** rng.uniform(-6, 14, 500)])
    for v in values:
        text = format_number(v)
        assert "e" not in text
        assert float(text) == pytest.approx(v, rel=5e-6)
        assert not (("." in text) and text.endswith("0"))


def test_screen_cells_have_at_most_three_decimals():
    assert screen_cell(0.98765) == "0.988"
    assert screen_cell(0.00049) == "0"
    assert screen_cell(1234.5678) == "1235"
    assert screen_cell(np.int64(7)) == "7" and screen_cell(True) == "True"
    assert screen_cell(math.nan) == "-" and screen_cell(None, missing="") == ""
    assert screen_cell([3, 9]) == "3..9" and csv_cell([3, 9]) == "3-9"
    assert csv_cell("SOL") == "SOL" and csv_cell(math.nan, missing="nan") == "nan"


def _labels(tmp_path):
    a = np.zeros((20, 12, 12), np.uint8)
    a[2:12, 2:6, 2:6] = 100
    a[5:18, 6:10, 2:6] = 150
    a[3:9, 6:10, 6:10] = 200
    truth = write_volume(Volume(a, (0.3, 0.3, 0.3)), tmp_path / "truth.mha")
    a[2, 2:6, 2:6] = 0
    pred = write_volume(Volume(a, (0.3, 0.3, 0.3)), tmp_path / "pred.mha")
    return truth, pred


def test_morphology_csv_text(cli, tmp_path):
    truth, _ = _labels(tmp_path)
    out = tmp_path / "m.csv"
    assert cli("morphology", truth, "-o", out, "--quiet").exit_code == 0
    lines = out.read_text().splitlines()
    head = lines[0].split(",")
    sol = dict(zip(head, lines[1].split(","), strict=True))
    # 160 voxels of 0.027 mm3; 10 slices of 0.3 mm; 16 voxels of 0.09 mm2 = 0.0144 cm2
    assert (sol["muscle"], sol["volume_cm3"], sol["length_mm"], sol["max_csa_cm2"]) == \
        ("SOL", "0.00432", "3", "0.0144")
    assert sol["max_csa_position_pct"] == "3.125"
    assert all("e" not in v and len(v.partition(".")[2]) <= 6 for line in lines[1:]
               for v in line.split(",")[5:] if v and v[0] in "-0123456789")


def test_evaluate_csv_text(cli, tmp_path):
    truth, pred = _labels(tmp_path)
    res = cli("evaluate", pred, truth, "--csv")
    assert res.exit_code == 0, res.stderr
    rows = {line.split(",")[0]: line.split(",") for line in res.stdout.splitlines()}
    head = rows["structure"]
    sol = dict(zip(head, rows["SOL"], strict=False))
    # 144 of 160 SOL voxels predicted: Dice 288/304, volume error -10 %
    assert (sol["dice"], sol["iou"], sol["recall"]) == ("0.947368", "0.9", "0.9")
    assert (sol["volume_pred_cm3"], sol["volume_error_percent"]) == ("0.003888", "-10")
    union = dict(zip(head, rows["union"], strict=False))
    assert union["volume_error_percent"] == "-3.44828"


def test_tree_tables_fit_80_columns(cli, tiny_dataset, tmp_path):
    """evaluate, morphology and info on a tree: no line past 80 columns, no cut heading."""
    from leg3dus import read_volume

    preds = tmp_path / "preds"
    for path in tiny_dataset.glob("*/*/masksX1.mha"):
        truth = read_volume(path)
        write_volume(truth.with_array(np.roll(truth.array, 1, axis=1)),
                     preds / f"{path.parent.name}.mha")
    runs = [("evaluate", preds, tiny_dataset), ("morphology", tiny_dataset, "-o",
            tmp_path / "m.csv"), ("info", tiny_dataset)]
    for args in runs:
        res = cli(*args, "--quiet") if args[0] != "info" else cli(*args)
        assert res.exit_code == 0, res.output
        lines = res.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80, (args[0], res.stdout)
        assert "…" not in res.stdout, (args[0], res.stdout)
        assert not any("e+" in w or "e-0" in w for line in lines for w in line.split())
