"""Rigid registration of two phantom acquisitions: accuracy on several subjects and the
time of one full-size pair, leg3dus against a plain SimpleITK registration.

For each subject the phantom renders x1 (its default probe) and x2 (the second
acquisition: 5 MHz, another field of view, a known pose within +-10 mm and +-5 degrees);
x2 is registered to x1 and its labels carried onto x1's grid. Reported per subject:

- TRE: distance (mm) between where the estimated and the true transform send points of
  the muscle surfaces of x1 (boundary voxels of SOL, GM and GL); median and 95th centile;
- Dice of the transferred labels against x1's own labels, per muscle, over the part of
  x1 that x2's field of view covers;
- wall time of the registration (reading excluded).

The anchor is a plain single-resolution SimpleITK registration with the settings of
SimpleITK's registration notebooks: normalised correlation, geometry centring, random
samples of the full-resolution images (0.1 % by default: the notebooks' 1 % is 5 million
samples at full size, about ten times slower), regular-step gradient descent (learning
rate 1, 100 iterations) with scales from physical shifts, no masks. It runs on the
first subject only.

With ``--memory`` it measures instead the peak memory (ru_maxrss) of a fresh
``leg3dus register`` process carrying the first subject's x2 and its labels onto x1
(the transform and the labels written), then of one writing x2 resampled too. The
pair is first padded with never-scanned voxels to the dataset's full size (1443 x 632 x
564, z, y, x) at least.

Example: python benchmarks/bench_register.py --subjects 5 --spacing 0.277

Example: python benchmarks/bench_register.py --memory --spacing 0.277
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from leg3dus import Volume, read_volume, write_volume
from leg3dus.core.labels import MUSCLES
from leg3dus.register import (
    read_transform,
    register_rigid,
    target_registration_error,
    transfer_labels,
)

DATA = Path(__file__).resolve().parent / "_data" / "register"


def make_pair(index: int, spacing: float, seed: int, root: Path) -> Path:
    """Render (or reuse) subject ``index``'s x1, masksX1 and second acquisition."""
    from leg3dus.phantom import cohort_params, make_subject
    from leg3dus.phantom.second import write_second_acquisition

    params = cohort_params(index + 1, seed=seed)[index]
    folder = root / f"{params.id}_{spacing:g}mm_seed{seed}"
    if (folder / "x2_true.tfm").exists():
        return folder
    image, labels = make_subject(params, spacing=spacing)
    write_volume(image, folder / "x1.mha")
    write_volume(labels, folder / "masksX1.mha")
    write_second_acquisition(folder, params, image, seed=seed)
    return folder


