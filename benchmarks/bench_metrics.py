"""Benchmark: all metrics, all labels of one full-size pair, leg3dus against DeepMind's
surface-distance and MONAI's metrics, from one run.

The pair is synthetic (benchmarks/_calf_pair.py): three calf muscles at the dataset's
size, the prediction being the truth shifted and with a perturbed boundary. leg3dus runs
in a child process so that its peak memory (maximum resident set, the two volumes
included) is its own. DeepMind's functions take full-volume boolean masks, as their API
asks; MONAI's metrics get each structure cropped to its bounding box plus a margin (their
full-volume float tensors would need 2 GB per structure and change no value).

Example: python benchmarks/bench_metrics.py
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
STRUCTS = {"SOL": (100,), "GM": (150,), "GL": (200,), "union": (100, 150, 200)}


def _data(args):
    from _calf_pair import calf_pair

    folder = Path(args.data_dir)
    tag = f"{'x'.join(map(str, args.shape))}_s{args.seed}"
    files = [folder / f"{n}_{tag}.npy" for n in ("pred", "truth", "image")]
    if not all(f.exists() for f in files):
        t = time.perf_counter()
        arrays = calf_pair(tuple(args.shape), (args.spacing,) * 3, args.seed, image=True)
        folder.mkdir(parents=True, exist_ok=True)
        for f, a in zip(files, arrays, strict=True):
            np.save(f, a)
        print(f"generated the pair in {time.perf_counter() - t:.1f} s")
    return files


def _leg3dus_child(files, spacing, surface, with_image, queue):
    from leg3dus.metrics import evaluate

    tiny = np.zeros((8, 8, 8), np.uint8)
    tiny[2:6, 2:6, 2:6] = 100
    evaluate(tiny, tiny, image=tiny, surface=surface)  # compile the kernels (cached)
    pred, truth = np.load(files[0]), np.load(files[1])
    image = np.load(files[2]) if with_image else None
    t = time.perf_counter()
    result = evaluate(pred, truth, (spacing,) * 3, image=image, surface=surface)
    elapsed = time.perf_counter() - t
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    queue.put((result, elapsed, peak_gb))


def run_leg3dus(files, spacing, surface, with_image):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_leg3dus_child, args=(files, spacing, surface, with_image, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def run_deepmind(pred, truth, spacing):
    import surface_distance as sdm

    out, total = {}, 0.0
    for name, values in STRUCTS.items():
        p, g = np.isin(pred, values), np.isin(truth, values)
        t = time.perf_counter()
        d = sdm.compute_surface_distances(g, p, spacing)
        a2b, b2a = sdm.compute_average_surface_distance(d)
        area = d["surfel_areas_gt"].sum() + d["surfel_areas_pred"].sum()
        out[name] = {
            "dice": sdm.compute_dice_coefficient(g, p),
            "hd": sdm.compute_robust_hausdorff(d, 100),
            "hd95": sdm.compute_robust_hausdorff(d, 95),
            "masd": (a2b + b2a) / 2,
            "assd": (a2b * d["surfel_areas_gt"].sum() + b2a * d["surfel_areas_pred"].sum())
            / area,
            "nsd": sdm.compute_surface_dice_at_tolerance(d, 1.0),
        }
        total += time.perf_counter() - t
        print(f"  DeepMind {name}: {time.perf_counter() - t:.1f} s", flush=True)
    return out, total


def run_monai(pred, truth, spacing):
    import torch
    from monai.metrics import (
        DiceMetric,
        HausdorffDistanceMetric,
        SurfaceDiceMetric,
        SurfaceDistanceMetric,
    )

    out, total = {}, 0.0
    for name, values in STRUCTS.items():
        p, g = np.isin(pred, values), np.isin(truth, values)
        idx = np.argwhere(p | g)
        lo, hi = np.maximum(idx.min(0) - 1, 0), idx.max(0) + 2
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        yp = torch.from_numpy(p[box][None, None].astype(np.float32))
        yt = torch.from_numpy(g[box][None, None].astype(np.float32))
        del p, g
        t = time.perf_counter()
        kw = {"spacing": list(spacing)}
        r = {
            "dice": DiceMetric(include_background=True)(yp, yt).item(),
            "hd": HausdorffDistanceMetric(include_background=True)(yp, yt, **kw).item(),
            "hd95": HausdorffDistanceMetric(include_background=True, percentile=95)(
                yp, yt, **kw).item(),
            "assd": SurfaceDistanceMetric(include_background=True, symmetric=True)(
                yp, yt, **kw).item(),
            "nsd": SurfaceDiceMetric([1.0], include_background=True)(yp, yt, **kw).item(),
            "nsd_subvoxel": SurfaceDiceMetric([1.0], include_background=True,
                                              use_subvoxels=True)(yp, yt, **kw).item(),
        }
        out[name] = r
        total += time.perf_counter() - t
        print(f"  MONAI {name}: {time.perf_counter() - t:.1f} s", flush=True)
    return out, total


def _rel(a, b):
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", type=int, nargs=3, default=[1443, 632, 564],
                    help="volume shape (z y x); default the dataset's size")
    ap.add_argument("--spacing", type=float, default=0.277, help="isotropic spacing in mm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=str(HERE / "_data"),
                    help="where the generated pair is cached (.npy)")
    ap.add_argument("--no-deepmind", action="store_true", help="skip surface-distance")
    ap.add_argument("--no-monai", action="store_true", help="skip MONAI")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    spacing = (args.spacing,) * 3
    files = _data(args)

    res_s, t_s, peak_s = run_leg3dus(files, args.spacing, "surfel", False)
    print(f"leg3dus evaluate (surfel, all metrics, 4 structures): {t_s:.2f} s, "
          f"peak {peak_s:.2f} GB", flush=True)
    res_b, t_b, peak_b = run_leg3dus(files, args.spacing, "surfel", True)
    print(f"leg3dus evaluate + border analysis (--image): {t_b:.2f} s, peak {peak_b:.2f} GB",
          flush=True)
    res_v, t_v, peak_v = run_leg3dus(files, args.spacing, "voxel", False)
    print(f"leg3dus evaluate (voxel surfaces): {t_v:.2f} s, peak {peak_v:.2f} GB", flush=True)

    pred, truth = np.load(files[0]), np.load(files[1])
    dm = mo = None
    if not args.no_deepmind:
        dm, t_dm = run_deepmind(pred, truth, spacing)
        print(f"DeepMind surface-distance: {t_dm:.1f} s -> leg3dus is {t_dm / t_s:.1f}x faster")
    if not args.no_monai:
        mo, t_mo = run_monai(pred, truth, spacing)
        print(f"MONAI metrics (cropped): {t_mo:.1f} s -> leg3dus (voxel) is "
              f"{t_mo / t_v:.1f}x faster")

    print("\nvalues (mm for distances); rel = relative difference")
    print(f"{'structure':9} {'metric':6} {'leg3dus':>10} {'DeepMind':>10} {'rel':>8}   "
          f"{'leg3dus vox':>11} {'MONAI':>10} {'rel':>8}")
    worst = {"deepmind": 0.0, "monai": 0.0}
    for name in STRUCTS:
        for key in ("dice", "hd", "hd95", "assd", "masd", "nsd"):
            ours, vox = res_s[name][key], res_v[name][key]
            line = f"{name:9} {key:6} {ours:10.6f} "
            if dm is not None:
                r = _rel(ours, dm[name][key])
                worst["deepmind"] = max(worst["deepmind"], r)
                line += f"{dm[name][key]:10.6f} {r:8.1e}   "
            else:
                line += " " * 22
            if mo is not None and key in mo[name]:
                r = _rel(vox, mo[name][key])
                worst["monai"] = max(worst["monai"], r)
                line += f"{vox:11.6f} {mo[name][key]:10.6f} {r:8.1e}"
            print(line)
        if mo is not None:
            r = _rel(res_s[name]["nsd"], mo[name]["nsd_subvoxel"])
            worst["monai"] = max(worst["monai"], r)
            print(f"{name:9} nsd (surfel) vs MONAI use_subvoxels=True: "
                  f"{res_s[name]['nsd']:.6f} vs {mo[name]['nsd_subvoxel']:.6f} ({r:.1e})")
    print(f"\nlargest relative difference: DeepMind {worst['deepmind']:.1e}, "
          f"MONAI {worst['monai']:.1e}")
    print("\nborder analysis (truth borders split into distinct / completed):")
    for name in STRUCTS:
        b = res_b[name]
        print(f"  {name:6} distinct {b['estimated_distinct_fraction']:.3f} of the area; within "
              f"1 mm: distinct {b['estimated_distinct_within_tol']:.3f}, completed "
              f"{b['estimated_completed_within_tol']:.3f}; mean mm: distinct "
              f"{b['estimated_distinct_mean_mm']:.3f}, completed "
              f"{b['estimated_completed_mean_mm']:.3f}")


if __name__ == "__main__":
    main()
