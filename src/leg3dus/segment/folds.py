"""Cross-validation folds in nnU-Net's ``splits_final.json`` form, so a leg3dus run and an
nnU-Net run can share them.

The file is a list with one entry per fold, ``{"train": [case, ...], "val": [case,
...]}``, where a case is the nnU-Net case identifier of a subject
(:func:`leg3dus.core.layout.case_name`, the subject id with unusual characters as
``_``). Without a file, folds are made as nnU-Net v2 makes its default ones: the case
identifiers sorted, then scikit-learn's ``KFold(n_splits, shuffle=True,
random_state=12345)``; that split is reproduced here with numpy's legacy
``RandomState(seed).permutation`` (what ``KFold`` calls), so the folds are nnU-Net's
without scikit-learn installed.

>>> folds = crossval_folds(["c", "a", "b", "d"], n_folds=2)
>>> [sorted(f["val"]) for f in folds], sorted(folds[0]["train"] + folds[0]["val"])
([['a', 'd'], ['b', 'c']], ['a', 'b', 'c', 'd'])
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.errors import InputFileError, OptionError

#: The file name nnU-Net reads folds from (in its preprocessed dataset folder).
SPLITS_NAME = "splits_final.json"
#: nnU-Net's seed for its default folds.
NNUNET_SEED = 12345


def crossval_folds(cases: Iterable[str], n_folds: int = 5,
                   seed: int = NNUNET_SEED) -> list[dict[str, list[str]]]:
    """``n_folds`` folds of ``cases`` as nnU-Net v2 makes them (sorted cases, KFold with
    shuffling seeded by ``seed``): every case is in exactly one fold's ``val``."""
    keys = sorted(set(cases))
    if n_folds < 2:
        raise OptionError(f"--folds must be 2 or more, found {n_folds}")
    if len(keys) < n_folds:
        raise OptionError(f"{n_folds} folds need at least {n_folds} training subjects, "
                          f"found {len(keys)}")
    order = np.random.RandomState(seed).permutation(len(keys))
    sizes = np.full(n_folds, len(keys) // n_folds)
    sizes[: len(keys) % n_folds] += 1
    folds, start = [], 0
    for size in sizes:
        val_idx = np.sort(order[start:start + size])
        start += size
        val = set(val_idx.tolist())
        folds.append({"train": [keys[i] for i in range(len(keys)) if i not in val],
                      "val": [keys[i] for i in val_idx]})
    return folds


def write_folds(folds: list[dict[str, list[str]]], path: str | os.PathLike) -> Path:
    """Write ``folds`` as a ``splits_final.json`` (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(folds, indent=2) + "\n")
    return path


def read_folds(path: str | os.PathLike, cases: Iterable[str] | None = None
               ) -> list[dict[str, list[str]]]:
    """Read a ``splits_final.json``; with ``cases``, check that the folds name exactly
    those cases (each in one fold's ``val``) and raise :class:`InputFileError` if not."""
    path = Path(path)
    try:
        folds = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: not a readable splits JSON ({exc})") from None
    if not (isinstance(folds, list) and folds and all(
            isinstance(f, dict) and isinstance(f.get("train"), list)
            and isinstance(f.get("val"), list) for f in folds)):
        raise InputFileError(f"{path}: expected a list of {{'train': [...], 'val': [...]}} "
                             "folds (nnU-Net's splits_final.json)")
    if cases is not None:
        check_folds(folds, cases, path)
    return folds


def check_folds(folds: list[dict[str, list[str]]], cases: Iterable[str],
                where: str | os.PathLike = "folds") -> None:
    """Raise :class:`InputFileError` unless every case is in exactly one fold's ``val``
    and the folds name no other case."""
    cases = set(cases)
    vals = [c for f in folds for c in f["val"]]
    named = set(vals) | {c for f in folds for c in f["train"]}
    unknown, missing = sorted(named - cases), sorted(cases - set(vals))
    twice = sorted({c for c in vals if vals.count(c) > 1})
    for what, found in (("name cases that are not training subjects", unknown),
                        ("leave cases out of every validation fold", missing),
                        ("put cases in several validation folds", twice)):
        if found:
            raise InputFileError(f"{where}: the folds {what}: {', '.join(found[:5])}"
                                 f"{' ...' if len(found) > 5 else ''}")


def fold_subjects(folds: list[dict[str, list[str]]], fold: int) -> tuple[list[str], list[str]]:
    """(train, val) cases of fold ``fold``; :class:`OptionError` when out of range."""
    if not 0 <= fold < len(folds):
        raise OptionError(f"--fold must be in 0..{len(folds) - 1} (or 'all'), found {fold}")
    return list(folds[fold]["train"]), list(folds[fold]["val"])
