"""What ``leg3dus evaluate`` prints: the metrics of a pair, the per-subject table and the
cohort summary of a tree, the worst slices and the label conventions read."""

from __future__ import annotations

import sys

from rich.table import Table

from ...core.tables import screen_cell
from ...metrics import STRUCTURES
from .output import console, emit_json, say

_SHOWN = ("dice", "iou", "hd", "hd95", "assd", "nsd", "volume_error_percent")
_HEADINGS = {"structure": "label", "volume_error_percent": "vol err %",
             "worst_slices": "worst slices"}
_BORDER_SHOWN = tuple(f"{p}_{k}" for p in ("distinct", "completed")
                      for k in ("hd95", "assd", "border_dice"))


def _num(v) -> str:
    if isinstance(v, list):
        return "..".join(str(x) for x in v)
    if v is None:
        return "-"
    return screen_cell(v) if isinstance(v, (int, float)) else str(v)


def _pair_table(result: dict) -> Table:
    table = Table(box=None, pad_edge=False)
    table.add_column("metric")
    for name in STRUCTURES:
        table.add_column(name, justify="right")
    for key in result[STRUCTURES[0]]:
        if key != "worst_slices":
            table.add_row(key, *(_num(result[n][key]) for n in STRUCTURES))
    return table


def _subjects_table(rows: list[dict]) -> Table:
    # One space between columns and short headings: the table fits 80 columns.
    per = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for col in ("split", "subject", "structure", *_SHOWN, "worst_slices"):
        per.add_column(_HEADINGS.get(col, col), no_wrap=True,
                       justify="left" if col in ("split", "subject", "structure") else "right")
    for r in rows:
        if "error" in r:
            per.add_row(r["split"] or "-", r["id"], "error", r["error"])
            continue
        for name in STRUCTURES:
            per.add_row(r["split"] or "-", r["id"], name,
                        *(_num(r[name].get(k)) for k in (*_SHOWN, "worst_slices")))
    return per


def _summary_table(summary: dict) -> Table:
    summ = Table(box=None, pad_edge=False, title="cohort: mean of finite values (inf: "
                 "muscle missed, undef: undefined)")
    for col in ("structure", "metric", "mean", "sd", "median", "n", "inf", "undef",
                "failed"):
        summ.add_column(col, justify="left" if col in ("structure", "metric") else "right")
    shown = [k for k in summary[STRUCTURES[0]] if k in _SHOWN or k in _BORDER_SHOWN]
    for name in STRUCTURES:
        for key in shown:
            s = summary[name][key]
            summ.add_row(name, key, _num(s["mean"]), _num(s["sd"]), _num(s["median"]),
                         str(s["n"]), str(s["n_inf"]), str(s["n_undefined"]),
                         str(s["n_failed"]))
    return summ


def _label_value_lines(results: list[dict]) -> list[str]:
    """One line per label convention used, for predictions and for the truth."""
    from ...core.label_values import LabelConvention

    return list(dict.fromkeys(
        f"{role}: {LabelConvention.from_json(r['label_values'][role]).describe()}"
        for r in results if "label_values" in r for role in ("prediction", "truth")))


def print_evaluation(evaluation, as_json: bool, as_csv: bool) -> None:
    """JSON, CSV, or the tables of an :class:`leg3dus.metrics.batch.Evaluation`."""
    if as_json:
        emit_json(evaluation.result)
    elif as_csv:
        sys.stdout.write(evaluation.csv)
    elif evaluation.pair:
        result = evaluation.result
        console().print(_pair_table(result))
        for name in STRUCTURES:
            w = result[name].get("worst_slices")
            if w:
                console().print(f"{name}: the distances beyond HD95 ("
                                f"{_num(result[name]['hd95'])} mm) lie in slices "
                                f"{w[0]}..{w[1]} (axis 0)")
        say(*_label_value_lines([result]))
    else:
        console().print(_subjects_table(evaluation.result["subjects"]))
        console().print(_summary_table(evaluation.result["summary"]))
        say(*_label_value_lines(evaluation.result["subjects"]))
