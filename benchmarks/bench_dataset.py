"""Benchmark of `leg3dus info` and `leg3dus validate` on full-size LEG-3D-US pairs.

Makes a tree of full-size subjects (1443 x 632 x 564 uint8 (z, y, x), 0.277 mm; smooth
muscle-shaped labels 0/100/150/200 with a few stray voxels, a speckled image; both
compressed .mha as released), then times, each in a fresh process so that peak memory
(maximum resident set size) is its own:

- leg3dus: ``describe_subject`` (what `info` does per subject) and ``check_subject``
  (what `validate` does per subject), and the two commands end to end;
- the anchor: plain SimpleITK ``ReadImage`` + ``numpy.unique(return_counts=True)`` of the
  label file (info's work done the obvious way), and of both files (validate's).

Run: python benchmarks/bench_dataset.py [--subjects 2] [--data benchmarks/_data/dataset]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

FULL_SHAPE = (1443, 632, 564)
SPACING = 0.277

MAKE = r"""
import sys
import numpy as np
from leg3dus import Volume, write_volume
root, sid, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
z, y, x = map(int, sys.argv[4:7])
spacing = float(sys.argv[7])
rng = np.random.default_rng(seed)
labels = np.zeros((z, y, x), np.uint8)
image = np.empty((z, y, x), np.uint8)
yy, xx = np.mgrid[0:y, 0:x].astype(np.float32)
# (value, centre y, centre x, radius y, radius x) as fractions of the grid, at mid-leg
muscles = [(100, 0.62, 0.50, 0.22, 0.42), (150, 0.30, 0.30, 0.14, 0.22),
           (200, 0.30, 0.72, 0.12, 0.18)]
jitter = rng.uniform(-0.03, 0.03, (3, 2))
for k in range(z):
    t = k / max(z - 1, 1)
    for i, (value, cy, cx, ry, rx) in enumerate(muscles):
        # gastrocnemii fade out towards the ankle, soleus spans most of the leg
        taper = np.sin(np.pi * min(t * (1.0 if value == 100 else 1.6), 1.0))
        if taper <= 0.05:
            continue
        wob = 0.02 * np.sin(6.0 * t + i)
        d = (((yy - (cy + jitter[i, 0] + wob) * y) / (ry * taper * y)) ** 2
             + ((xx - (cx + jitter[i, 1]) * x) / (rx * taper * x)) ** 2)
        labels[k][(d <= 1.0) & (labels[k] == 0)] = value
    speckle = rng.rayleigh(18.0, (y, x)).astype(np.float32)
    image[k] = np.clip(speckle + 30.0 * (labels[k] > 0) + 40.0 * (yy < 0.05 * y), 0, 255)
if seed % 2 == 1:  # stray values, as some released masks have
    idx = rng.integers(0, [z, y, x], (20, 3))
    labels[tuple(idx.T)] = 99
vol = dict(spacing=(spacing,) * 3, origin=(0.0, 0.0, 0.0))
write_volume(Volume(image, **vol), f"{root}/train/{sid}/x1.mha")
write_volume(Volume(labels, **vol), f"{root}/train/{sid}/masksX1.mha")
"""

MEASURE = r"""
import json, resource, sys, time
kind, root = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if kind.startswith("anchor"):
    import numpy as np
    import SimpleITK as sitk
    from pathlib import Path
    subjects = sorted(p for p in Path(root).glob("*/*") if p.is_dir())
    import_s = time.perf_counter() - t0
    times = []
    for folder in subjects:
        t = time.perf_counter()
        names = ["masksX1.mha"] + (["x1.mha"] if kind == "anchor-validate" else [])
        for name in names:
            image = sitk.ReadImage(str(folder / name))
            array = sitk.GetArrayFromImage(image)
            values, counts = np.unique(array, return_counts=True)
            del image, array
        times.append(time.perf_counter() - t)
