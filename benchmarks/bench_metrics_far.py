"""Benchmark: surface metrics when the prediction is close to the truth and when it lies
far from it, leg3dus's ``evaluate`` against DeepMind's surface-distance, in process.

Both pairs are synthetic calves (benchmarks/_calf_pair.py) on a 720 x 316 x 282 grid of
0.554 mm voxels (half the dataset's resolution). The close pair is a good network's
output (shifted 0.7 mm, boundaries perturbed by ~1 mm); the far pair is an early or
failed one: muscles of other shapes (another seed's smooth boundary noise of ~6 mm)
shifted by ~6.6 mm, HD95 ~10 mm. For each pair the script prints leg3dus's time (all
metrics of SOL, GM, GL and their union), surface-distance's time for the same four
structures (Dice, its surface distances, HD, HD95, average distances and surface Dice), their
ratio, and the largest absolute difference between the two tools' values (mm for
distances). Metrics run on the CPU only (no GPU path).

Example: python benchmarks/bench_metrics_far.py
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_metrics import STRUCTS, run_deepmind  # noqa: E402  (the same anchor run)

KEYS = ("hd", "hd95", "assd", "masd", "nsd")
#: How the prediction of each pair differs from the truth: seed, shift (mm), wobble (mm).
PAIRS = {"close": (0, (0.6, 0.4, -0.3), 1.2), "far": (3, (4.0, 3.5, -4.0), 6.0)}


def far_pairs(shape, spacing, folder):
    """{name: (prediction file, truth file)}, generated once and cached as .npy."""
    from _calf_pair import calf_labels

    folder = Path(folder)
    tag = f"{'x'.join(map(str, shape))}_{spacing}"
    truth_file = folder / f"far_truth_{tag}.npy"
    out = {}
    for name, (seed, shift, wobble) in PAIRS.items():
        pred_file = folder / f"far_{name}_pred_{tag}.npy"
        if not pred_file.exists() or not truth_file.exists():
            folder.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            if not truth_file.exists():
                np.save(truth_file, calf_labels(shape, (spacing,) * 3, 0))
            np.save(pred_file, calf_labels(shape, (spacing,) * 3, seed, shift_mm=shift,
                                           wobble_mm=wobble))
            print(f"generated the {name} pair in {time.perf_counter() - t:.1f} s")
        out[name] = (pred_file, truth_file)
    return out


def run_leg3dus(pred, truth, spacing, repeat):
    from leg3dus.metrics import evaluate

    tiny = np.zeros((8, 8, 8), np.uint8)
    tiny[2:6, 2:6, 2:6] = 100
    evaluate(tiny, tiny)  # compile the kernels (cached on disk after the first run)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = evaluate(pred, truth, spacing)
        times.append(time.perf_counter() - t)
    return result, min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=[720, 316, 282],
                    help="volume shape (z y x); default half the dataset's size")
    ap.add_argument("--spacing", type=float, default=0.554, help="isotropic spacing in mm")
    ap.add_argument("--repeat", type=int, default=3,
                    help="leg3dus runs per pair (the fastest is reported)")
    ap.add_argument("--data-dir", default=str(HERE / "_data"),
                    help="where the generated pairs are cached (.npy)")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    spacing = (args.spacing,) * 3
    rows = []
    for name, (pred_file, truth_file) in far_pairs(tuple(args.shape), args.spacing,
                                                   args.data_dir).items():
        pred, truth = np.load(pred_file), np.load(truth_file)
        ours, t_ours = run_leg3dus(pred, truth, spacing, args.repeat)
        ref, t_ref = run_deepmind(pred, truth, spacing)
        diff = max(abs(ours[s][k] - ref[s][k]) for s in STRUCTS for k in KEYS)
        hd95 = ", ".join(f"{s} {ours[s]['hd95']:.1f}" for s in STRUCTS)
        print(f"{name} pair (HD95 mm: {hd95})")
        print(f"  leg3dus {t_ours:.2f} s, surface-distance {t_ref:.2f} s -> "
              f"leg3dus is {t_ref / t_ours:.1f}x faster; largest |difference| of "
              f"{', '.join(KEYS)}: {diff:.1e}", flush=True)
        rows.append((name, t_ours, t_ref, diff))
    print("\npair   leg3dus (s)  surface-distance (s)  ratio  max |diff|")
    for name, t_ours, t_ref, diff in rows:
        print(f"{name:6} {t_ours:11.2f} {t_ref:21.2f} {t_ref / t_ours:6.1f}  {diff:.1e}")


if __name__ == "__main__":
    main()
