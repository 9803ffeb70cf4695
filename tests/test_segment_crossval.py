"""Cross-validation: nnU-Net's folds in splits_final.json, a run per fold, a summary, and
the folds predicting as an ensemble."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_pair

from leg3dus import write_volume

pytest.importorskip("monai")

from leg3dus.segment.crossval import parse_fold  # noqa: E402
from leg3dus.segment.folds import crossval_folds, read_folds  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")
TINY = {"batch_size": 2, "steps_per_epoch": 2, "max_epochs": 1, "augment": False,
        "lr_schedule": "constant",
        "model": {"channels": [4, 8], "patch": [1, 16, 16], "context": 1}}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cv") / "data"
    for split, sid, seed in [("train", "S01", 1), ("train", "S02", 2), ("val", "S03", 3),
                             ("test", "S04", 4)]:
        image, labels = make_pair(shape=(8, 20, 16), seed=seed)
        array = 40 + labels.array // 2 + np.random.default_rng(seed).integers(0, 40, labels.shape)
        write_volume(image.with_array(array.astype(np.uint8)), root / split / sid / "x1.mha")
        write_volume(labels, root / split / sid / "masksX1.mha")
    config = root.parent / "tiny.json"
    config.write_text(json.dumps(TINY))
    return root, config


def test_two_folds_write_nnunet_splits_runs_and_a_summary(cli, cohort, tmp_path):
    data, config = cohort
    out = tmp_path / "cv"
    r = cli("train", data, "--model", "2d", "--out", out, "--preset", "none", "--config",
            config, "--folds", 2, "--quiet")
    assert r.exit_code == 0, r.output
    folds = read_folds(out / "splits_final.json", ["S01", "S02", "S03"])
    assert folds == crossval_folds(["S01", "S02", "S03"], 2)  # nnU-Net's, test never read
    for i in range(2):
        assert (out / f"fold_{i}" / "model.ts").is_file()
    summary = json.loads((out / "cv_summary.json").read_text())
    assert summary["trained"] == [0, 1] and set(summary["mean"]) == {"SOL", "GM", "GL"}
    for m in ("SOL", "GM", "GL"):
        assert summary["mean"][m] == pytest.approx(
            np.mean([row[m] for row in summary["per_fold"]]))
    image = data / "test" / "S04" / "x1.mha"
    p = cli("predict", out, image, "-o", tmp_path / "p.mha", "--json")
    assert p.exit_code == 0 and '"models": 2' in p.stdout


def test_folds_from_a_splits_file_and_bad_folds(cli, cohort, tmp_path):
    data, config = cohort
    splits = tmp_path / "splits_final.json"
    splits.write_text(json.dumps([{"train": ["S01", "S02"], "val": ["S03"]},
                                  {"train": ["S03"], "val": ["S01", "S02"]}]))
    out = tmp_path / "cv"
    r = cli("train", data, "--model", "2d", "--out", out, "--preset", "none", "--config",
            config, "--splits", splits, "--fold", 1, "--quiet")
    assert r.exit_code == 0, r.output
    assert (out / "fold_1" / "model.ts").is_file() and not (out / "fold_0").exists()
    assert json.loads((out / "splits_final.json").read_text())[1]["val"] == ["S01", "S02"]
    for args, message in [(("--folds", 2, "--fold", 2), "0..1"),
                          (("--folds", 2, "--fold", "x"), "fold index or 'all'"),
                          (("--folds", 9), "at least 9 training subjects")]:
        bad = cli("train", data, "--model", "2d", "--out", tmp_path / "bad", "--preset",
                  "none", "--config", config, *args)
        assert bad.exit_code == 2 and message in bad.stderr, bad.output
        assert not (tmp_path / "bad").exists()
    splits.write_text(json.dumps([{"train": ["S01"], "val": ["S09"]}]))
    bad = cli("train", data, "--model", "2d", "--out", tmp_path / "bad", "--splits", splits)
    assert bad.exit_code == 2 and "S09" in bad.stderr


def test_parse_fold():
    assert parse_fold(None, 2) == [0, 1]


def test_sparse_training_masks_the_unannotated_slices(cli, tmp_path):
    from leg3dus.segment.cache import IGNORE, cache_subject

    data = tmp_path / "sparse"
    r = cli("synth", data, "--subjects", 3, "--spacing", 4.0, "--sparse-every-mm", 20,
            "--quiet")
    assert r.exit_code == 0, r.output
    folder = next((data / "train").iterdir())
    annotated = [int(x) for x in (folder / "sparseX1_slices.txt").read_text().split()
                 if x.isdigit()]
    s = cache_subject("s", folder / "x1.mha", folder / "sparseX1.mha", tmp_path / "c",
                      annotated=annotated)
    classes = np.asarray(s.classes)
    others = np.setdiff1d(np.arange(classes.shape[0]), annotated)
    assert (classes[others] == IGNORE).all() and (classes[annotated] != IGNORE).all()
    assert all(set(np.unique(c[:, 0])) <= set(annotated) for c in s.samples.values())
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    t = cli("train", data, "--model", "2d", "--out", run, "--preset", "none", "--config",
            config, "--sparse", "--quiet")
    assert t.exit_code == 0, t.output
    assert json.loads((run / "config.json").read_text())["config"]["sparse"] is True
    # a slice list that does not match the volume: one line, exit 2
    (folder / "sparseX1_slices.txt").write_text("0\n5000\n")
    bad = cli("train", data, "--model", "2d", "--out", tmp_path / "bad", "--preset", "none",
              "--config", config, "--sparse")
    assert bad.exit_code == 2 and "sparseX1.mha" in bad.stderr and "out of range" in bad.stderr