def surface_points(labels: np.ndarray, geometry, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` random boundary voxels of the muscles, as physical points (z, y, x) mm."""
    from scipy import ndimage

    from leg3dus.register.pyramid import nonzero_box

    box = nonzero_box(labels)
    sub = labels[box]
    pts = []
    for m in MUSCLES:
        inside = sub == m.value
        if inside.any():
            pts.append(np.argwhere(inside & ~ndimage.binary_erosion(inside)))
    idx = np.concatenate(pts) + np.array([s.start for s in box])
    rng = np.random.default_rng(seed)
    if len(idx) > n:
        idx = idx[rng.choice(len(idx), n, replace=False)]
    return geometry.index_to_physical(idx.astype(np.float64))


def dice_in_view(moved: np.ndarray, truth: np.ndarray, covered: np.ndarray) -> dict:
    out = {}
    for m in MUSCLES:
        a, b = (moved == m.value) & covered, (truth == m.value) & covered
        denom = int(a.sum()) + int(b.sum())
        out[m.name] = 2.0 * int((a & b).sum()) / denom if denom else float("nan")
    return out


def anchor_registration(fixed, moving, percent: float) -> tuple[sitk.Transform, float]:
    """SimpleITK's plain recipe: one resolution, full images, ``percent`` % random samples."""
    start = time.perf_counter()
    f = sitk.Cast(fixed.to_sitk(), sitk.sitkFloat32)
    m = sitk.Cast(moving.to_sitk(), sitk.sitkFloat32)
    init = sitk.CenteredTransformInitializer(
        f, m, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsCorrelation()
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(percent / 100.0, 1)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3,
                                                 numberOfIterations=100)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetInitialTransform(init, inPlace=False)
    out = reg.Execute(f, m)
    return out, time.perf_counter() - start


def evaluate(folder: Path, n_points: int, seed: int, anchor: bool,
             anchor_percent: float = 0.1) -> dict:
    x1 = read_volume(folder / "x1.mha")
    x2 = read_volume(folder / "x2.mha")
    labels1 = read_volume(folder / "masksX1.mha")
    truth = read_transform(folder / "x2_true.tfm")
    pts = surface_points(labels1.array, labels1.geometry, n_points, seed)
    start = time.perf_counter()
    result = register_rigid(x1, x2)
    seconds = time.perf_counter() - start
    tre = target_registration_error(result.transform, truth, pts)
    start_tre = target_registration_error(sitk.Euler3DTransform(), truth, pts)
    labels2 = read_volume(folder / "masksX2.mha")
    moved = transfer_labels(labels2, x1.geometry, result.transform).array
    # x1 voxels inside x2's grid (through the true pose): where a transfer can exist.
    ones = labels2.with_array(np.ones(labels2.shape, np.uint8))
    covered = transfer_labels(ones, x1.geometry, truth).array.astype(bool)
    row = {"subject": folder.name, "shape": x1.shape, "seconds": seconds,
           "tre_median": float(np.median(tre)), "tre_p95": float(np.percentile(tre, 95)),
           "tre_start": float(np.median(start_tre)), "metric": result.metric,
           "dice": dice_in_view(moved, labels1.array, covered)}
    if anchor:
        t, s = anchor_registration(x1, x2, anchor_percent)
        a_tre = target_registration_error(t, truth, pts)
        a_moved = transfer_labels(labels2, x1.geometry, t).array
        row["anchor"] = {"seconds": s, "tre_median": float(np.median(a_tre)),
                         "tre_p95": float(np.percentile(a_tre, 95)),
                         "dice": dice_in_view(a_moved, labels1.array, covered)}
    return row


FULL_SHAPE = (1443, 632, 564)


def full_size_pair(folder: Path) -> Path:
    """``folder``'s x1, x2 and masksX2 padded at the end with zeros to :data:`FULL_SHAPE`."""
    out = folder.parent / f"{folder.name}_full"
    if (out / "masksX2.mha").exists():
        return out
    for name in ("x1", "x2", "masksX2"):
        vol = read_volume(folder / f"{name}.mha")
        pad = [(0, max(0, n - s)) for n, s in zip(FULL_SHAPE, vol.shape, strict=True)]
        padded = np.pad(vol.array, pad)
        write_volume(Volume(padded, vol.spacing, vol.origin, vol.direction), out / f"{name}.mha")
        del vol
    return out


def peak_memory(folder: Path, resampled: bool = False) -> float:
    """Peak resident memory (GB) of one ``leg3dus register`` process with labels (and
    ``--resampled``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        cmd = [sys.executable, "-m", "leg3dus", "register", str(folder / "x1.mha"),
               str(folder / "x2.mha"), "-o", str(out / "x2.tfm"),
               "--labels", str(folder / "masksX2.mha"), "--labels-out", str(out / "m.mha"),
               "--quiet"] + (["--resampled", str(out / "x2_on_x1.mha")] if resampled else [])
        proc = subprocess.Popen(cmd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"register exited {proc.returncode}")
    return usage.ru_maxrss * 1024 / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=5, help="phantom subjects (default 5)")
    ap.add_argument("--spacing", type=float, default=0.277, help="voxel size mm (0.277)")
    ap.add_argument("--seed", type=int, default=0, help="cohort and pose seed")
    ap.add_argument("--points", type=int, default=200_000, help="surface points for TRE")
    ap.add_argument("--no-anchor", action="store_true", help="skip the SimpleITK anchor")
    ap.add_argument("--anchor-percent", type=float, default=0.1,
                    help="anchor's random samples, percent of the voxels (0.1)")
    ap.add_argument("--data", type=Path, default=DATA, help="where rendered pairs are kept")
    ap.add_argument("--memory", action="store_true",
                    help="measure the peak memory of 'leg3dus register' with labels instead")
    args = ap.parse_args()
    if args.memory:
        folder = full_size_pair(make_pair(0, args.spacing, args.seed, args.data))
        shape = read_volume(folder / "x1.mha").shape
        for resampled in (False, True):
            gb = peak_memory(folder, resampled)
            what = "labels and --resampled" if resampled else "labels"
            print(f"register with {what}, {folder.name} ({' x '.join(map(str, shape))} "
                  f"voxels z, y, x): peak memory {gb:.2f} GB", flush=True)
        return
    rows = []
    for i in range(args.subjects):
        t0 = time.perf_counter()
        folder = make_pair(i, args.spacing, args.seed, args.data)
        made = time.perf_counter() - t0
        row = evaluate(folder, args.points, args.seed, anchor=(i == 0 and not args.no_anchor),
                       anchor_percent=args.anchor_percent)
        rows.append(row)
        d = row["dice"]
        print(f"{row['subject']}: shape {row['shape']}, TRE median {row['tre_median']:.3f} mm "
              f"(95th {row['tre_p95']:.3f}, before {row['tre_start']:.2f}), Dice SOL "
              f"{d['SOL']:.4f} GM {d['GM']:.4f} GL {d['GL']:.4f}, registration "
              f"{row['seconds']:.1f} s (pair ready in {made:.0f} s)", flush=True)
        if "anchor" in row:
            a = row["anchor"]
            print(f"  anchor (SimpleITK single resolution): TRE median {a['tre_median']:.3f} "
                  f"mm (95th {a['tre_p95']:.3f}), Dice SOL {a['dice']['SOL']:.4f} GM "
                  f"{a['dice']['GM']:.4f} GL {a['dice']['GL']:.4f}, {a['seconds']:.1f} s; "
                  f"leg3dus is {a['seconds'] / row['seconds']:.1f}x faster", flush=True)
    print("\n| subject | TRE median mm | TRE 95th mm | Dice SOL | Dice GM | Dice GL | time s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        d = r["dice"]
        print(f"| {r['subject'].split('_')[0]} | {r['tre_median']:.3f} | {r['tre_p95']:.3f} | "
              f"{d['SOL']:.4f} | {d['GM']:.4f} | {d['GL']:.4f} | {r['seconds']:.1f} |")
    med = np.median([r["tre_median"] for r in rows])
    dmin = min(min(r["dice"].values()) for r in rows)
    print(f"\nmedian TRE over subjects {med:.3f} mm; lowest Dice {dmin:.4f}")


if __name__ == "__main__":
    main()