else:
    import functools
    from leg3dus.dataset import find_subjects
    from leg3dus.dataset.info import describe_subject
    from leg3dus.dataset.validate import CheckOptions, check_subject
    import numpy as np
    from leg3dus.core import labels
    # one-time per process: numba import and loading its cached machine code
    labels.clean_stray(np.full((1, 1, 2), 7, np.uint8))
    labels.value_counts(np.zeros((1, 1, 1), np.uint8))
    subjects = find_subjects(root)
    fn = describe_subject if kind == "info" else functools.partial(
        check_subject, options=CheckOptions())
    import_s = time.perf_counter() - t0
    times = []
    for s in subjects:
        t = time.perf_counter()
        fn(s)
        times.append(time.perf_counter() - t)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"times": times, "peak_mb": peak, "import_s": import_s}))
"""


def make_tree(root: Path, n: int, shape: tuple[int, int, int]) -> None:
    for i in range(n):
        sid = f"S{i + 1:02d}"
        if (root / "train" / sid / "masksX1.mha").exists():
            continue
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", MAKE, str(root), sid, str(i), *map(str, shape),
                        str(SPACING)], check=True)
        print(f"made {sid} in {time.perf_counter() - t:.1f} s", flush=True)


def measure(kind: str, root: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", MEASURE, kind, str(root)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def command(args: list[str]) -> tuple[float, float, int]:
    """Wall time, peak memory (MB) and exit code of a `leg3dus` command in a fresh process."""
    code = ("import resource, sys, time\nfrom leg3dus.apps.cli import app\n"
            "t = time.perf_counter()\n"
            "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    rc = e.code or 0\n"
            "print('BENCH', time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, rc, file=sys.stderr)")
    err = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                         text=True).stderr
    line = next(ln for ln in err.splitlines() if ln.startswith("BENCH"))
    _, wall, peak, rc = line.split()
    return float(wall), float(peak), int(rc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=2, help="full-size subjects to make")
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "_data" / "dataset",
                        help="where the tree is made (reused when present)")
    parser.add_argument("--shape", type=int, nargs=3, default=FULL_SHAPE,
                        metavar=("Z", "Y", "X"), help="grid (z, y, x); default full size")
    args = parser.parse_args()
    make_tree(args.data, args.subjects, tuple(args.shape))
    n = args.subjects
    print(f"\n{n} subjects of {' x '.join(map(str, args.shape))} uint8 (z, y, x), "
          "compressed .mha\n")
    print(f"{'per subject':<34}{'leg3dus s':>10}{'anchor s':>10}{'ratio':>8}"
          f"{'leg3dus MB':>12}{'anchor MB':>11}")
    for kind, anchor_kind, what in (("info", "anchor-info", "info (labels read + counted)"),
                                    ("validate", "anchor-validate", "validate (checks)")):
        ours, anchor = measure(kind, args.data), measure(anchor_kind, args.data)
        t_ours, t_anchor = sum(ours["times"]) / n, sum(anchor["times"]) / n
        print(f"{what:<34}{t_ours:>10.2f}{t_anchor:>10.2f}{t_anchor / t_ours:>7.1f}x"
              f"{ours['peak_mb']:>12.0f}{anchor['peak_mb']:>11.0f}")
        print(f"{'':<4}leg3dus one-time imports + kernel load {ours['import_s']:.2f} s; "
              f"per-subject s: {', '.join(f'{t:.2f}' for t in ours['times'])}")
    print("\nend to end (fresh process, imports included)")
    for cmd in (["info", str(args.data), "--json", "-q"],
                ["validate", str(args.data), "--json", "-q"]):
        wall, peak, rc = command(cmd)
        print(f"  leg3dus {cmd[0]:<9} {wall:6.2f} s total, {wall / n:5.2f} s per subject, "
              f"peak {peak:5.0f} MB, exit {rc}")
    # export of the one subject without stray values (S01), to nnU-Net
    out = args.data.parent / "export"
    wall, peak, rc = command(["export", str(args.data / "train" / "S01"), str(out),
                              "--to", "nnunet", "--overwrite", "-q"])
    print(f"  leg3dus export --to nnunet, 1 subject: {wall:6.2f} s, peak {peak:5.0f} MB, "
          f"exit {rc}")


if __name__ == "__main__":
    main()
