"""The report's evaluation summary drops nothing: n behind every mean, and missed
muscles (infinite distances), undefined values and failed subjects counted."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from leg3dus import Volume, read_volume, write_volume
from leg3dus.apps.report.evaluation import evaluation_sections
from leg3dus.dataset import find_subjects
from leg3dus.morphology import measure


def _run(job, items, what):
    out = []
    for item in items:
        try:
            out.append(SimpleNamespace(ok=True, value=job(item), item=item, error=None))
        except Exception as exc:  # noqa: BLE001 - a failed subject, as run_batch reports it
            out.append(SimpleNamespace(ok=False, value=None, item=item, error=str(exc)))
    return out


def test_summary_counts_missed_muscle_and_failed_subject(tmp_path, tiny_dataset):
    subjects = find_subjects(tiny_dataset)
    preds = {}
    for k, s in enumerate(subjects):
        truth = read_volume(s.label)
        arr = truth.array.copy()
        if k == 1:
            arr[arr == 200] = 0  # GL missed
        path = tmp_path / f"{s.id}.mha"
        write_volume(truth.with_array(arr) if k != 3 else Volume(arr[1:]), path)
        preds[s.key] = path  # subject 4 is on another grid: fails
    done = [{"split": s.split, "id": s.id, "morphology": measure(read_volume(s.label))}
            for s in subjects]
    sections, evals, failures = evaluation_sections(subjects, preds, done, _run, "labels")
    html = "".join(sections)
    assert len(evals) == 3 and len(failures) == 1
    summary = html[html.index("Summary (mean"):]
    # GL's HD95: two finite values, one infinite (missed), one failed subject.
    assert "(n=2; 1 inf, 1 failed)" in summary
    # SOL's Dice: three finite values and the failed subject.
    assert "1.000 ± 0.000 (n=3; 1 failed)" in summary
    assert np.isinf(evals[1]["metrics"]["GL"]["hd95"])
