"""Benchmark: muscle morphology of one full-size label volume.

leg3dus.morphology.measure (chunked per-slice counts and centroids) against the plain
scipy way (per muscle a full boolean mask, then scipy.ndimage.center_of_mass and a sum
for every slice), on three ellipsoids of known volume on the dataset's grid
(1443 x 632 x 564 at 0.277 mm), or on a label file given with --labels. Prints both
timings, the ratio, the peak extra memory of each, and the volumes against the analytic
ones.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from scipy import ndimage

from leg3dus import read_volume
from leg3dus.core import labels as lab
from leg3dus.morphology import measure

SHAPE = (1443, 632, 564)
SPACING = (0.277, 0.277, 0.277)
# (value, centre mm, semi-axes mm) in (z, y, x): sizes of real triceps surae muscles.
ELLIPSOIDS = ((100, (230.0, 85.0, 78.0), (140.0, 22.0, 45.0)),
              (150, (120.0, 40.0, 50.0), (95.0, 14.0, 30.0)),
              (200, (110.0, 42.0, 108.0), (80.0, 11.0, 22.0)))


def phantom_labels(shape=SHAPE, spacing=SPACING) -> np.ndarray:
    """Three disjoint ellipsoids on the full grid (uint8), built slab by slab."""
    labels = np.zeros(shape, np.uint8)
    y = (np.arange(shape[1]) * spacing[1])[:, None]
    x = (np.arange(shape[2]) * spacing[2])[None, :]
    for k in range(shape[0]):
        z = k * spacing[0]
        for value, (cz, cy, cx), (az, ay, ax) in ELLIPSOIDS:
            rz = ((z - cz) / az) ** 2
            if rz > 1:
                continue
            inside = ((y - cy) / ay) ** 2 + ((x - cx) / ax) ** 2 <= 1 - rz
            labels[k][inside & (labels[k] == 0)] = value
    return labels


def scipy_morphology(labels: np.ndarray, spacing) -> dict:
    """The anchor: full masks, per-slice sums and scipy centres of mass."""
    out = {}
    area = spacing[1] * spacing[2] / 100.0
    for m in lab.MUSCLES:
        mask = labels == m.value
        counts = mask.sum(axis=(1, 2))
        rows = np.flatnonzero(counts)
        centroids = ndimage.center_of_mass(mask, labels=None) if rows.size else None
        per_slice = [ndimage.center_of_mass(mask[k]) for k in rows]
        out[m.name] = {"volume_cm3": counts.sum() * np.prod(spacing) / 1000.0,
                       "max_csa_cm2": counts.max() * area, "centroid": centroids,
                       "path": per_slice}
    return out


def timed(fn, *args, **kwargs):
    tracemalloc.start()
    t = time.perf_counter()
    value = fn(*args, **kwargs)
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, seconds, peak / 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", help="a label volume to measure instead of the ellipsoids")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each; best is kept")
    args = parser.parse_args(argv)
    if args.labels:
        vol = read_volume(args.labels)
        labels, spacing = vol.array, vol.spacing
    else:
        labels, spacing = phantom_labels(), SPACING
    print(f"labels {labels.shape} at {spacing} mm ({labels.nbytes / 1e9:.2f} GB)")
    ours = min((timed(measure, labels, spacing) for _ in range(args.repeat)),
               key=lambda r: r[1])
    anchor = min((timed(scipy_morphology, labels, spacing) for _ in range(args.repeat)),
                 key=lambda r: r[1])
    print(f"{'':10s}{'seconds':>10s}{'peak extra MB':>16s}")
    print(f"{'leg3dus':10s}{ours[1]:10.2f}{ours[2]:16.0f}")
    print(f"{'scipy':10s}{anchor[1]:10.2f}{anchor[2]:16.0f}")
    print(f"ratio (scipy / leg3dus): {anchor[1] / ours[1]:.1f}x faster, "
          f"{anchor[2] / max(ours[2], 1e-9):.0f}x less memory")
    for m in lab.MUSCLES:
        mine, theirs = ours[0].muscles[m.name], anchor[0][m.name]
        line = (f"{m.name}: volume {mine.volume_cm3:.2f} cm3 (scipy {theirs['volume_cm3']:.2f}), "
                f"max CSA {mine.max_csa_cm2:.2f} cm2, length {mine.length_mm:.1f} mm")
        if not args.labels:
            value, _, (az, ay, ax) = next(e for e in ELLIPSOIDS if e[0] == m.value)
            line += (f"; analytic volume {4 / 3 * np.pi * az * ay * ax / 1000:.2f} cm3, "
                     f"CSA {np.pi * ay * ax / 100:.2f} cm2, length {2 * az:.1f} mm")
        print(line)


if __name__ == "__main__":
    main()
