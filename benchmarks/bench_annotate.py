"""Speed and memory of `leg3dus annotate` on a full-size subject.

Two steps of the annotation loop are timed in a napari viewer, each beside its anchor
from the same run:

- open: a subject folder (x1.mha, masksX1.mha) to image and labels layers in mm
  (leg3dus.apps.napari.viewer.open_annotation), against the plain way (SimpleITK's
  ReadImage + GetArrayFromImage, then add_image / add_labels);
- propagate: sdf from every N-th slice, from the widget's click to the "propagated"
  layer (background worker included), against leg3dus.propagate on the same array.

Memory: peak RSS added by each step over the RSS before it, as a multiple of the image's
size (uint8: 0.5 GB at full size). The phantom subject is written by a child process,
so its making does not count. Needs a display (or Xvfb):

    xvfb-run -a python benchmarks/bench_annotate.py             # full size, 0.277 mm
    xvfb-run -a python benchmarks/bench_annotate.py --spacing 1  # a quick small run
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _current_rss_gb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 1e9


def _write_phantom(folder: Path, spacing: float, subject: int) -> None:
    from leg3dus import write_volume
    from leg3dus.phantom import cohort_params, make_subject

    image, labels = make_subject(cohort_params(subject + 1)[subject], spacing=spacing)
    write_volume(image, folder / "x1.mha")
    write_volume(labels, folder / "masksX1.mha")


def _settle(app, until, timeout_s=600.0) -> None:
    end = time.perf_counter() + timeout_s
    while not until() and time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.005)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subject-folder", type=Path,
                    help="a subject folder with x1.mha and masksX1.mha (default: phantom)")
    ap.add_argument("--subject", type=int, default=0, help="phantom subject index (0)")
    ap.add_argument("--spacing", type=float, default=0.277, help="phantom spacing in mm")
    ap.add_argument("--every", type=int, default=20, help="annotate every N slices (20)")
    ap.add_argument("--write-phantom", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.write_phantom:
        _write_phantom(args.write_phantom, args.spacing, args.subject)
        return 0

    folder = args.subject_folder
    if folder is None:
        folder = Path(tempfile.mkdtemp()) / "S"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--write-phantom", str(folder), "--spacing",
                        str(args.spacing), "--subject", str(args.subject)], check=True)
        print(f"phantom subject {args.subject} at {args.spacing} mm written in "
              f"{time.perf_counter() - t0:.1f} s (child process)")

    import napari
    import SimpleITK as sitk
    from qtpy.QtWidgets import QApplication

    from leg3dus.apps.napari.viewer import open_annotation
    from leg3dus.phantom.annotations import sparse_annotations
    from leg3dus.propagate import propagate

    viewer = napari.Viewer(show=False)
    app = QApplication.instance()

    # anchor: the plain way, a copy out of SimpleITK and no geometry
    t0 = time.perf_counter()
    a_img = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "x1.mha")))
    a_lab = sitk.GetArrayFromImage(sitk.ReadImage(str(folder / "masksX1.mha")))
    viewer.add_image(a_img)
    viewer.add_labels(a_lab)
    app.processEvents()
    t_anchor_open = time.perf_counter() - t0
    viewer.layers.clear()
    del a_img, a_lab
    app.processEvents()

    base = _current_rss_gb()
    t0 = time.perf_counter()
    widget = open_annotation(viewer, folder)
    app.processEvents()
    t_open = time.perf_counter() - t0
    image = widget.layer("image").data
    size_gb = image.nbytes / 1e9
    open_gb = _rss_gb() - base
    read_gb = size_gb + widget.layer("labels").data.nbytes / 1e9
    print(f"subject: shape {image.shape} (z, y, x), {image.dtype}, {size_gb:.2f} GB")

    labels = widget.layer("labels")
    geometry = widget.geometry()
    sparse, idx = sparse_annotations(labels.data, every=args.every, spacing=geometry.spacing)
    layer = widget.sparse_layer()
    layer.data[...] = sparse
    del sparse
    widget._set_annotated(idx)
    app.processEvents()

    t0 = time.perf_counter()
    expected = propagate(layer.data, "sdf", spacing=geometry.spacing, annotated=idx)
    t_anchor_prop = time.perf_counter() - t0
    del expected

    base = _current_rss_gb()
    t0 = time.perf_counter()
    widget.propagate()
    _settle(app, lambda: widget.worker is None and widget.layer("propagated") is not None)
    t_prop = time.perf_counter() - t0
    prop_gb = _rss_gb() - base
    if widget.layer("propagated") is None:
        print("propagation failed:", widget.messages[-1:])
        return 1

    print(f"annotated: every {args.every} slices, {len(idx)} slices")
    print(f"{'step':<34}{'leg3dus':>10}{'anchor':>10}{'ratio':>8}  memory added")
    print(f"{'open subject (image + labels)':<34}{t_open:>9.2f}s{t_anchor_open:>9.2f}s"
          f"{t_anchor_open / t_open:>7.2f}x  {open_gb:.2f} GB = {open_gb / size_gb:.2f}x volume")
    print(f"{'sdf propagation, click to layer':<34}{t_prop:>9.2f}s{t_anchor_prop:>9.2f}s"
          f"{t_anchor_prop / t_prop:>7.2f}x  {prop_gb:.2f} GB = {prop_gb / size_gb:.2f}x volume")
    print(f"open: {open_gb:.2f} GB added for {read_gb:.2f} GB of image and labels read "
          f"({open_gb / read_gb:.2f}x)")
    print("anchors: SimpleITK read + GetArrayFromImage + add_image/add_labels (no geometry); "
          "leg3dus.propagate called directly")
    print(f"peak RSS of the process: {_rss_gb():.2f} GB")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
