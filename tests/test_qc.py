"""Acquisition QC: each simulated fault on the phantom is found at the right place; the
clean acquisition passes; the command's outputs, exit codes and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leg3dus.core.errors import OptionError
from leg3dus.core.volume_io import read_volume
from leg3dus.phantom import Anatomy, cohort_params
from leg3dus.phantom.sweeps import SweepProtocol, inject_fault, write_sweeps
from leg3dus.sweep import Sequence, read_config, read_sequence, write_sequence
from leg3dus.sweep.qc import QcLimits, sweep_qc
from leg3dus.sweep.qc_coverage import coverage, ncc, scanned_region
from leg3dus.sweep.qc_report import run_qc, write_qc_html

AT = 40  # the faulty frame of the middle sweep


@pytest.fixture(scope="module")
def acquisition(tmp_path_factory):
    """Three slightly overlapping sweeps over 50 mm of a phantom leg (small frames)."""
    d = tmp_path_factory.mktemp("sweeps")
    protocol = SweepProtocol(n_sweeps=3, frame_px=(60, 80), pixel_mm=0.625)
    write_sweeps(Anatomy(cohort_params(1)[0]), d, protocol, seed=3, spacing=1.0,
                 z_range_mm=(100.0, 150.0))
    cfg = read_config(d / "calibration.xml")
    seqs = [(f"sweep{k}", read_sequence(d / f"sweep{k}.igs.mha")) for k in (1, 2, 3)]
    return d, cfg, seqs


def _with_fault(seqs, kind, **kw):
    return [(n, inject_fault(s, kind, AT, **kw) if n == "sweep2" else s) for n, s in seqs]


def _z_of_frame(seq, k):
    """Reference z (mm) of frame k's centre in a phantom sweep (ProbeToReference)."""
    m = np.linalg.inv(seq.transforms["ReferenceToTracker"][k]) @ seq.transforms[
        "ProbeToTracker"][k]
    return m[2, 3]


def test_clean_acquisition_passes(acquisition):
    _, cfg, seqs = acquisition
    r = run_qc(seqs, cfg)
    assert r["ok"] and r["findings"] == []
    assert r["coverage"]["fraction"] > 0.95 and r["coverage"]["holes"] == []
    for q in r["sweeps"]:
        assert 0.3 < q["spacing_median_mm"] < 1.0 and q["speed_max_mm_s"] < 50
        assert q["valid_frames"] == q["frames"] and 45 < q["length_mm"] < 60
    assert [p["sweeps"] for p in r["consistency"]] == [["sweep1", "sweep2"],
                                                        ["sweep2", "sweep3"]]
    assert all(p["ncc"] > 0.8 for p in r["consistency"])
    assert r["hits"].dtype == np.uint32 and r["hits"].sum() > 0
    assert r["coverage"]["bridge_mm"] == 2.0  # two voxels of the configuration's 1 mm
    coarse = run_qc(seqs, cfg, spacing_mm=2.0)
    assert coarse["grid"]["spacing_zyx"] == [2.0] * 3
    assert run_qc(seqs[:1], cfg, spacing_mm=None)["grid"]["spacing_zyx"] == [1.0] * 3


def test_dropped_frames_make_a_gap_and_a_hole_at_their_place(acquisition):
    _, cfg, seqs = acquisition
    seq2 = dict(seqs)["sweep2"]
    z_lost = [_z_of_frame(seq2, k) for k in (AT, AT + 19)]
    r = run_qc(_with_fault(seqs, "drop", n=20), cfg)
    q = r["sweeps"][1]
    assert [g["frame"] for g in q["gaps"]] == [AT] and q["gaps"][0]["value"] > 8
    assert q["jumps"] == [] and q["fast"] == []  # the time gap keeps the speed normal
    assert r["sweeps"][0]["ok"] and r["sweeps"][2]["ok"]
    (hole,) = r["coverage"]["holes"]
    assert hole["z_mm"][0] >= z_lost[0] - 2 and hole["z_mm"][1] <= z_lost[1] + 2
    assert hole["centre_zyx_mm"][2] == pytest.approx(72, abs=12)  # the middle strip
    assert not r["ok"]


