"""The published border analysis (distinct/completed border volumes as input): known
answers, the accepted volume codings, bad input, the worst-slices note, and the
``leg3dus evaluate`` options for a pair and a tree."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import Volume, read_volume, write_volume
from leg3dus.core.errors import GeometryError, LabelError, OptionError
from leg3dus.metrics import evaluate
from leg3dus.metrics.border_protocol import KEYS

SP = (1.0, 1.0, 1.0)


def box_truth():
    """SOL a box; its border voxels split: distinct = the faces across y (top and
    bottom), completed = the faces across x and z and the edges of the box."""
    t = np.zeros((16, 16, 20), np.uint8)
    t[3:13, 3:13, 4:14] = 100
    inner = np.zeros_like(t)
    inner[4:12, 4:12, 5:13] = 100
    edge = np.where(inner == 0, t, 0)
    ys = np.zeros_like(t, bool)
    ys[4:12, [3, 12], 5:13] = True  # the edges, where faces meet, are completed
    distinct = np.where(ys, edge, 0).astype(np.uint8)
    completed = (edge - distinct).astype(np.uint8)
    return t, distinct, completed


def test_equal_on_distinct_and_displaced_on_completed():
    t, distinct, completed = box_truth()
    p = t.copy()
    p[3:13, 3:13, 14:16] = 100  # the x face at the far end moved 2 voxels out
    r = evaluate(p, t, SP, borders={"distinct": distinct, "completed": completed})["SOL"]
    assert set(KEYS) <= set(r)
    assert r["distinct_hd"] == 0 and r["distinct_hd95"] == 0 and r["distinct_assd"] == 0
    assert r["distinct_nsd"] == 1 and r["distinct_border_dice"] == 1
    assert r["completed_hd"] == 2.0
    assert r["completed_assd"] > 0.2 and r["completed_nsd"] < 0.9
    assert r["completed_border_dice"] < 0.9
    # The two parts share only their meeting edges, and cover the whole border.
    assert 1.0 <= r["distinct_area_share"] + r["completed_area_share"] < 1.2
    # The whole-surface metrics lie between the two parts.
    assert 0 < r["hd95"] <= 2.0 and r["nsd"] < 1
    # Other structures get no border volume of their own from a values-coded volume.
    res = evaluate(p, t, SP, borders={"distinct": distinct, "completed": completed})
    assert math.isnan(res["GM"]["distinct_area_share"])


def test_identity_scores_perfect_on_both_parts():
    t, distinct, completed = box_truth()
    r = evaluate(t, t, SP, borders={"distinct": distinct, "completed": completed})["SOL"]
    for part in ("distinct", "completed"):
        assert r[f"{part}_hd"] == 0 and r[f"{part}_nsd"] == 1
        assert r[f"{part}_border_dice"] == 1


def test_identity_scores_perfect_for_every_muscle_and_the_union():
    # All muscles in one volume, split into two parts: the borders between muscles are
    # in the border volumes but not on the union's surface, and must not count against it.
    from scipy import ndimage

    _, truth = make_pair(spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0), direction=np.eye(3))
    t = truth.array
    inner = np.zeros_like(t)
    for v in (100, 150, 200):
        inner[ndimage.binary_erosion(t == v)] = v
    edge = np.where(inner == 0, t, 0).astype(np.uint8)
    # Each muscle's top two rows of border voxels (in depth) completed, the rest distinct.
    y = np.arange(t.shape[1])[None, :, None]
    top = np.zeros_like(t, bool)
    for v in (100, 150, 200):
        top |= (edge == v) & (y < np.argwhere(t == v)[:, 1].min() + 2)
    distinct = np.where(top, 0, edge).astype(np.uint8)
    completed = np.where(top, edge, 0).astype(np.uint8)
    # At 2 mm the borders between muscles lie farther than the 1 mm tolerance from the
    # union's surface.
    r = evaluate(t, t, (2.0, 2.0, 2.0), borders={"distinct": distinct, "completed": completed})
    for name in ("SOL", "GM", "GL", "union"):
        for part in ("distinct", "completed"):
            assert r[name][f"{part}_hd"] == 0 and r[name][f"{part}_nsd"] == 1, (name, part)
            assert r[name][f"{part}_border_dice"] == 1, (name, part)


def test_codings_binary_classes_and_single_muscle_agree():
    t, distinct, completed = box_truth()
    p = np.roll(t, 1, axis=2)
    ref = evaluate(p, t, SP, borders={"distinct": distinct, "completed": completed})["SOL"]
    binary = {"distinct": (distinct > 0).astype(np.uint8) * 255,
              "completed": (completed > 0).astype(np.uint8)}
    classes = {"distinct": (distinct > 0).astype(np.uint8),  # class 1 = SOL
               "completed": (completed > 0).astype(np.uint8) * 1}
    single = {"distinct": {"SOL": distinct > 0}, "completed": {"SOL": completed > 0}}
    for borders in (binary, classes, single):
        r = evaluate(p, t, SP, borders=borders)["SOL"]
        for k in KEYS:
            assert r[k] == pytest.approx(ref[k], nan_ok=True), k
    # One part alone: the other part's keys are NaN.
    only = evaluate(p, t, SP, borders={"distinct": distinct})["SOL"]
    assert only["distinct_area_share"] == ref["distinct_area_share"]
    assert only["distinct_hd"] >= ref["distinct_hd"]  # junction points now face it
    assert math.isnan(only["completed_hd"]) and math.isnan(only["completed_border_dice"])


def test_several_muscles_values_coded():
    _, truth = make_pair(spacing=(1.0, 1.0, 1.0), origin=(0, 0, 0), direction=np.eye(3))
    t = truth.array
    inner = np.zeros_like(t)
    from scipy import ndimage

    for v in (100, 150, 200):
        inner[ndimage.binary_erosion(t == v)] = v
    edge = np.where(inner == 0, t, 0).astype(np.uint8)
    r = evaluate(t, t, SP, borders={"distinct": edge})
    for name in ("SOL", "GM", "GL", "union"):
        assert r[name]["distinct_hd"] == 0 and r[name]["distinct_border_dice"] == 1
        assert r[name]["distinct_area_share"] == 1.0
    # A missed muscle: infinite distances on its parts, zero border Dice.
    p = np.where(t == 200, 0, t).astype(np.uint8)
    r = evaluate(p, t, SP, borders={"distinct": edge})["GL"]
    assert r["distinct_hd"] == math.inf and r["distinct_nsd"] == 0
    assert r["distinct_border_dice"] == 0


def test_bad_border_volumes_raise():
    t, distinct, completed = box_truth()
    with pytest.raises(GeometryError, match="distinct border"):
        evaluate(t, t, SP, borders={"distinct": distinct[1:]})
    bad = distinct.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(LabelError, match="completed border"):
        evaluate(t, t, SP, borders={"completed": bad})
    with pytest.raises(OptionError, match="unknown border parts"):
        evaluate(t, t, SP, borders={"visible": distinct})
    with pytest.raises(OptionError, match="unknown muscle"):
        evaluate(t, t, SP, borders={"distinct": {"TA": distinct}})


def test_worst_slices_locate_a_spill():
    t, _, _ = box_truth()
    p = t.copy()
    p[13:16, 6:9, 6:9] = 100  # a spill past the end of the muscle (slices 13-15)
    r = evaluate(p, t, SP)["SOL"]
    lo, hi = r["worst_slices"]
    assert 13 <= lo <= hi <= 16 and r["hd"] > r["hd95"]
    assert evaluate(t, t, SP)["SOL"]["worst_slices"] is None


def _write_case(tmp_path):
    t, distinct, completed = box_truth()
    p = t.copy()
    p[3:13, 3:13, 14:16] = 100
    files = {}
    for name, arr in (("pred", p), ("truth", t), ("distinct", distinct),
                      ("completed", completed)):
        files[name] = tmp_path / f"{name}.nii.gz"
        write_volume(Volume(arr, SP), files[name])
    return files


def test_cli_pair_border_volumes(tmp_path, cli):
    f = _write_case(tmp_path)
    r = cli("evaluate", f["pred"], f["truth"], "--distinct-border", f["distinct"],
            "--completed-border", f["completed"], "--json")
    assert r.exit_code == 0, r.output
    sol = json.loads(r.stdout)["SOL"]
    assert sol["distinct_hd"] == 0 and sol["completed_hd"] == 2
    r = cli("evaluate", f["pred"], f["truth"], "--distinct-border", f"SOL={f['distinct']}",
            "--json")
    assert r.exit_code == 0, r.output
    sol_only = json.loads(r.stdout)["SOL"]
    assert sol_only["distinct_area_share"] == sol["distinct_area_share"]
    assert sol_only["completed_hd"] is None  # NaN: no completed volume given
    r = cli("evaluate", f["pred"], f["truth"], "--distinct-border", f["distinct"])
    assert r.exit_code == 0 and "distinct_hd" in r.stdout
    # Bad input: one line, exit 2, naming what is wrong.
    write_volume(Volume(np.zeros((4, 4, 4), np.uint8), SP), tmp_path / "small.mha")
    r = cli("evaluate", f["pred"], f["truth"], "--distinct-border", tmp_path / "small.mha")
    assert r.exit_code == 2 and "small.mha" in r.stderr and "different grids" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("evaluate", f["pred"], f["truth"], "--distinct-border", f"TA={f['distinct']}")
    assert r.exit_code == 2 and "unknown muscle" in r.stderr
    r = cli("evaluate", f["pred"], f["truth"], "--distinct-border", f["distinct"],
            "--distinct-border", f["completed"])
    assert r.exit_code == 2 and "MUSCLE=PATH" in r.stderr
    bad = read_volume(f["distinct"])
    bad.array[0, 0, 0] = 9
    write_volume(bad, tmp_path / "bad.mha")
    r = cli("evaluate", f["pred"], f["truth"], "--completed-border", tmp_path / "bad.mha")
    assert r.exit_code == 2 and "bad.mha" in r.stderr


def test_cli_pair_prints_worst_slices(tmp_path, cli):
    t, _, _ = box_truth()
    p = t.copy()
    p[13:16, 6:9, 6:9] = 100
    write_volume(Volume(p, SP), tmp_path / "p.mha")
    write_volume(Volume(t, SP), tmp_path / "t.mha")
    r = cli("evaluate", tmp_path / "p.mha", tmp_path / "t.mha")
    assert r.exit_code == 0 and "SOL: the distances beyond HD95" in r.stdout
    assert "slices 1" in r.stdout


def test_cli_tree_borders_from_subject_folders(tmp_path, cli):
    t, distinct, completed = box_truth()
    root, preds = tmp_path / "data", tmp_path / "preds"
    for sid in ("S01", "S02", "S03"):
        folder = root / "test" / sid
        write_volume(Volume(t, SP), folder / "masksX1.mha")
        write_volume(Volume(np.roll(t, 1, axis=2), SP), preds / f"{sid}.mha")
        if sid != "S03":
            write_volume(Volume(distinct, SP), folder / "distinct_border_label.nii.gz")
    write_volume(Volume(completed, SP), root / "test" / "S01" / "completed_border_label.mha")
    write_volume(Volume((completed > 0).astype(np.uint8), SP),
                 root / "test" / "S02" / "completed_SOL.nii.gz")
    r = cli("evaluate", preds, root, "--borders", "--json")
    assert r.exit_code == 2  # S03 has no border volumes: a failed subject
    obj = json.loads(r.stdout)
    rows = {row["id"]: row for row in obj["subjects"]}
    assert "no border volumes" in rows["S03"]["error"]
    assert rows["S01"]["SOL"]["completed_hd"] == rows["S02"]["SOL"]["completed_hd"] == 1
    s = obj["summary"]["SOL"]["distinct_hd"]
    assert s["n"] == 2 and s["n_failed"] == 1 and s["n_missing"] == 1
