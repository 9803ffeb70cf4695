"""Benchmark of `leg3dus export --to ome-zarr` on a full-size subject: time and peak memory.

Makes one full-size subject (1443 x 632 x 564 uint8 (z, y, x), 0.277 mm; muscle-shaped
labels 0/100/150/200 and a speckled image, compressed .mha as released; the generator of
bench_dataset.py), then, each in a fresh process so that peak memory (maximum resident
set size) is its own:

- leg3dus: `leg3dus export DATA OUT --to ome-zarr` end to end (image and labels read,
  pyramid of both, NGFF labels group), the target being a peak below 1 GB;
- the anchor: ome-zarr-py's ``write_image`` and ``write_labels`` with their default
  pyramid, given the two volumes read with SimpleITK (skipped when ome-zarr-py is not
  installed).

Both outputs are checked with ome-zarr-models (the result is printed beside the levels).

Run: python benchmarks/bench_export_zarr.py [--shape 1443 632 564] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_dataset import FULL_SHAPE, MAKE, SPACING

ANCHOR = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import SimpleITK as sitk
import zarr
from ome_zarr.scale import Scaler
from ome_zarr.writer import write_image, write_labels
folder, out = sys.argv[1], sys.argv[2]
image = sitk.GetArrayFromImage(sitk.ReadImage(f"{folder}/x1.mha"))
group = zarr.open_group(out, mode="w", zarr_format=3)
write_image(image, group, axes="zyx", scaler=Scaler())
del image
labels = sitk.GetArrayFromImage(sitk.ReadImage(f"{folder}/masksX1.mha"))
write_labels(labels, group, name="muscles", axes="zyx", scaler=Scaler())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"wall_s": time.perf_counter() - t0, "peak_mb": peak}))
"""

OURS = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from leg3dus.apps.cli import app
try:
    app(sys.argv[1:])
except SystemExit as e:
    rc = e.code or 0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"wall_s": time.perf_counter() - t0, "peak_mb": peak, "rc": rc}))
"""

CHECK = r"""
import json, sys, zarr
from ome_zarr_models.v05 import Image
group = zarr.open_group(sys.argv[1], mode="r")
ms = group.attrs["ome"]["multiscales"][0]
levels = [list(group[d["path"]].shape) for d in ms["datasets"]]
try:
    image = Image.from_zarr(group)
    valid = f"valid, labels {image.labels.label_paths}"
except Exception as exc:  # the anchor's output may not validate
    valid = "NOT valid: " + " ".join(str(exc).split())[:160]
print(json.dumps({"levels": levels, "valid": valid}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _has(module: str) -> bool:
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
    return probe.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=FULL_SHAPE,
                        metavar=("Z", "Y", "X"), help="grid of the subject (z, y, x)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder for the made subject (kept; default: a temporary one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_export_zarr_"))
    data = args.data or work / "data"
    folder = data / "train" / "S01"
    if not (folder / "masksX1.mha").exists():
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", MAKE, str(data), "S01", "0",
                        *map(str, args.shape), str(SPACING)], check=True)
        print(f"made S01 {tuple(args.shape)} in {time.perf_counter() - t:.1f} s", flush=True)
    try:
        out = work / "ours"
        ours = _run(OURS, "export", str(data), str(out), "--to", "ome-zarr", "--quiet")
        if ours["rc"] != 0:
            raise SystemExit(f"leg3dus export failed with exit code {ours['rc']}")
        check = _run(CHECK, str(out / "train" / "S01.ome.zarr"))
        print(f"leg3dus levels {check['levels']}; ome-zarr-models: {check['valid']}")
        anchor = None
        if _has("ome_zarr"):
            anchor = _run(ANCHOR, str(folder), str(work / "anchor.ome.zarr"))
            check_a = _run(CHECK, str(work / "anchor.ome.zarr"))
            print(f"anchor  levels {check_a['levels']}; ome-zarr-models: {check_a['valid']}")
        print(f"\nOME-Zarr export of one subject {tuple(args.shape)} (image, labels, pyramid)")
        print(f"{'':24}{'wall s':>10}{'peak MB':>10}")
        print(f"{'leg3dus':24}{ours['wall_s']:>10.2f}{ours['peak_mb']:>10.0f}")
        if anchor is None:
            print("anchor (ome-zarr-py): not installed, skipped")
        else:
            print(f"{'ome-zarr-py anchor':24}{anchor['wall_s']:>10.2f}{anchor['peak_mb']:>10.0f}")
            print(f"ratio (anchor / leg3dus): time {anchor['wall_s'] / ours['wall_s']:.2f}x, "
                  f"peak memory {anchor['peak_mb'] / ours['peak_mb']:.2f}x")
        print(f"peak below 1 GB: {'yes' if ours['peak_mb'] < 1024 else 'NO'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
