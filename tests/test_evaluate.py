"""evaluate(): per-muscle and union results consistent with the single-mask metrics, the
documented empty-mask values, label and geometry errors, border analysis known answers,
and the ``leg3dus evaluate`` command for a pair and for a tree."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import Volume, write_volume
from leg3dus.core.errors import GeometryError, LabelError, OptionError
from leg3dus.core.labels import to_index
from leg3dus.metrics import (
    METRIC_KEYS,
    STRUCTURES,
    BorderOptions,
    dice,
    evaluate,
    evaluate_files,
    hausdorff_percentile,
    nsd,
    surface_distances,
)


def perturbed(labels, seed=0):
    """Labels with one muscle shifted and a few voxels flipped to another muscle."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    out[out == 150] = 0
    out[np.roll(labels == 150, 1, axis=0) & (out == 0)] = 150
    flip = rng.random(labels.shape) < 0.02
    out[flip & (labels > 0)] = 200
    return out


@pytest.fixture
def pair():
    image, truth = make_pair(shape=(24, 20, 16))
    return image, truth, perturbed(truth.array)


def test_keys_and_consistency_with_single_mask_metrics(pair):
    image, truth, pred = pair
    spacing = truth.spacing
    res = evaluate(pred, truth.array, spacing)
    assert list(res) == list(STRUCTURES) == ["SOL", "GM", "GL", "union"]
    for name, values in (("SOL", [100]), ("GM", [150]), ("GL", [200]),
                         ("union", [100, 150, 200])):
        r = res[name]
        assert list(r) == [*METRIC_KEYS, "worst_slices"]
        p, t = np.isin(pred, values), np.isin(truth.array, values)
        sd = surface_distances(p, t, spacing)
        assert r["dice"] == pytest.approx(dice(p, t))
        assert r["hd95"] == pytest.approx(hausdorff_percentile(sd, 95))
        assert r["nsd"] == pytest.approx(nsd(sd, 1.0))
        voxel_cm3 = np.prod(spacing) / 1000
        assert r["volume_truth_cm3"] == pytest.approx(t.sum() * voxel_cm3)
        assert r["volume_error_percent"] == pytest.approx(100 * (p.sum() - t.sum()) / t.sum())
        assert r["abs_volume_error_percent"] == abs(r["volume_error_percent"])
    pooled = evaluate(pred, truth.array, spacing, hd95_mode="pooled")
    assert all(pooled[n]["hd95"] <= res[n]["hd"] for n in STRUCTURES)


def test_identical_volumes_are_perfect(pair):
    _, truth, _ = pair
    res = evaluate(truth.array, truth.array, truth.spacing, surface="voxel")
    for r in res.values():
        assert (r["dice"], r["iou"], r["precision"], r["recall"], r["nsd"]) == (1,) * 5
        assert (r["hd"], r["hd95"], r["assd"], r["masd"], r["volume_error_percent"]) == (0,) * 5


def test_missing_muscle_gives_documented_values(pair):
    _, truth, pred = pair
    pred = pred.copy()
    pred[pred == 200] = 0
    t = truth.array.copy()
    t[t == 150] = 0
    p2 = pred.copy()
    p2[p2 == 150] = 0
    res = evaluate(pred, t, truth.spacing)
    gl, gm = res["GL"], res["GM"]
    assert gl["dice"] == 0 and math.isnan(gl["precision"]) and gl["recall"] == 0
    assert math.isinf(gl["hd"]) and math.isinf(gl["hd95"]) and gl["nsd"] == 0
    assert gl["volume_error_percent"] == -100.0
    assert math.isnan(gm["recall"]) and math.isinf(gm["volume_error_percent"])
    both = evaluate(p2, t, truth.spacing)["GM"]
    assert (both["dice"], both["hd"], both["nsd"], both["volume_error_percent"]) == (1, 0, 1, 0)
    empty = np.zeros_like(t)
    res = evaluate(empty, empty, truth.spacing, image=np.zeros_like(t))
    assert res["union"]["dice"] == 1 and math.isnan(res["union"]["estimated_distinct_fraction"])


