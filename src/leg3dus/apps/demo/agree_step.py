"""The demo's agreement step: volumes of network predictions, sdf-propagated labels
and the second acquisition's labels against the truth, with :mod:`leg3dus.agree`."""

from __future__ import annotations

from ...core.errors import Leg3dusError
from ...dataset import Subject, subject_folder
from . import Context, Skip, need
from .steps import _loop


def agree(ctx: Context) -> str:
    """Agreement of muscle volumes with the truth: network predictions, sdf-propagated
    labels, and the second acquisition's labels against the first (test-retest)."""
    agreement, table_from_rows, min_subjects = need("agree", "agreement", "table_from_rows",
                                                    "MIN_SUBJECTS")
    write_result = need("agree.results_io", "write_result")
    from ...morphology import cohort_rows, measure_subject

    pairs = {}  # key -> (title, first name, second name, [(subject, first, second)])
    if "predicted" in ctx:
        pairs["network"] = ("network prediction vs truth", "network", "truth", [
            (x, subject_folder(ctx["predictions"], x.split, x.id) / "masksX1.mha", x.label)
            for x in ctx["predicted"]])
    if "propagation" in ctx:
        pairs["sdf"] = ("sdf-propagated labels vs truth", "sdf", "truth", [
            (x, ctx["out"] / "propagated" / f"{x.id}_sdf.mha", x.label)
            for x, _, _ in ctx["annotations"]])
    if "second" in ctx:
        pairs["x1_x2"] = ("x1 vs x2 (second acquisition, test-retest)", "x1", "x2", [
            (x, x.label, info["labels"]) for x, info in ctx["second"]])
    if not pairs:
        raise Skip("needs predictions, propagated labels or second acquisitions, which "
                   "did not run")
    written, parts = [], []
    for key, (title, name_a, name_b, items) in _loop(ctx, list(pairs.items()), "agreement"):
        tables = []
        for name, col in ((name_a, 1), (name_b, 2)):
            measured = [measure_subject(Subject(item[0].id, item[0].split, None, item[col]))
                        for item in items]
            tables.append(table_from_rows(cohort_rows(measured), ["volume_cm3"], name, name))
        # Too few subjects for one result per muscle: every subject-muscle pair counts.
        by = "muscle" if len(items) >= min_subjects else "none"
        try:
            result = agreement(tables, ["volume_cm3"], by=by)
        except Leg3dusError as exc:
            parts.append(f"{title}: not computed ({exc})")
            continue
        result["title"] = title
        path = write_result(result, ctx["out"] / "agreement" / f"{key}.json")
        written.append(path)
        groups = result["results"]
        first = next(iter(groups.values()))["volume_cm3"]
        pooled = "" if by == "muscle" else (
            f"muscles pooled, {first['n']} subject-muscle pairs, ")
        parts.append(f"{title}: {pooled}" + ", ".join(
            f"{'' if g == 'all' else g + ' '}ICC2 {e['volume_cm3']['ICC2']:.3f}, bias "
            f"{e['volume_cm3']['bias']:+.1f} cm3" for g, e in groups.items()))
    ctx["agreement"] = written
    return (f"volume agreement ({'; '.join(parts)}); results in "
            f"{ctx['out'] / 'agreement'}")
