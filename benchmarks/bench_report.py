"""Benchmark: the report's parts on one full-size subject (1443 x 632 x 564, 0.277 mm).

Times morphology, the slice figure, the 3D picture, surface-mesh export (marching cubes
at step 1 and 2 against scikit-image's marching cubes on the whole uncropped mask, the
plain way) and a whole `make_report`, with the process's peak memory. The subject is a
phantom subject written under benchmarks/_data (made once), or --data DIR.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from leg3dus import read_volume, write_volume
from leg3dus.dataset import find_subjects

DATA = Path(__file__).parent / "_data" / "report_full"


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def ensure_subject(root: Path) -> Path:
    if find_subjects(root) if root.exists() else []:
        return root
    from leg3dus.phantom import cohort_params, make_subject

    image, labels = make_subject(cohort_params(1)[0], spacing=0.277)
    write_volume(image, root / "train" / "P001" / "x1.mha")
    write_volume(labels, root / "train" / "P001" / "masksX1.mha")
    return root


def timed(label, fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    print(f"{label:48s}{time.perf_counter() - t:9.2f} s   peak {peak_gb():5.2f} GB")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a tree with one full-size subject")
    args = parser.parse_args(argv)
    root = args.data or ensure_subject(DATA)
    subject = find_subjects(root)[0]
    from skimage.measure import marching_cubes

    from leg3dus.morphology import measure
    from leg3dus.report import label_meshes, make_report, render_meshes, slice_figure
    from leg3dus.report.figures import png_bytes

    image = timed("read image", read_volume, subject.image)
    labels = timed("read labels", read_volume, subject.label)
    print(f"grid {labels.shape} at {labels.spacing} mm")
    timed("morphology (leg3dus.morphology.measure)", measure, labels)
    def slices(img, lab):
        return png_bytes(slice_figure(img, lab.array, lab.spacing))

    def picture(lab, step):
        small = lab.array[::step, ::step, ::step]
        return png_bytes(render_meshes(label_meshes(
            small, tuple(s * step for s in lab.spacing), physical=False, smooth_sigma=1.0)))

    timed("slice figure + PNG", slices, image.array, labels)
    del image
    step = int(np.ceil(max(labels.shape) / 160))
    timed(f"3D picture (meshes at 1/{step}) + PNG", picture, labels, step)
    for s in (2, 1):
        meshes = timed(f"meshes of 3 muscles, step {s} (leg3dus, cropped)", label_meshes,
                       labels.array, labels.spacing, step_size=s)
        print(f"{'':48s}{sum(len(m.faces) for m in meshes):9d} faces")
    timed("meshes of 3 muscles, step 1 (skimage, whole grid)", lambda: [
        marching_cubes((labels.array == v).astype(np.float32), 0.5) for v in (100, 150, 200)])
    with tempfile.TemporaryDirectory() as tmp:
        timed("make_report (1 subject, 3 meshes exported)", make_report, root,
              Path(tmp) / "report.html", meshes_dir=Path(tmp) / "meshes", mesh_step=2)


if __name__ == "__main__":
    main()
