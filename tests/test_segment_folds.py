"""Cross-validation folds in nnU-Net's splits_final.json form."""

import json

import pytest

from leg3dus.core.errors import InputFileError, OptionError
from leg3dus.segment.folds import (
    check_folds,
    crossval_folds,
    fold_subjects,
    read_folds,
    write_folds,
)

CASES = [f"P{i:03d}" for i in range(1, 12)]


@pytest.mark.parametrize("n_folds", [2, 3, 5])
def test_folds_equal_nnunet_kfold(n_folds):
    # nnU-Net v2: sorted identifiers, KFold(n_splits, shuffle=True, random_state=12345)
    sk = pytest.importorskip("sklearn.model_selection")
    keys = sorted(CASES)
    expected = []
    for tr, va in sk.KFold(n_splits=n_folds, shuffle=True, random_state=12345).split(keys):
        expected.append({"train": [keys[i] for i in tr], "val": [keys[i] for i in va]})
    assert crossval_folds(reversed(CASES), n_folds) == expected


def test_every_case_validated_once_and_round_trip(tmp_path):
    folds = crossval_folds(CASES, 4)
    vals = [c for f in folds for c in f["val"]]
    assert sorted(vals) == sorted(CASES)
    for f in folds:
        assert set(f["train"]).isdisjoint(f["val"])
        assert sorted(f["train"] + f["val"]) == sorted(CASES)
    path = write_folds(folds, tmp_path / "splits_final.json")
    assert read_folds(path, CASES) == folds
    assert json.loads(path.read_text()) == folds


def test_bad_folds_are_one_clear_error(tmp_path):
    with pytest.raises(OptionError, match="at least 5 training subjects"):
        crossval_folds(CASES[:3], 5)
    with pytest.raises(OptionError, match="2 or more"):
        crossval_folds(CASES, 1)
    folds = crossval_folds(CASES, 2)
    with pytest.raises(OptionError, match=r"0\.\.1"):
        fold_subjects(folds, 2)
    with pytest.raises(InputFileError, match="not training subjects: P011"):
        check_folds(folds, CASES[:-1] + ["X9"])
    bad = tmp_path / "splits_final.json"
    bad.write_text('{"train": []}')
    with pytest.raises(InputFileError, match="list of"):
        read_folds(bad)
    bad.write_text("[")
    with pytest.raises(InputFileError, match="not a readable"):
        read_folds(bad)
