"""Speed and accuracy of propagation on a full-size subject, against ITK.

Dense phantom labels (or a label file) are reduced to every N-th slice along the leg; the
slices in between are filled by leg3dus's sdf and ZOI and by ITK's morphological contour
interpolation (the anchor) on the same input, in one run. Prints time, the ITK/leg3dus
ratio and Dice against the dense truth per muscle.

    python benchmarks/bench_propagate.py --every 20
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _propagate_metrics import label_metrics  # noqa: E402

from leg3dus.core.labels import MUSCLES  # noqa: E402
from leg3dus.phantom.annotations import sparse_annotations  # noqa: E402
from leg3dus.propagate import morph, propagate  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", type=Path, help="dense label file (default: phantom subject)")
    ap.add_argument("--subject", type=int, default=0, help="phantom subject index (default 0)")
    ap.add_argument("--spacing", type=float, default=0.277, help="phantom spacing in mm")
    ap.add_argument("--every", type=int, default=20, help="annotate every N slices (20)")
    ap.add_argument("--sigma", type=float, default=1.0, help="ZOI sigma in mm (1.0)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per method; best is kept")
    ap.add_argument("--no-itk", action="store_true", help="skip the ITK anchor")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    if args.labels:
        from leg3dus import read_volume

        truth = read_volume(args.labels)
        source = str(args.labels)
    else:
        from leg3dus.phantom import cohort_params, make_labels

        truth = make_labels(cohort_params(args.subject + 1)[args.subject], spacing=args.spacing)
        source = f"phantom subject {args.subject} at {args.spacing} mm"
    print(f"truth: {source}, shape {truth.shape} (z, y, x), "
          f"made in {time.perf_counter() - t0:.1f} s")
    sparse, idx = sparse_annotations(truth.array, every=args.every, spacing=truth.spacing)
    print(f"annotated: every {args.every} slices, {len(idx)} slices ({idx[0]}..{idx[-1]})")

    runs = [("sdf", {}), ("sdf+align", {"align": True}), ("zoi", {"sigma_mm": args.sigma})]
    if not args.no_itk:
        # ITK runs in its own process (see leg3dus.propagate.morph); only the time of its
        # filter counts, not the process start, ITK's import or the array transfer.
        runs.append(("morph (ITK)", {}))
    values = [m.value for m in MUSCLES]
    rows = {}
    for name, opts in runs:
        method = name.split()[0].split("+")[0]
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            out = propagate(sparse, method, spacing=truth.spacing, annotated=idx, **opts)
            took = time.perf_counter() - t
            if method == "morph":
                print(f"  (ITK process in all: {took:.1f} s; its filter: "
                      f"{morph.last_filter_seconds:.1f} s)")
                took = morph.last_filter_seconds
            best = min(best, took)
        rows[name] = (best, label_metrics(out, truth.array, truth.spacing, values))
        print(f"  {name}: {best:.1f} s", flush=True)
        del out

    anchor = rows.get("morph (ITK)", (None,))[0]
    head = f"{'method':<12} {'seconds':>8} {'ITK/this':>9} " + " ".join(
        f"{m.name + ' Dice':>9}" for m in MUSCLES) + f" {'mean Dice':>9} " + " ".join(
        f"{m.name + ' dV%':>7}" for m in MUSCLES)
    print(head)
    for name, (sec, met) in rows.items():
        dice = [met[v]["dice"] for v in values]
        ratio = f"{anchor / sec:9.2f}" if anchor else f"{'-':>9}"
        print(f"{name:<12} {sec:8.1f} {ratio} " + " ".join(f"{d:9.4f}" for d in dice)
              + f" {np.mean(dice):9.4f} "
              + " ".join(f"{met[v]['volume_error_percent']:7.2f}" for v in values))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    print(f"peak memory of the process (all methods, truth included): {peak:.1f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
