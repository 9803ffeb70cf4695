"""The docs tell the truth: words they use are accepted, their examples run."""

from __future__ import annotations

import json

import numpy as np
from test_compound import stack_sequence

from leg3dus import Volume, read_volume, write_volume
from leg3dus.sweep import write_config, write_sequence


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
