"""``leg3dus compound TREE``: every subject's sweeps compounded into a dataset tree, in-process
or on a 2-worker Dask cluster, a failing subject reported while the others are written."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from leg3dus.compound import find_sweep_subjects
from leg3dus.core.volume_io import read_volume
from leg3dus.dataset import find_subjects
from leg3dus.phantom import Anatomy, cohort_params
from leg3dus.phantom.sweeps import SweepProtocol, write_sweeps

# coarse frames over a 30 mm stretch on a 2 mm grid keep each subject well under a second
PROTOCOL = SweepProtocol(n_sweeps=2, frame_px=(62, 27), pixel_mm=1.5, frame_spacing_mm=1.5)
SUBJECTS = [("train", "A"), ("val", "B")]
RECON = ("--method", "vnn", "--fill", "gaussian")
VOLATILE = ("seconds", "image", "labels")  # differ between two runs into two folders


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cbatch") / "cohort"
    params = cohort_params(len(SUBJECTS))
    for i, (split, sid) in enumerate(SUBJECTS):
        write_sweeps(Anatomy(params[i]), root / split / sid / "sweeps", PROTOCOL, seed=i,
                     spacing=2.0, z_range_mm=(90.0, 120.0))
    return root


@pytest.fixture(scope="module")
def serial(tree, tmp_path_factory):
    from typer.testing import CliRunner

    from leg3dus.apps.cli import app

    out = tmp_path_factory.mktemp("cbatch_out") / "compounded"
    res = CliRunner().invoke(app, ["compound", str(tree), "-o", str(out), *RECON, "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.stderr
    return out, json.loads(res.stdout)


def _stable(rows):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in rows]


def test_tree_mode_equals_file_mode_per_subject(cli, tree, serial, tmp_path):
    out, rows = serial
    assert [(r["split"], r["id"], r["error"]) for r in rows] == [(s, i, None) for s, i in
                                                                 SUBJECTS]
    # the output is a dataset tree that the other commands read
    found = find_subjects(out)
    assert [(s.split, s.id) for s in found] == SUBJECTS
    assert all(s.image.name == "x1.mha" and s.label.name == "masksX1.mha" for s in found)
    sweeps = tree / "train" / "A" / "sweeps"
    cfg = sweeps / "calibration.xml"
    for pattern, extra, name in (("sweep*.igs.mha", (), "x1.mha"),
                                 ("labels*.igs.mha", ("--labels",), "masksX1.mha")):
        single = tmp_path / name
        res = cli("compound", *sorted(sweeps.glob(pattern)), "--config", cfg, *RECON, *extra,
                  "-o", single, "--json")
        assert res.exit_code == 0, res.stderr
        summary = json.loads(res.stdout)
        ref, got = read_volume(single), read_volume(out / "train" / "A" / name)
        np.testing.assert_array_equal(got.array, ref.array)
        assert got.geometry.matches(ref.geometry) == []
        key = "" if name == "x1.mha" else "label_"
        assert rows[0][f"{key}frames_used"] == summary["frames_used"] > 0
        assert rows[0][f"{key}coverage"] == pytest.approx(summary["coverage"])
    assert rows[0]["shape_zyx"] == list(read_volume(single).shape)
    qc = rows[0]["qc"]  # the short acquisition QC of the subject's sweeps
    assert qc["sweeps"] == rows[0]["sweeps"] and qc["invalid_frames"] == 0
    assert qc["spacing_max_mm"] > 0 and isinstance(qc["ok"], bool)
    labels = read_volume(out / "train" / "A" / "masksX1.mha").array
    assert set(np.unique(labels)) <= {0, 100, 150, 200} and (labels == 100).any()


def test_two_workers_give_the_serial_volumes_and_table(cli, tree, serial, tmp_path):
    pytest.importorskip("distributed")
    out, rows = serial
    par = tmp_path / "par"
    res = cli("compound", tree, "-o", par, *RECON, "--workers", "2", "--json", "--quiet")
    assert res.exit_code == 0, res.stderr
    par_rows = json.loads(res.stdout)
    assert _stable(par_rows) == _stable(rows)
    for split, sid in SUBJECTS:
        for name in ("x1.mha", "masksX1.mha"):
            a, b = read_volume(out / split / sid / name), read_volume(par / split / sid / name)
            np.testing.assert_array_equal(a.array, b.array)
            assert a.geometry.matches(b.geometry) == []


@pytest.mark.parametrize("broken", ["sweep2.igs.mha", "labels2.igs.mha"])
def test_a_corrupt_sweep_fails_its_subject_only(cli, tree, serial, tmp_path, broken):
    data = tmp_path / "cohort"
    shutil.copytree(tree, data)
    bad = data / "val" / "B" / "sweeps" / broken
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    out = tmp_path / "out"
    res = cli("compound", data, "-o", out, *RECON, "--json")
    assert res.exit_code == 2  # the batch rule: a failed subject, the others written
    assert "Traceback" not in res.stderr
    lines = [x for x in res.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1 and "val/B" in lines[0] and broken in lines[0]
    rows = json.loads(res.stdout)
    assert [r["error"] is None for r in rows] == [True, False]
    assert broken in rows[1]["error"]
    # the other subject is written, and is the same as in a clean run
    ref_out, _ = serial
    for name in ("x1.mha", "masksX1.mha"):
        np.testing.assert_array_equal(read_volume(out / "train" / "A" / name).array,
                                      read_volume(ref_out / "train" / "A" / name).array)
    # nothing of the failed subject: not its image (even when only its labels broke),
    # no temporary file, no empty folder
    assert not (out / "val" / "B").exists()
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == ["train/A/masksX1.mha", "train/A/x1.mha"]


def test_bad_input_is_one_clear_line(cli, tree, tmp_path):
    # a dataset folder without any sweeps folder
    empty = tmp_path / "nosweeps" / "train" / "A"
    empty.mkdir(parents=True)
    (empty / "x1.mha").write_bytes(b"")
    res = cli("compound", tmp_path / "nosweeps", "-o", tmp_path / "o1")
    assert res.exit_code == 2 and "no sweeps folders" in res.stderr
    assert res.stderr.count("\n") == 1 and not (tmp_path / "o1").exists()
    # a folder mixed with sequence files
    sweep = tree / "train" / "A" / "sweeps" / "sweep1.igs.mha"
    res = cli("compound", tree, sweep, "-o", tmp_path / "o2")
    assert res.exit_code == 2 and "not both" in res.stderr and str(tree) in res.stderr
    res = cli("compound", sweep, tree, "-o", tmp_path / "o2")
    assert res.exit_code == 2 and "not both" in res.stderr
    assert not (tmp_path / "o2").exists()
    # writing into the input tree, or into a volume file name
    res = cli("compound", tree, "-o", tree / "compounded")
    assert res.exit_code == 2 and "inside the input tree" in res.stderr
    assert not (tree / "compounded").exists()
    res = cli("compound", tree, "-o", tmp_path / "x1.mha")
    assert res.exit_code == 2 and "output folder" in res.stderr
    # options that only apply to one mode
    res = cli("compound", tree, "-o", tmp_path / "o3", "--labels")
    assert res.exit_code == 2 and "--labels" in res.stderr
    res = cli("compound", sweep, "--config", sweep.parent / "calibration.xml", "-o",
              tmp_path / "v.mha", "--workers", "2")
    assert res.exit_code == 2 and "dataset folder" in res.stderr
    assert "Traceback" not in res.stderr


def test_subjects_sweeps_found_in_natural_order(tree, tmp_path):
    from leg3dus.sweep.folder import sequence_files

    subjects = find_sweep_subjects(tree, tmp_path / "out")
    assert [s.key for s in subjects] == ["train/A", "val/B"]
    assert subjects[1].output == tmp_path / "out" / "val" / "B"
    folder = tmp_path / "s"
    folder.mkdir()
    for k in (10, 2, 1):
        (folder / f"sweep{k}.igs.mha").write_bytes(b"")
        (folder / f"labels{k}.igs.mha").write_bytes(b"")
    assert [p.name for p in sequence_files(folder)] == [
        "sweep1.igs.mha", "sweep2.igs.mha", "sweep10.igs.mha"]


def test_rerun_replaces_outputs_also_zarr_folders(cli, tree, serial, tmp_path):
    pytest.importorskip("zarr")
    ref_out, _ = serial
    out = tmp_path / "z"
    names = ("--image-name", "x1.zarr", "--label-name", "masksX1.zarr")
    for _ in range(2):  # the second run replaces the first's Zarr folders
        res = cli("compound", tree, "-o", out, *RECON, *names, "--quiet")
        assert res.exit_code == 0, res.stderr
    for name, ref in (("x1.zarr", "x1.mha"), ("masksX1.zarr", "masksX1.mha")):
        got, want = read_volume(out / "val" / "B" / name), read_volume(ref_out / "val" / "B" / ref)
        np.testing.assert_array_equal(got.array, want.array)
        assert got.geometry.matches(want.geometry) == []
    assert sorted(p.name for p in (out / "val" / "B").iterdir()) == ["masksX1.zarr", "x1.zarr"]