def test_bad_labels_and_shapes_raise(pair):
    _, truth, pred = pair
    bad = pred.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(LabelError, match=r"prediction: .*7 \(1 voxel\)"):
        evaluate(bad, truth.array)
    with pytest.raises(LabelError, match="class indices"):
        evaluate(to_index(truth.array), truth.array)
    with pytest.raises(GeometryError, match="shape"):
        evaluate(pred[:-1], truth.array)
    with pytest.raises(OptionError, match="HD95"):
        evaluate(pred, truth.array, hd95_mode="mean")
    with pytest.raises(OptionError, match="border rule"):
        BorderOptions(rule="visible")
    with pytest.raises(OptionError, match="needs the ultrasound"):
        evaluate(pred, truth.array, border=BorderOptions("gradient"))
    # Other integer types are converted, with the same results as uint8.
    wide = evaluate(pred.astype(np.int32), truth.array)
    assert wide["SOL"] == evaluate(pred, truth.array)["SOL"]


def test_border_analysis_known_answers():
    # Two boxes side by side along x: SOL in x 4..10, GM in x 10..16. The image is bright
    # inside SOL's upper half (z < 10) only, so SOL's border there is distinct by the
    # gradient rule; the face shared with GM is distinct by the aponeurosis rule.
    t = np.zeros((20, 12, 20), np.uint8)
    t[4:16, 3:9, 4:10] = 100
    t[4:16, 3:9, 10:16] = 150
    image = np.full(t.shape, 30, np.uint8)
    image[:10][t[:10] == 100] = 220
    sp = (0.5, 0.5, 0.5)
    grad = evaluate(t, t, sp, image=image, border=BorderOptions("gradient"))["SOL"]
    # Exactly the SOL corners next to the bright voxels (z <= 10) are distinct.
    from leg3dus.metrics.border import distinct_mask

    sd = surface_distances(t == 100, t == 100, sp)
    est = distinct_mask(sd, sp, image, options=BorderOptions("gradient"))
    z = sd.truth_points[:, 0]
    assert est[z <= 9].all() and not est[z >= 11].any()
    w = sd.truth_weights
    assert grad["estimated_distinct_fraction"] == pytest.approx(w[est].sum() / w.sum())
    assert w[z <= 9].sum() / w.sum() <= grad["estimated_distinct_fraction"] \
        <= w[z <= 10].sum() / w.sum()
    # The shared face is 18 of SOL's 90 mm2; within 1 mm of GM adds a strip of the
    # four neighbouring faces.
    apo = evaluate(t, t, sp, border=BorderOptions("aponeurosis", aponeurosis_mm=0.25))
    assert apo["SOL"]["estimated_distinct_fraction"] == pytest.approx(
        apo["GM"]["estimated_distinct_fraction"], rel=0.05)
    # Exactly the corners on the face shared with GM (x = 10): the next corners lie
    # 0.5 mm away, beyond 0.25 mm.
    sd = surface_distances(t == 100, t == 100, sp)
    shared = sd.truth_points[:, 2] == 10
    assert apo["SOL"]["estimated_distinct_fraction"] == pytest.approx(
        sd.truth_weights[shared].sum() / sd.truth_weights.sum())
    wide = evaluate(t, t, sp, border=BorderOptions("aponeurosis"))["SOL"]
    assert wide["estimated_distinct_fraction"] > apo["SOL"]["estimated_distinct_fraction"] + 0.1
    assert math.isnan(apo["union"]["estimated_distinct_within_tol"])  # no distinct part
    # A prediction moved 2 mm along z misses part of both kinds of border.
    pred = np.roll(t, 4, axis=0)
    res = evaluate(pred, t, sp, image=image)["SOL"]
    assert res["estimated_distinct_within_tol"] < 1 and res["estimated_completed_mean_mm"] > 0
    assert set(res) >= {"estimated_distinct_fraction", "estimated_completed_within_tol"}


def test_evaluate_files_checks_geometry(tmp_path, pair):
    image, truth, pred = pair
    write_volume(truth, tmp_path / "truth.mha")
    write_volume(truth.with_array(pred), tmp_path / "pred.mha")
    moved = Volume(pred, truth.spacing, (0.0, 0.0, 0.0), truth.direction)
    write_volume(moved, tmp_path / "moved.mha")
    res = evaluate_files(tmp_path / "pred.mha", tmp_path / "truth.mha")
    assert res == evaluate(pred, truth.array, truth.spacing)
    assert res == evaluate(truth.with_array(pred), truth)
    with pytest.raises(GeometryError, match="origin"):
        evaluate(moved, truth)
    with pytest.raises(GeometryError, match="moved.mha.*origin"):
        evaluate_files(tmp_path / "moved.mha", tmp_path / "truth.mha")