def test_tracking_jump_found_at_its_frame_and_neighbours_disagree_after_it(acquisition):
    _, cfg, seqs = acquisition
    z_jump = _z_of_frame(dict(seqs)["sweep2"], AT)
    r = run_qc(_with_fault(seqs, "jump", offset_mm=(6.0, 0.0, 0.0)), cfg)
    q = r["sweeps"][1]
    assert [j["frame"] for j in q["jumps"]] == [AT] and q["jumps"][0]["value"] > 150
    assert q["fast"] == []
    low = [b for p in r["consistency"] for b in p["bands"]
           if b["ncc"] < max(r["ncc_min"], r["ncc_rel"] * max(x["ncc"] for x in p["bands"]))]
    assert low and all(b["z_mm"][1] > z_jump for b in low)
    assert any(f.startswith("sweep2: tracking jump at frame 40") for f in r["findings"])


def test_fast_sweep_found_over_its_stretch(acquisition):
    _, cfg, seqs = acquisition
    r = run_qc(_with_fault(seqs, "fast", n=10, factor=4), cfg)
    q = r["sweeps"][1]
    (fast,) = q["fast"]
    assert fast["frame"] == AT + 1 and fast["frames"] == 10 and fast["value"] > 60
    assert q["jumps"] == []
    assert all(AT < g["frame"] <= AT + 11 for g in q["gaps"])
    lines = [f for f in r["findings"] if f.startswith("sweep2")]
    assert lines == [next(f for f in r["findings"] if "fast sweep" in f)]  # gaps folded in


def test_invalid_status_frames_are_reported_and_not_used():
    mats = np.stack([np.eye(4)] * 6)
    mats[:, 2, 3] = np.arange(6) * 0.5
    seq = Sequence(np.zeros((6, 3, 3), np.uint8), {"ImageToReference": mats},
                   timestamps=np.arange(6) / 30)
    seq.transform_ok["ImageToReference"][2] = False
    seq.image_ok[4] = False
    q = sweep_qc(seq)
    assert q.invalid_frames == [2, 4] and q.valid_frames == 4 and not q.ok
    assert q.spacing_max_mm == pytest.approx(1.0) and q.gaps == []
    q = sweep_qc(seq, limits=QcLimits(gap_mm=0.8))
    assert [g["frame"] for g in q.gaps] == [3, 5]


def test_coverage_hole_needs_more_than_the_bridge():
    hits = np.ones((30, 4, 4), np.uint32)
    hits[10:13] = 0  # 3 slices: farthest voxel 2 mm from a hit
    assert coverage(hits, (1.0,) * 3, (0.0,) * 3, bridge_mm=2.0)["holes"] == []
    (hole,) = coverage(hits, (1.0,) * 3, (0.0,) * 3, bridge_mm=1.5)["holes"]
    assert hole["z_mm"] == [11.0, 11.0] and hole["voxels"] == 16
    assert coverage(hits, (1.0,) * 3, (0.0,) * 3, 1.5, min_hole_mm3=17)["holes"] == []
    region = scanned_region(hits > 0, (1.0,) * 3, window_mm=5)
    assert region.all()  # the missing slices are inside the widened region
    assert np.isnan(ncc(np.ones(4), np.arange(4.0)))


def test_label_sweeps_give_the_muscle_region(acquisition):
    d, cfg, seqs = acquisition
    labels = [read_sequence(d / f"labels{k}.igs.mha") for k in (1, 2, 3)]
    r = run_qc(seqs, cfg, label_sweeps=labels)
    assert r["coverage"]["region_kind"] == "muscle (label sweeps)"
    plain = run_qc(seqs, cfg)
    assert 0 < r["coverage"]["region_voxels"] < plain["coverage"]["region_voxels"]


