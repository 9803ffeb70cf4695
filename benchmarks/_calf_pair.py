"""A full-size synthetic pair of calf-muscle label volumes for the metrics benchmark.

Three smooth blobs the size of the triceps surae, built slice by slice (no float64 full
volume): the soleus deep, the two gastrocnemius heads superficial to it, medial and
lateral, touching the soleus along an aponeurosis and each other along a septum. The
prediction is the same anatomy with a shifted centre and a boundary perturbed by smooth
low-frequency noise (a few voxels), as a good network's output would be.
"""

from __future__ import annotations

import numpy as np

SHAPE = (1443, 632, 564)
SPACING = (0.277, 0.277, 0.277)


def _smooth_noise(rng, n, knots, amplitude):
    """A smooth random curve of ``n`` samples (cubic interpolation of ``knots`` values)."""
    from scipy.interpolate import CubicSpline

    t = np.linspace(0, 1, knots)
    return CubicSpline(t, rng.normal(0, amplitude, knots))(np.linspace(0, 1, n))


def calf_labels(shape=SHAPE, spacing=SPACING, seed=0, shift_mm=(0.0, 0.0, 0.0),
                wobble_mm=0.0, image=False):
    """Labels 0/100/150/200 (uint8, (z, y, x)) of a synthetic calf, and optionally a
    uint8 B-mode-like image where muscle borders are bright only on part of them.

    ``shift_mm`` moves every muscle; ``wobble_mm`` perturbs each boundary with smooth noise
    along the leg and around the section (0 for the truth).
    """
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    sz, sy, sx = spacing
    labels = np.zeros(shape, np.uint8)
    img = np.zeros(shape, np.uint8) if image else None
    y = (np.arange(ny, dtype=np.float32) * sy)[:, None]
    x = (np.arange(nx, dtype=np.float32) * sx)[None, :]
    theta = np.arctan2(y - ny * sy / 2, x - nx * sx / 2)
    zz = np.linspace(0, 1, nz)
    # Per muscle: centre (y, x) mm, radii (y, x) mm, extent along z (fractions).
    muscles = [(100, (80.0, 78.0), (17.0, 34.0), (0.05, 0.97)),
               (150, (54.0, 62.0), (11.0, 22.0), (0.0, 0.62)),
               (200, (56.0, 96.0), (9.0, 16.0), (0.02, 0.55))]
    waves = {v: [_smooth_noise(rng, nz, 12, wobble_mm) for _ in range(4)] for v, *_ in muscles}
    if image:
        tile = np.random.default_rng(seed + 1000).gamma(2.0, 20.0, (16, ny, nx))
        tile = tile.astype(np.float32) / 40.0
    for k in range(nz):
        sl = np.zeros((ny, nx), np.uint8)
        for value, (cy, cx), (ry, rx), (z0, z1) in muscles:
            if not z0 <= zz[k] <= z1:
                continue
            f = np.sin(np.pi * (zz[k] - z0) / (z1 - z0)) ** 0.6
            w = waves[value]
            ys = slice(max(0, int((cy - 1.6 * ry) / sy)), min(ny, int((cy + 1.6 * ry) / sy) + 2))
            xs = slice(max(0, int((cx - 1.6 * rx) / sx)), min(nx, int((cx + 1.6 * rx) / sx) + 2))
            th = theta[ys, xs]
            r = 1.0 + (w[0][k] + w[1][k] * np.cos(3 * th) + w[2][k] * np.sin(2 * th)) / 40
            d = ((y[ys] - cy - shift_mm[1] - w[3][k]) / (ry * f + 1e-3)) ** 2 + \
                ((x[:, xs] - cx - shift_mm[2]) / (rx * f + 1e-3)) ** 2
            win = sl[ys, xs]
            win[(d <= r * r) & (win == 0)] = value
        labels[k] = sl
        if img is not None:
            speckle = np.roll(tile[k % 16], k // 16, axis=1)
            tissue = np.where(sl > 0, 70.0, 40.0).astype(np.float32)
            # Bright aponeuroses: the borders of superficial muscles are visible only
            # on their upper half (as a real probe sees them), deep borders are not.
            edge = (sl != np.roll(sl, 1, 0)) & (y < ny * sy / 2)
            tissue[edge | np.roll(edge, 1, 0)] = 200.0
            img[k] = np.clip(tissue * speckle, 0, 255).astype(np.uint8)
    if shift_mm[0]:
        labels = np.roll(labels, int(round(shift_mm[0] / sz)), axis=0)
    return (labels, img) if image else labels


def calf_pair(shape=SHAPE, spacing=SPACING, seed=0, image=False):
    """(prediction, truth[, image]) labels of one synthetic subject."""
    truth = calf_labels(shape, spacing, seed, image=image)
    if image:
        truth, img = truth
    pred = calf_labels(shape, spacing, seed, shift_mm=(0.6, 0.4, -0.3), wobble_mm=1.2)
    return (pred, truth, img) if image else (pred, truth)
