"""Accuracy of propagation against annotation spacing, on phantom subjects.

For each subject, the dense phantom labels (0.277 mm along the leg, 0.831 mm across it
by default, to keep ITK's run time affordable) are cropped to the labels'
bounding box plus a margin, reduced to every N-th slice along the leg (from the first to
the last slice holding a muscle, both included), and filled by each method. Dice, HD95
(mm) and the volume error (%) per muscle against the dense truth go to a CSV, one row per
subject, spacing, method and muscle, written as the study goes; a summary table (mean
over subjects) is printed in Markdown.

    python benchmarks/study_propagate.py --subjects 5
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _propagate_metrics import label_metrics  # noqa: E402

from leg3dus.core.labels import MUSCLES  # noqa: E402
from leg3dus.phantom.annotations import sparse_annotations  # noqa: E402
from leg3dus.propagate import propagate  # noqa: E402

METHOD_OPTIONS = {
    "zoi": ("zoi", {}),
    "zoi-s0": ("zoi", {"sigma_mm": 0.0}),
    "sdf": ("sdf", {}),
    "sdf-align": ("sdf", {"align": True}),
    "morph": ("morph", {}),
}
FIELDS = ["subject", "every", "every_mm", "method", "muscle", "dice", "hd95_mm",
          "volume_error_percent", "seconds"]


def crop_to_labels(vol, margin: int):
    """The volume cropped to its labels' bounding box grown by ``margin`` voxels."""
    a = vol.array
    box = []
    for ax in range(3):
        other = tuple(i for i in range(3) if i != ax)
        hit = np.flatnonzero(a.any(axis=other))
        box.append(slice(max(hit[0] - margin, 0), min(hit[-1] + 1 + margin, a.shape[ax])))
    return vol.crop(tuple(box)), tuple(box)


def run(args) -> list[dict]:
    from leg3dus.phantom import cohort_params, make_labels

    params = cohort_params(args.first + args.subjects, seed=args.seed)[args.first:]
    spacing = (args.spacing, args.inplane or args.spacing, args.inplane or args.spacing)
    rows: list[dict] = []
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        for p in params:
            t = time.perf_counter()
            full = make_labels(p, spacing=spacing)
            truth, box = crop_to_labels(full, args.margin)
            del full
            print(f"{p.id}: labels {truth.shape} after crop {[(s.start, s.stop) for s in box]}"
                  f" ({time.perf_counter() - t:.0f} s)", flush=True)
            for every in args.every:
                sparse, idx = sparse_annotations(truth.array, every=every,
                                                 spacing=truth.spacing,
                                                 jitter_mm=args.jitter, seed=args.seed)
                for name in args.methods:
                    method, opts = METHOD_OPTIONS[name]
                    t = time.perf_counter()
                    out = propagate(sparse, method, spacing=truth.spacing, annotated=idx,
                                    **opts)
                    sec = time.perf_counter() - t
                    met = label_metrics(out, truth.array, truth.spacing,
                                        [m.value for m in MUSCLES])
                    for m in MUSCLES:
                        r = {"subject": p.id, "every": every,
                             "every_mm": round(every * truth.spacing[0], 3), "method": name,
                             "muscle": m.name, "dice": round(met[m.value]["dice"], 5),
                             "hd95_mm": round(met[m.value]["hd95"], 3),
                             "volume_error_percent":
                                 round(met[m.value]["volume_error_percent"], 3),
                             "seconds": round(sec, 2)}
                        writer.writerow(r)
                        rows.append(r)
                    fh.flush()
                    print(f"  every {every:>2} {name:<9} {sec:6.1f} s  Dice "
                          + " ".join(f"{met[m.value]['dice']:.3f}" for m in MUSCLES)
                          + "  dV% " + " ".join(f"{met[m.value]['volume_error_percent']:+.1f}"
                                                for m in MUSCLES), flush=True)
    return rows