def test_cli_pair_json_csv_and_errors(tmp_path, cli, pair):
    image, truth, pred = pair
    write_volume(truth, tmp_path / "truth.mha")
    write_volume(truth.with_array(pred), tmp_path / "pred.mha")
    write_volume(image, tmp_path / "us.mha")
    r = cli("evaluate", tmp_path / "pred.mha", tmp_path / "truth.mha", "--image",
            tmp_path / "us.mha", "--json")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert list(obj) == ["SOL", "GM", "GL", "union", "label_values"]
    assert set(METRIC_KEYS) < set(obj["GM"]) and "estimated_distinct_fraction" in obj["GM"]
    r = cli("evaluate", tmp_path / "pred.mha", tmp_path / "truth.mha", "--csv",
            "--out", tmp_path / "res.json")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["structure"] for row in rows] == list(STRUCTURES)
    assert float(rows[0]["dice"]) == pytest.approx(obj["SOL"]["dice"])
    assert json.loads((tmp_path / "res.json").read_text())["GL"]["hd"] == obj["GL"]["hd"]
    r = cli("evaluate", tmp_path / "pred.mha", tmp_path / "truth.mha")
    assert r.exit_code == 0 and "hd95" in r.stdout
    # A prediction on another grid, an output over an input, a missing file: exit 2.
    write_volume(Volume(pred, (1.0, 1.0, 1.0)), tmp_path / "other.mha")
    for args in (("other.mha", "truth.mha"), ("pred.mha", "truth.mha", "--out", "truth.mha"),
                 ("nope.mha", "truth.mha"), ("pred.mha", "truth.mha", "--hd95", "x")):
        r = cli("evaluate", *[tmp_path / a if a.endswith(".mha") else a for a in args])
        assert r.exit_code == 2 and r.stderr.startswith("error:"), args
        assert len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.glob(".*tmp*"))


def test_cli_tree_layouts_summary_and_missing(tmp_path, cli, tiny_dataset):
    from leg3dus import read_volume
    from leg3dus.dataset import find_subjects

    subjects = find_subjects(tiny_dataset)
    preds = tmp_path / "preds"
    for k, s in enumerate(subjects[:3]):
        truth = read_volume(s.label)
        vol = truth.with_array(perturbed(truth.array, k))
        # Mixed layouts: a flat <id>.mha and a tree like the dataset.
        out = preds / f"{s.id}.nii.gz" if k % 2 else preds / s.split / s.id / "masksX1.mha"
        write_volume(vol, out)
    r = cli("evaluate", preds, tiny_dataset, "--json", "--with-image", "--out",
            tmp_path / "res.csv")
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert [row["id"] for row in obj["subjects"]] == [s.id for s in subjects[:3]]
    assert obj["missing"] == [subjects[3].key] and "no prediction" in r.stderr
    first = obj["subjects"][0]
    assert set(METRIC_KEYS) < set(first["SOL"]) and "estimated_completed_mean_mm" in first["SOL"]
    dices = [row["GM"]["dice"] for row in obj["subjects"]]
    s = obj["summary"]["GM"]["dice"]
    assert s["mean"] == pytest.approx(np.mean(dices)) and s["n"] == 3
    assert s["sd"] == pytest.approx(np.std(dices, ddof=1))
    assert s["median"] == pytest.approx(np.median(dices))
    lines = (tmp_path / "res.csv").read_text().splitlines()
    assert lines[0].startswith("split,id,structure,dice") and len(lines) == 1 + 3 * 4
    r = cli("evaluate", preds, tiny_dataset, "--split", "test")
    assert r.exit_code == 2 and "no prediction matches" in r.stderr
    # Two candidate files for one subject is ambiguous.
    write_volume(read_volume(subjects[0].label), preds / f"{subjects[0].id}.mha")
    r = cli("evaluate", preds, tiny_dataset, "--split", "train")
    assert r.exit_code == 2 and "more than one prediction" in r.stderr


def test_cli_tree_reports_failed_subject(tmp_path, cli, tiny_dataset):
    from leg3dus.dataset import find_subjects

    s = find_subjects(tiny_dataset)[0]
    write_volume(Volume(np.zeros((5, 5, 5), np.uint8)), tmp_path / "p" / f"{s.id}.mha")
    r = cli("evaluate", tmp_path / "p", tiny_dataset, "--csv")
    assert r.exit_code == 2 and "different grids" in r.stderr
    assert ",error," in r.stdout


