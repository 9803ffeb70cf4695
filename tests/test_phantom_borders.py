"""The phantom's true distinct/completed border volumes: definition checked against the
tissue grid, independent of chunking, written by ``synth --borders`` and read by
``evaluate --borders``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from leg3dus import read_volume
from leg3dus.phantom import cohort_params, make_labels
from leg3dus.phantom import tissue as T
from leg3dus.phantom.anatomy import Anatomy
from leg3dus.phantom.borders import COMPLETED_NAME, DISTINCT_NAME, make_borders


@pytest.fixture(scope="module")
def subject():
    p = cohort_params(2)[1]
    distinct, completed = make_borders(p, spacing=2.0)
    labels = make_labels(p, spacing=2.0)
    tissue = Anatomy(p).tissue_grid((2.0, 2.0, 2.0))
    return p, distinct.array, completed.array, labels, tissue


def _face_neighbours(a, fill):
    pad = np.pad(a, 1, constant_values=fill)
    out = []
    for axis in range(3):
        for step in (-1, 1):
            sl = [slice(1, -1)] * 3
            sl[axis] = slice(1 + step, pad.shape[axis] - 1 + step)
            out.append(pad[tuple(sl)])
    return out


def test_borders_follow_the_tissue_across_each_face(subject):
    _, distinct, completed, labels, tissue = subject
    lab = labels.array
    nbs = _face_neighbours(lab, 255)
    tis = _face_neighbours(T.base(tissue), T.GEL)
    border = (lab > 0) & np.any([n != lab for n in nbs], axis=0)
    sheet = np.any([(n != lab) & np.isin(t, [T.FASCIA, T.APONEUROSIS])
                    for n, t in zip(nbs, tis, strict=True)], axis=0)
    np.testing.assert_array_equal(distinct, np.where(border & sheet, lab, 0))
    np.testing.assert_array_equal(completed, np.where(border & ~sheet, lab, 0))
    # Each muscle has both kinds, and the fascia-wrapped borders dominate.
    for v in (100, 150, 200):
        n_d, n_c = (distinct == v).sum(), (completed == v).sum()
        assert n_c > 0 and n_d > n_c
    assert labels.spacing == (2.0, 2.0, 2.0)


def test_borders_do_not_depend_on_the_chunk_size(subject, monkeypatch):
    import leg3dus.phantom.borders as B

    p, distinct, completed, _, _ = subject
    monkeypatch.setattr(B, "CHUNK", 7)
    d, c = make_borders(p, spacing=2.0)
    np.testing.assert_array_equal(d.array, distinct)
    np.testing.assert_array_equal(c.array, completed)


def test_synth_borders_then_evaluate_borders(tmp_path, cli):
    out = tmp_path / "syn"
    r = cli("synth", out, "--subjects", "1", "--spacing", "3", "--fractions", "1", "0", "0",
            "--borders", "--quiet")
    assert r.exit_code == 0, r.output
    folders = sorted((out / "train").iterdir())
    for folder in folders:
        d = read_volume(folder / DISTINCT_NAME)
        labels = read_volume(folder / "masksX1.mha")
        assert d.geometry.matches(labels.geometry) == []
        assert read_volume(folder / COMPLETED_NAME).array.any()
    # Synth without --borders writes no border files.
    r = cli("synth", tmp_path / "plain", "-n", "1", "--spacing", "3", "--quiet")
    assert r.exit_code == 0
    assert not list((tmp_path / "plain").rglob(DISTINCT_NAME))
    # The truth scored against itself on its own borders: perfect on both parts.
    preds = tmp_path / "preds"
    for folder in folders:
        labels = read_volume(folder / "masksX1.mha")
        from leg3dus import write_volume

        write_volume(labels, preds / f"{folder.name}.mha")
    r = cli("evaluate", preds, out, "--borders", "--json")
    assert r.exit_code == 0, r.output
    for row in json.loads(r.stdout)["subjects"]:
        for name in ("SOL", "GM", "GL"):
            assert row[name]["distinct_hd"] == 0 and row[name]["completed_hd"] == 0
            assert row[name]["distinct_border_dice"] == 1
            assert 0.5 < row[name]["distinct_area_share"] < 1