def test_cli_qc_outputs_and_exit_codes(acquisition, tmp_path, cli):
    d, _, seqs = acquisition
    res = cli("qc", d, "--json", "--out", tmp_path / "qc.html", "--hits",
              tmp_path / "hits.mha", "--figure", tmp_path / "qc.png")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["ok"] and len(rep["sweeps"]) == 3 and "hits" not in rep
    hits = read_volume(tmp_path / "hits.mha")
    assert list(hits.shape) == rep["grid"]["shape_zyx"] and hits.array.sum() > 0
    assert (tmp_path / "qc.png").read_bytes()[:4] == b"\x89PNG"
    assert "Acquisition QC" in (tmp_path / "qc.html").read_text()
    bad = dict(_with_fault(seqs, "drop", n=20))["sweep2"]
    files = [d / "sweep1.igs.mha", write_sequence(bad, tmp_path / "sweep2.igs.mha"),
             d / "sweep3.igs.mha"]
    res = cli("qc", *files, "--config", d / "calibration.xml")
    assert res.exit_code == 1 and "sweep2: gap of" in res.stdout
    res = cli("qc", d, "--spacing", "-1", "--out", tmp_path / "x.html")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert not (tmp_path / "x.html").exists()
    res = cli("qc", tmp_path / "missing.igs.mha")
    assert res.exit_code == 2 and "missing.igs.mha" in res.stderr


def test_html_report_written_atomically(acquisition, tmp_path):
    _, cfg, seqs = acquisition
    r = run_qc(seqs, cfg)
    path = write_qc_html(r, tmp_path / "r.html")
    assert "<img" in path.read_text() and list(tmp_path.iterdir()) == [path]


def test_fault_options_are_checked():
    seq = Sequence(np.zeros((5, 2, 2), np.uint8), {"ProbeToTracker": np.stack([np.eye(4)] * 5)})
    with pytest.raises(OptionError, match="fault must be one of drop, jump, fast"):
        inject_fault(seq, "tilt", 2)
    with pytest.raises(OptionError, match="1..4"):
        inject_fault(seq, "drop", 0)


def test_compound_prints_a_short_qc_summary(acquisition, tmp_path, cli):
    d, _, _ = acquisition
    res = cli("compound", d / "sweep1.igs.mha", d / "sweep2.igs.mha", "--config",
              d / "calibration.xml", "--spacing", "2", "-o", tmp_path / "v.mha", "--json")
    assert res.exit_code == 0, res.output
    qc = json.loads(res.stdout)["qc"]
    assert qc["sweeps"] == 2 and qc["ok"] and qc["gaps"] == 0 and qc["spacing_max_mm"] < 2
    res = cli("compound", d / "sweep1.igs.mha", "--config", d / "calibration.xml",
              "--spacing", "2", "-o", tmp_path / "w.mha")
    assert "QC: 1 sweep(s), 0 invalid frame(s)" in res.stdout


def test_a_sudden_turn_is_a_jump_and_timestamps_give_the_speed():
    n = 8
    mats = np.stack([np.eye(4)] * n)
    mats[:, 2, 3] = np.arange(n) * 0.5
    a = np.radians(10.0)  # frames 5.. turned by 10 deg about z: 300 deg/s at 30 Hz
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    mats[5:, :3, :3] = rot
    mats[:, :3, 3] -= mats[:, :3, :3] @ np.array([0.5, 0.5, 0.0]) - [0.5, 0.5, 0.0]
    seq = Sequence(np.zeros((n, 2, 2), np.uint8), {"ImageToReference": mats},
                   timestamps=np.arange(n) / 30)
    q = sweep_qc(seq)  # the frame centre (0.5, 0.5) does not move sideways
    assert [j["frame"] for j in q.jumps] == [5] and q.gaps == []
    assert q.speed_median_mm_s == pytest.approx(15.0)
    seq.timestamps = np.arange(n) / 300.0  # ten times faster: 150 mm/s, over max speed
    q = sweep_qc(seq, limits=QcLimits(jump_speed_mm_s=1000, jump_turn_deg_s=5000))
    assert q.jumps == [] and q.fast[0]["frame"] == 1 and q.fast[0]["frames"] == n - 1