def test_cli_tree_on_dask_workers_matches_in_process(tmp_path, cli, tiny_dataset):
    pytest.importorskip("distributed")
    from leg3dus import read_volume
    from leg3dus.dataset import find_subjects

    for k, s in enumerate(find_subjects(tiny_dataset)[:2]):
        truth = read_volume(s.label)
        write_volume(truth.with_array(perturbed(truth.array, k)), tmp_path / "p" / f"{s.id}.mha")
    local = json.loads(cli("evaluate", tmp_path / "p", tiny_dataset, "--json").stdout)
    r = cli("evaluate", tmp_path / "p", tiny_dataset, "--json", "--workers", "1")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["subjects"] == local["subjects"]


def test_cli_tree_summary_counts_a_missed_muscle(tmp_path, cli, tiny_dataset):
    from leg3dus import read_volume
    from leg3dus.dataset import find_subjects

    subjects = find_subjects(tiny_dataset)
    preds = tmp_path / "preds"
    for k, s in enumerate(subjects):
        truth = read_volume(s.label)
        arr = perturbed(truth.array, k)
        if k == 1:
            arr[arr == 200] = 0  # GL missed entirely in one subject
        write_volume(truth.with_array(arr), preds / f"{s.id}.mha")
    r = cli("evaluate", preds, tiny_dataset, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)["summary"]
    hd = summary["GL"]["hd"]
    assert (hd["n"], hd["n_inf"], hd["n_undefined"], hd["n_failed"]) == (3, 1, 0, 0)
    assert hd["n_missing"] == 1
    prec = summary["GL"]["precision"]  # no GL predicted: precision undefined
    assert (prec["n"], prec["n_undefined"], prec["n_inf"]) == (3, 1, 0)
    assert summary["GL"]["dice"]["n"] == 4 and summary["SOL"]["hd"]["n_missing"] == 0
    r = cli("evaluate", preds, tiny_dataset)
    assert r.exit_code == 0
    rows = [line.split() for line in r.stdout.splitlines()]
    gl_hd = next(w for w in rows if w[:2] == ["GL", "hd"])
    assert gl_hd[-4:] == ["3", "1", "0", "0"]  # n, inf, undef, failed
    gl_dice = next(w for w in rows if w[:2] == ["GL", "dice"])
    assert gl_dice[-4:] == ["4", "0", "0", "0"]


def test_evaluate_paths_runs_every_subject_and_lists_the_failed(tmp_path, cli, tiny_dataset):
    """The batch rule: every subject that can be evaluated is, its rows are written to
    --out, each failure is one line and the exit code is 2."""
    from leg3dus import read_volume
    from leg3dus.dataset import find_subjects
    from leg3dus.metrics.batch import evaluate_paths

    subjects = find_subjects(tiny_dataset)
    for s in subjects:
        write_volume(read_volume(s.label), tmp_path / "p" / f"{s.id}.mha")
    bad = subjects[1]
    write_volume(Volume(np.zeros((5, 5, 5), np.uint8)), tmp_path / "p" / f"{bad.id}.mha")
    ev = evaluate_paths(tmp_path / "p", tiny_dataset, out=tmp_path / "r.csv")
    assert [w for w, _ in ev.failed] == [bad.key] and not ev.pair and ev.missing == []
    good = [r for r in ev.result["subjects"] if "error" not in r]
    assert len(good) == len(subjects) - 1 and all(r["GM"]["dice"] == 1.0 for r in good)
    assert ev.result["summary"]["GM"]["dice"]["n_failed"] == 1
    assert (tmp_path / "r.csv").read_text() == ev.csv and ",error," in ev.csv
    r = cli("evaluate", tmp_path / "p", tiny_dataset, "-o", tmp_path / "c.json", "--json")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [f"error: {bad.key}: {ev.failed[0][1]}"]
    assert json.loads((tmp_path / "c.json").read_text())["subjects"][1]["error"]


def test_tolerance_and_sigma_options_say_their_unit(tmp_path, cli, tiny_dataset):
    from leg3dus.dataset import find_subjects

    s = find_subjects(tiny_dataset)[0]
    a = cli("evaluate", s.label, s.label, "--json", "--tolerance", "2", "--border-sigma", "1")
    b = cli("evaluate", s.label, s.label, "--json", "--tolerance-mm", "2",
            "--border-sigma-mm", "1")
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout
