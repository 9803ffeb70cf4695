"""How well leg3dus's border estimator recovers the true distinct/completed borders of
phantom subjects.

The phantom knows which muscle borders carry a fascia or aponeurosis echo
(:mod:`leg3dus.phantom.borders`). For each subject the truth surface of each muscle
(surfel corners, as the border analysis uses) is split by the true border volumes: a
corner is truly distinct when it touches distinct border voxels only, truly completed
when it touches completed ones only (corners touching both, where the parts meet, are
left out). The estimator (:mod:`leg3dus.metrics.border`) labels the same corners from
the image; agreement is area weighted: accuracy, sensitivity (true distinct area found
distinct), specificity (true completed area found completed), Cohen's kappa, and the
distinct share of the area, true against estimated. One row per subject, rule and
muscle goes to a CSV; the printed Markdown table is the mean over subjects.

    python benchmarks/study_border.py --subjects 6 --spacing 1.0
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np

from leg3dus.core.labels import MUSCLES
from leg3dus.metrics.border import BorderOptions, distinct_mask
from leg3dus.metrics.border_protocol import touching
from leg3dus.metrics.surface import surface_distances
from leg3dus.phantom import cohort_params, make_subject
from leg3dus.phantom.borders import make_borders

FIELDS = ["subject", "rule", "muscle", "accuracy", "sensitivity", "specificity", "kappa",
          "true_distinct_share", "estimated_distinct_share", "left_out_share"]


def agreement(truth: np.ndarray, estimate: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Area-weighted agreement of two boolean labellings (True = distinct)."""
    total = w.sum()
    tp = w[truth & estimate].sum()
    tn = w[~truth & ~estimate].sum()
    acc = (tp + tn) / total
    p_t, p_e = w[truth].sum() / total, w[estimate].sum() / total
    chance = p_t * p_e + (1 - p_t) * (1 - p_e)
    return {"accuracy": acc,
            "sensitivity": tp / w[truth].sum() if truth.any() else float("nan"),
            "specificity": tn / w[~truth].sum() if (~truth).any() else float("nan"),
            "kappa": (acc - chance) / (1 - chance) if chance < 1 else float("nan"),
            "true_distinct_share": p_t, "estimated_distinct_share": p_e}


def study_subject(params, spacing: float, rules) -> list[dict]:
    image, labels = make_subject(params, spacing)
    distinct, completed = make_borders(params, spacing)
    sp = labels.spacing
    sds = {m.name: surface_distances(labels.array == m.value, labels.array == m.value, sp)
           for m in MUSCLES}
    rows = []
    for m in MUSCLES:
        sd = sds[m.name]
        table = np.zeros(256, bool)
        table[m.value] = True
        in_d = touching(sd.truth_points, distinct.array, table, "surfel")
        in_c = touching(sd.truth_points, completed.array, table, "surfel")
        keep = in_d ^ in_c
        w = sd.truth_weights
        others = np.concatenate([sds[o.name].truth_points for o in MUSCLES if o is not m])
        for rule in rules:
            est = distinct_mask(sd, sp, image.array, others, BorderOptions(rule=rule))
            row = agreement(in_d[keep], est[keep], w[keep])
            row.update(subject=params.id, rule=rule, muscle=m.name,
                       left_out_share=float(w[~keep].sum() / w.sum()))
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subjects", type=int, default=6, help="phantom subjects (6)")
    ap.add_argument("--seed", type=int, default=0, help="cohort seed (0)")
    ap.add_argument("--spacing", type=float, default=1.0, help="voxel size in mm (1.0)")
    ap.add_argument("--rules", type=lambda s: s.split(","),
                    default=["either", "gradient", "aponeurosis"],
                    help="estimator rules, comma separated (either,gradient,aponeurosis)")
    ap.add_argument("--csv", default="study_border.csv", help="per-subject rows (CSV)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    with open(args.csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for params in cohort_params(args.subjects, args.seed):
            for row in study_subject(params, args.spacing, args.rules):
                writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v)
                                 for k, v in row.items()})
                rows.append(row)
    keys = FIELDS[3:]
    print(f"{args.subjects} subjects at {args.spacing} mm, mean over subjects "
          f"({time.perf_counter() - t0:.0f} s)\n")
    print("| rule | muscle | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for rule in args.rules:
        for m in MUSCLES:
            sel = [r for r in rows if r["rule"] == rule and r["muscle"] == m.name]
            cells = [f"{np.nanmean([r[k] for r in sel]):.3f}" for k in keys]
            print(f"| {rule} | {m.name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
