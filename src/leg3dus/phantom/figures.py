"""Figures of synthetic subjects: a transverse and a longitudinal B-mode slice with the
outlines of SOL, GM and GL.

Run ``python -m leg3dus.phantom.figures OUT --subjects 2 --spacing 0.4`` to write
``OUT/phantom_<id>.png`` for the first subjects of the default cohort.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.atomic import atomic_path
from ..core.labels import MUSCLES
from .params import SubjectParams, subject_params
from .subject import make_subject


def slice_positions(labels: np.ndarray) -> tuple[int, int]:
    """A transverse slice where the three muscles show (30% of the leg) and a
    longitudinal plane between the middle of the muscles and the middle of GM there
    (indices along z and x)."""
    iz = int(0.3 * labels.shape[0])
    muscles = np.argwhere(labels[iz] > 0)
    gm = np.argwhere(labels[iz] == 150)
    if not gm.size:
        return iz, labels.shape[2] // 2
    return iz, int(round(0.5 * (np.median(muscles[:, 1]) + np.median(gm[:, 1]))))


def subject_figure(params: SubjectParams, path, spacing: float = 0.4,
                   depth_mm: float = 100.0) -> Path:
    """Write a PNG with a transverse and a longitudinal slice of one subject, rendered at
    isotropic ``spacing`` mm, the top ``depth_mm`` of the grid shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image, labels = make_subject(params, spacing=spacing)
    img, lab = image.array, labels.array
    iz, ix = slice_positions(lab)
    ny = min(img.shape[1], int(depth_mm / spacing))
    sz, sy, sx = image.spacing
    trans, trans_lab = img[iz, :ny], lab[iz, :ny]
    longi, longi_lab = img[:, :ny, ix].T, lab[:, :ny, ix].T
    width = img.shape[2] * sx
    length = img.shape[0] * sz
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), width_ratios=[width, 1.4 * length / 2.3],
                             constrained_layout=True)
    panels = ((axes[0], trans, trans_lab, (0, width, ny * sy, 0), "x (mm)",
               f"transverse, z = {iz * sz:.0f} mm"),
              (axes[1], longi, longi_lab, (0, length, ny * sy, 0), "z: knee -> ankle (mm)",
               f"longitudinal, x = {ix * sx:.0f} mm"))
    for ax, grey, lbl, extent, xlabel, title in panels:
        ax.imshow(grey, cmap="gray", vmin=0, vmax=255, extent=extent, aspect="equal",
                  interpolation="antialiased")
        ys = (np.arange(lbl.shape[0]) + 0.5) * sy
        xs = (np.arange(lbl.shape[1]) + 0.5) * (sx if ax is axes[0] else sz)
        for m in MUSCLES:
            if (lbl == m.value).any():
                ax.contour(xs, ys, (lbl == m.value).astype(float), levels=[0.5],
                           colors=[np.asarray(m.color) / 255], linewidths=0.9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("depth (mm)")
        ax.set_title(title, fontsize=10)
    handles = [plt.Line2D([], [], color=np.asarray(m.color) / 255, label=m.name)
               for m in MUSCLES]
    axes[1].legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.6)
    fig.suptitle(f"synthetic subject {params.id} ({params.sex}, {params.side} leg), "
                 f"{spacing} mm voxels", fontsize=11)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Figures of synthetic phantom subjects.")
    parser.add_argument("out", type=Path, help="folder for phantom_<id>.png")
    parser.add_argument("--subjects", type=int, default=2, help="first N subjects")
    parser.add_argument("--seed", type=int, default=0, help="cohort seed")
    parser.add_argument("--spacing", type=float, default=0.4, help="voxel size in mm")
    args = parser.parse_args(argv)
    for i in range(args.subjects):
        print(subject_figure(subject_params(i, args.seed), args.out /
                             f"phantom_{subject_params(i, args.seed).id}.png", args.spacing))


if __name__ == "__main__":
    main()
