"""``leg3dus propagate``: files, trees, options and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leg3dus import Volume, read_volume, write_volume
from leg3dus.propagate import propagate


def _sparse(seed=0, n=21):
    rng = np.random.default_rng(seed)
    vol = np.zeros((n, 30, 40), np.uint8)
    for k in range(0, n, 5):
        r = 7 + rng.integers(0, 3)
        yy, xx = np.mgrid[:30, :40]
        vol[k][(yy - 15) ** 2 + (xx - 12) ** 2 <= r * r] = 100
        vol[k][(yy - 15) ** 2 + (xx - 29) ** 2 <= 36] = 200
    return vol


@pytest.fixture
def sparse_file(tmp_path):
    path = tmp_path / "sparse.mha"
    direction = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1]], float)
    write_volume(Volume(_sparse(), (0.5, 0.3, 0.3), (4.0, -1.0, 2.0), direction), path)
    return path


@pytest.mark.parametrize("method, args", [("zoi", ["--sigma-mm", "0.5"]), ("sdf", ["--align"]),
                                          ("zoi", ["--sigma-mm", "0", "--one-side", "half"])])
def test_file_matches_library_and_keeps_geometry(cli, sparse_file, tmp_path, method, args):
    out = tmp_path / "dense.nii.gz"
    res = cli("propagate", sparse_file, "-o", out, "--method", method, *args, "--json")
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)["results"][0]
    assert row["annotated"] == 5 and row["first"] == 0 and row["last"] == 20
    got, src = read_volume(out), read_volume(sparse_file)
    assert got.geometry.matches(src.geometry) == []
    opts = {"sigma_mm": float(args[1])} if method == "zoi" else {"align": True}
    if "half" in args:
        opts["one_side"] = "half"
    np.testing.assert_array_equal(got.array, propagate(src, method, **opts).array)
    assert row["volumes_cm3"]["SOL"] == pytest.approx(
        (got.array == 100).sum() * 0.045 / 1000, rel=1e-6)


def test_annotated_list_and_file(cli, sparse_file, tmp_path):
    listing = tmp_path / "slices.txt"
    listing.write_text("0:21:5\n")
    a, b = tmp_path / "a.mha", tmp_path / "b.mha"
    assert cli("propagate", sparse_file, "-o", a, "--annotated", "0,5,10,15,20").exit_code == 0
    assert cli("propagate", sparse_file, "-o", b, "--annotated", listing).exit_code == 0
    np.testing.assert_array_equal(read_volume(a).array, read_volume(b).array)


@pytest.mark.parametrize("args, words", [
    (["--annotated", "0,5,10,15,25"], "out of range"),
    (["--annotated", "0,10,20"], "not listed as annotated"),
    (["--annotated", "0,a"], "'a'"),
    (["--method", "spline"], "unknown --method"),
    (["--method", "sdf", "--sigma-mm", "1"], "--sigma-mm"),
    (["--method", "zoi", "--one-side", "taper"], "one_side"),
    (["--axis", "3"], "axis"),
])
def test_bad_options_exit_2_without_output(cli, sparse_file, tmp_path, args, words):
    out = tmp_path / "dense.mha"
    res = cli("propagate", sparse_file, "-o", out, *args)
    assert res.exit_code == 2
    assert words in res.stderr and res.stderr.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("fill, words", [(None, "no annotated slice"),
                                         ([3], "only one annotated slice"),
                                         ([3, 9], "outside the scheme")])
def test_bad_labels_exit_2(cli, tmp_path, fill, words):
    vol = np.zeros((12, 8, 8), np.uint8)
    if fill:
        vol[fill, 2:5, 2:5] = 100
        if len(fill) > 1:
            vol[9, 0, 0] = 42
    src = tmp_path / "s.mha"
    write_volume(Volume(vol), src)
    res = cli("propagate", src, "-o", tmp_path / "d.mha")
    assert res.exit_code == 2 and words in res.stderr and str(src) in res.stderr
    assert not (tmp_path / "d.mha").exists()


def test_never_overwrites_input(cli, sparse_file):
    before = sparse_file.read_bytes()
    res = cli("propagate", sparse_file, "-o", sparse_file)
    assert res.exit_code == 2 and "overwrite" in res.stderr
    assert sparse_file.read_bytes() == before


def test_tree_batch(cli, tmp_path):
    root = tmp_path / "sparse"
    for split, sid, seed in [("train", "S01", 1), ("test", "S02", 2)]:
        write_volume(Volume(_sparse(seed)), root / split / sid / "masksX1.mha")
    bad = root / "train" / "S03" / "masksX1.mha"
    write_volume(Volume(np.zeros((5, 4, 4), np.uint8)), bad)
    out = tmp_path / "dense"
    res = cli("propagate", root, "-o", out, "--method", "zoi", "--json")
    assert res.exit_code == 2  # one subject failed, the others were written
    assert res.stderr.count("\n") == 1 and f"error: {bad}:" in res.stderr
    body = json.loads(res.stdout)
    assert len(body["results"]) == 2 and "no annotated slice" in body["failed"][0]["error"]
    for split, sid, seed in [("train", "S01", 1), ("test", "S02", 2)]:
        got = read_volume(out / split / sid / "masksX1.mha").array
        want = propagate(_sparse(seed), "zoi", spacing=(1, 1, 1))
        np.testing.assert_array_equal(got, want)
    assert not (out / "train" / "S03").exists()
