"""Benchmark: agreement of a cohort's measures between raters.

Writes one morphology-style CSV per rater (subjects x 3 muscles, 5 measures; default 44
subjects and 4 raters, the target's size) into a temporary folder, then times leg3dus
reading the tables and computing every statistic (six ICC forms with intervals, SEM,
MDC95, CV%, and Bland-Altman, CCC and tests when there are two raters) per muscle and
measure. The anchor is pingouin.intraclass_corr on the same values (ICC only, one call
per muscle and measure, from an already built long table). Prints both timings, the
ratio, and the largest ICC difference between the two. Target: < 1 s for 44 x 3 x 5 x 4.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from leg3dus.agree import ICC_FORMS, agreement, read_table

MUSCLES = ("SOL", "GM", "GL")
MEASURES = ("volume_cm3", "length_mm", "max_csa_cm2", "max_csa_position_pct",
            "path_length_mm")


def write_tables(folder: Path, subjects: int, raters: int, seed: int = 0) -> list[Path]:
    """One CSV per rater: a true value per subject, muscle and measure, plus rater
    bias and noise (3 %)."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(50, 500, size=(subjects, len(MUSCLES), len(MEASURES)))
    paths = []
    for r in range(raters):
        values = truth * (1 + rng.normal(0.01 * r, 0.03, size=truth.shape))
        path = folder / f"rater{r + 1}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["split", "id", "sex", "side", "muscle", *MEASURES])
            for i in range(subjects):
                for j, m in enumerate(MUSCLES):
                    w.writerow(["train", f"P{i + 1:03d}", "F", "left", m,
                                *(f"{v:.6g}" for v in values[i, j])])
        paths.append(path)
    return paths


def run_leg3dus(paths: list[Path]) -> dict:
    tables = [read_table(p, list(MEASURES), name=p.name) for p in paths]
    return agreement(tables, list(MEASURES))


def run_pingouin(result: dict) -> dict:
    import pandas as pd
    import pingouin as pg

    frames = {}
    for g, per in result["results"].items():
        for m, e in per.items():
            x = np.asarray(e["values"])
            n, k = x.shape
            frames[(g, m)] = pd.DataFrame({"t": np.repeat(np.arange(n), k),
                                           "r": np.tile(np.arange(k), n), "s": x.ravel()})
    warnings.filterwarnings("ignore", message="The inplace keyword")  # pandas 3 in pingouin
    start = time.perf_counter()
    out = {key: pg.intraclass_corr(df, "t", "r", "s")["ICC"].to_numpy()
           for key, df in frames.items()}
    return {"seconds": time.perf_counter() - start, "icc": out}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=44)
    parser.add_argument("--raters", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the best is kept")
    parser.add_argument("--no-anchor", action="store_true", help="skip pingouin")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_tables(Path(tmp), args.subjects, args.raters)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = run_leg3dus(paths)
            times.append(time.perf_counter() - start)
    best = min(times)
    size = f"{args.subjects} subjects x {len(MUSCLES)} muscles x {len(MEASURES)} measures " \
           f"x {args.raters} raters"
    print(f"size: {size}")
    print(f"leg3dus (read tables + all statistics): {best:.3f} s (best of {args.repeat}); "
          f"target < 1 s: {'met' if best < 1.0 else 'NOT met'}")
    if args.no_anchor:
        return
    try:
        anchor = run_pingouin(result)
    except ImportError:
        print("pingouin not installed: no anchor (pip install pingouin)")
        return
    diff = max(float(np.max(np.abs(np.array([e[f] for f in ICC_FORMS])
                                   - anchor["icc"][(g, m)])))
               for g, per in result["results"].items() for m, e in per.items())
    print(f"pingouin.intraclass_corr (ICC only): {anchor['seconds']:.3f} s; "
          f"ratio pingouin / leg3dus: {anchor['seconds'] / best:.1f}x (leg3dus computing "
          "every statistic)")
    print(f"largest ICC difference leg3dus - pingouin: {diff:.2e}")


if __name__ == "__main__":
    main()
