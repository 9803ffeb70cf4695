"""Tables that commands print: subjects of a dataset (``info``), a synthetic cohort
(``synth``), agreement results (``agree``) and validation findings (``validate``)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ...core.tables import screen_cell
from .output import console


def _spacing(spacing) -> str:
    # One number when isotropic (the dataset's case) keeps the table within 80 columns.
    if max(spacing) <= min(spacing) * 1.005:
        return f"{spacing[0]:.3f}"
    return "/".join(f"{s:.3g}" for s in spacing)


def info_table(rows: list[dict]) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 1, 0, 0),
                  caption="spacing in mm (z/y/x when not isotropic), muscle volumes in cm3",
                  caption_justify="left")
    for col in ("split", "subject", "shape z,y,x", "spacing", "dtype", "MB", "labels",
                "SOL", "GM", "GL"):
        table.add_column(col, justify="right" if col in ("MB", "SOL", "GM", "GL") else "left",
                         overflow="fold")
    for r in rows:
        vols = r.get("volumes_cm3") or {}
        table.add_row(
            r["split"] or "-", r["id"],
            "x".join(str(n) for n in r["shape"]) if r.get("shape") else "?",
            _spacing(r["spacing"]) if r.get("spacing") else "?",
            r.get("dtype") or "?", f"{r['file_mb']:.1f}",
            ",".join(str(v) for v in r.get("label_values") or []) or "-",
            *(f"{vols[m]:.1f}" if m in vols else "-" for m in ("SOL", "GM", "GL")),
        )
    return table


def synth_table(rows: list[dict]) -> Table:
    table = Table(box=None, pad_edge=False)
    for col in ("split", "subject", "sex", "side", "shape (z,y,x)", "SOL cm3", "GM cm3",
                "GL cm3"):
        table.add_column(col, justify="right" if "cm3" in col else "left")
    for r in rows:
        table.add_row(r["split"], r["id"], r["sex"], r["side"],
                      f"{r['shape_z']}x{r['shape_y']}x{r['shape_x']}",
                      *(f"{r[f'true_{m}_cm3']:.1f}" for m in ("SOL", "GM", "GL")))
    return table


def print_agreement(result: dict) -> None:
    """One table per measure: ICC2 with its interval, SEM, MDC95, CV% (and, for two
    inputs, bias and limits of agreement) per muscle."""
    out = console()
    two = len(result["raters"]) == 2
    group = "muscle" if result["by"] == "muscle" else "group"
    heads = [group, "n", "ICC2", "95% CI", "SEM", "MDC95", "CV%"] + (
        ["bias", "LoA"] if two else [])
    for m in result["measures"]:
        table = Table(box=None, pad_edge=False, title=m, title_justify="left")
        for h in heads:
            table.add_column(h, justify="left" if h == group else "right", no_wrap=True)
        for g, per in result["results"].items():
            if m not in per:
                continue
            e = per[m]
            cells = [g, str(e["n"]), screen_cell(e["ICC2"]),
                     screen_cell([e["ICC2_ci_lower"], e["ICC2_ci_upper"]]),
                     screen_cell(e["SEM"]), screen_cell(e["MDC95"]), screen_cell(e["CV_pct"])]
            if two:
                cells += [screen_cell(e["bias"]),
                          screen_cell([e["loa_lower"], e["loa_upper"]])]
            table.add_row(*cells)
        out.print(table)
    raters = " minus ".join(result["raters"]) if two else ", ".join(result["raters"])
    out.print(f"{'bias: ' if two else 'raters: '}{raters}", markup=False)
    out.print("ICC2 = ICC(A,1): two-way random, absolute agreement, single measure;",
              markup=False)
    out.print("SEM = SD x sqrt(1 - ICC2); all six forms with --json or --out", markup=False)


def print_validation(report: dict) -> None:
    """The findings of ``leg3dus validate``, one line each, and a summary line."""
    out = console()
    for f in report["findings"]:
        where = (f" {Path(f['file']).name}:"
                 if f["file"] and not f["message"].startswith(f["file"]) else "")
        out.print(f"{f['subject']}  {f['check']}{where} {f['message']}", markup=False)
    for row in report["subjects"]:
        if row["fixed"]:
            out.print(f"{row['subject']}  cleaned labels written to {row['fixed']}", markup=False)
    from ...core.label_values import LabelConvention

    for line in dict.fromkeys(LabelConvention.from_json(r["label_convention"]).describe()
                              for r in report["subjects"] if r.get("label_convention")):
        out.print(line, markup=False)
    s = report["summary"]
    if s["clean"]:
        out.print(f"{_n(s['subjects'], 'subject')} checked: no findings")
    else:
        kinds = ", ".join(f"{k} {n}" for k, n in s["by_check"].items())
        out.print(f"{_n(s['subjects'], 'subject')} checked: {_n(s['findings'], 'finding')} "
                  f"in {_n(s['subjects_with_findings'], 'subject')} ({kinds})")


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