def summarise(rows: list[dict]) -> str:
    """Markdown table: mean over subjects per spacing, method and muscle."""
    lines = ["| every (mm) | method | muscle | n | Dice | HD95 mm | volume error % | "
             "abs vol. err. % |", "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["every"], r["method"], r["muscle"]) for r in rows},
                  key=lambda k: (k[0], list(METHOD_OPTIONS).index(k[1]),
                                 [m.name for m in MUSCLES].index(k[2])))
    for every, method, muscle in keys:
        sel = [r for r in rows if (r["every"], r["method"], r["muscle"]) == (every, method,
                                                                             muscle)]
        dice = np.array([float(r["dice"]) for r in sel])
        hd = np.array([float(r["hd95_mm"]) for r in sel])
        ve = np.array([float(r["volume_error_percent"]) for r in sel])
        lines.append(f"| {every} ({sel[0]['every_mm']:.2f}) | {method} | {muscle} | {len(sel)} | "
                     f"{dice.mean():.3f} ± {dice.std():.3f} | {hd.mean():.2f} | "
                     f"{ve.mean():+.1f} ± {ve.std():.1f} | {np.abs(ve).mean():.1f} |")
    return "\n".join(lines)


def summarise_compact(rows: list[dict]) -> str:
    """Markdown table, one row per spacing and method, muscles side by side (means)."""
    names = [m.name for m in MUSCLES]
    lines = ["| every | mm | method | n | Dice " + "/".join(names) + " | volume error % "
             + "/".join(names) + " | HD95 mm " + "/".join(names) + " |",
             "|---|---|---|---|---|---|---|"]
    for every, method in sorted({(r["every"], r["method"]) for r in rows},
                                key=lambda k: (k[0], list(METHOD_OPTIONS).index(k[1]))):
        cell = {n: [r for r in rows if (r["every"], r["method"], r["muscle"]) ==
                    (every, method, n)] for n in names}

        def mean(key, n, fmt, cell=cell):
            return format(np.mean([float(r[key]) for r in cell[n]]), fmt)

        lines.append(
            f"| {every} | {cell[names[0]][0]['every_mm']:.2f} | {method} | "
            f"{len(cell[names[0]])} | " + "/".join(mean("dice", n, ".3f") for n in names)
            + " | " + "/".join(mean("volume_error_percent", n, "+.1f") for n in names)
            + " | " + "/".join(mean("hd95_mm", n, ".2f") for n in names) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=5, help="phantom subjects (5)")
    ap.add_argument("--seed", type=int, default=0, help="cohort and annotator seed (0)")
    ap.add_argument("--first", type=int, default=0, help="index of the first subject (0)")
    ap.add_argument("--spacing", type=float, default=0.277,
                    help="phantom spacing along the leg in mm (0.277)")
    ap.add_argument("--inplane", type=float, default=0.831,
                    help="phantom spacing across the leg (y, x) in mm; 0 = same as --spacing")
    ap.add_argument("--every", type=lambda s: [int(x) for x in s.split(",")],
                    default=[2, 5, 10, 20, 40], help="annotation steps in slices")
    ap.add_argument("--methods", type=lambda s: s.split(","),
                    default=["zoi", "sdf", "sdf-align", "morph"],
                    help=f"comma-separated, from {', '.join(METHOD_OPTIONS)}")
    ap.add_argument("--jitter", type=float, default=0.0, help="annotator jitter in mm (0)")
    ap.add_argument("--margin", type=int, default=8, help="crop margin in voxels (8)")
    ap.add_argument("--csv", type=Path, nargs="+",
                    default=[Path("benchmarks/_data/study_propagate.csv")],
                    help="CSV written (first one), or CSVs read with --from-csv")
    ap.add_argument("--compact", action="store_true",
                    help="summary with one row per spacing and method")
    ap.add_argument("--from-csv", action="store_true", help="only summarise an existing CSV")
    args = ap.parse_args(argv)
    bad = [m for m in args.methods if m not in METHOD_OPTIONS]
    if bad:
        ap.error(f"unknown method(s) {bad}")
    if args.from_csv:
        rows = []
        for path in args.csv:
            with open(path) as fh:
                rows.extend(csv.DictReader(fh))
        for r in rows:
            r["every"] = int(r["every"])
            r["every_mm"] = float(r["every_mm"])
    else:
        args.csv = args.csv[0]
        rows = run(args)
    print(summarise_compact(rows) if args.compact else summarise(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
