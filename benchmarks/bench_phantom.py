"""Benchmark of the synthetic calf phantom (leg3dus.phantom).

Times one subject at full size (0.277 mm, ~564 x 632 x 1443 voxels): generating the
B-mode volume and labels and writing both .mha files, with the peak memory of the
process. Anchors from the same run:

* I/O floor: writing and reading back the same two volumes with SimpleITK alone (the
  phantom cannot be faster than writing its output);
* a straightforward NumPy/SciPy implementation of the same image formation (NumPy
  Gaussian scatterers, cumulative attenuation, ``scipy.ndimage.gaussian_filter`` PSF
  and compounding blur, ``np.log10``), run on the same tissue grid at ``--anchor-spacing``
  (1 mm by default: at full size it would need over 10 GB), against leg3dus at that
  spacing.

Example: python benchmarks/bench_phantom.py --spacing 0.277
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def numpy_reference(tissue: np.ndarray, spacing: float, seed: int) -> np.ndarray:
    """The phantom's image formation written plainly with NumPy and SciPy."""
    from scipy import ndimage

    from leg3dus.phantom import Probe
    from leg3dus.phantom import tissue as T

    probe = Probe()
    f = probe.frequency_mhz
    rng = np.random.default_rng(seed)
    echo = T.echo_lut()[tissue]
    att_db = 2 * T.attenuation_lut()[tissue] * f * spacing / 10.0
    att_db = np.cumsum(att_db, axis=1) - 0.5 * att_db
    inside = np.cumsum(tissue != T.GEL, axis=1) > 0
    depth_cm = np.cumsum(inside, axis=1) * spacing / 10.0
    gain_db = 2 * probe.tgc_db_cm_mhz * f * depth_cm
    noise = 10 ** (probe.noise_db / 20)
    amp = np.where(inside, 10 ** (gain_db / 20) * np.sqrt((echo * 10 ** (-att_db / 20)) ** 2
                                                           + noise**2), 0).astype(np.float32)
    field = (rng.standard_normal(tissue.shape, np.float32)
             + 1j * rng.standard_normal(tissue.shape, np.float32)) * amp * np.sqrt(0.5)
    sig = np.array([probe.elevation_sigma_mm, probe.axial_sigma_mm, probe.lateral_sigma_mm])
    sig = sig / spacing
    norm = np.sqrt(np.prod(2 * np.sqrt(np.pi) * np.maximum(sig, 0.2)))  # unit-energy PSF
    env = np.abs(ndimage.gaussian_filter(field.real, sig) + 1j
                 * ndimage.gaussian_filter(field.imag, sig)) * norm
    grey = 100 + 255 / probe.dynamic_range_db * (20 * np.log10(np.maximum(env, 1e-12))
                                                 + probe.gain_db)
    grey = ndimage.gaussian_filter(np.clip(grey, 0, 255), probe.compounding_mm / spacing)
    top = np.argmax(inside.any(axis=2), axis=1)
    limit = top[:, None, None] + probe.max_depth_mm / spacing
    grey[np.broadcast_to(np.arange(tissue.shape[1])[None, :, None] >= limit, grey.shape)] = 0
    return np.round(grey).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spacing", type=float, default=0.277, help="mm (0.277 = full size)")
    parser.add_argument("--subject", type=int, default=0, help="subject index of the cohort")
    parser.add_argument("--seed", type=int, default=0, help="cohort seed")
    parser.add_argument("--anchor-spacing", type=float, default=1.0,
                        help="spacing of the NumPy/SciPy comparison (mm)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the written files (default: a temporary folder)")
    args = parser.parse_args()

    import SimpleITK as sitk

    from leg3dus import write_volume
    from leg3dus.core.labels import muscle_volumes_cm3
    from leg3dus.phantom import Anatomy, make_subject, speckle_seed, subject_params

    params = subject_params(args.subject, args.seed)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench_phantom_"))
    out.mkdir(parents=True, exist_ok=True)
    # Compile the kernels on a tiny grid so the timings below are of the work alone.
    make_subject(params.replace(leg_length_mm=160.0), spacing=4.0)

    t0 = time.perf_counter()
    image, labels = make_subject(params, spacing=args.spacing)
    t_gen = time.perf_counter() - t0
    write_volume(labels, out / "masksX1.mha", compression_level=1)
    write_volume(image, out / "x1.mha", compression_level=1)
    t_total = time.perf_counter() - t0
    peak = _peak_gb()
    print(f"subject {params.id} shape (z,y,x) {image.shape} spacing {args.spacing} mm, "
          f"{image.array.nbytes / 1e9:.2f} GB per volume")
    print(f"leg3dus phantom: generate {t_gen:.1f} s + write {t_total - t_gen:.1f} s = "
          f"{t_total:.1f} s, peak memory {peak:.2f} GB")
    true = Anatomy(params).true_volumes_cm3()
    counted = muscle_volumes_cm3(labels.array, labels.spacing)
    print("muscle volumes, voxels vs continuous model: " + ", ".join(
        f"{m} {counted[m]:.1f} vs {true[m]:.1f} cm3 ({100 * (counted[m] / true[m] - 1):+.2f}%)"
        for m in ("SOL", "GM", "GL")))

    t0 = time.perf_counter()
    for name, vol in (("a.mha", image), ("b.mha", labels)):
        sitk.WriteImage(vol.to_sitk(), str(out / name), True, 1)
        sitk.ReadImage(str(out / name))
    t_io = time.perf_counter() - t0
    print(f"anchor SimpleITK write+read of both volumes: {t_io:.1f} s  "
          f"(leg3dus / anchor = {t_total / t_io:.2f})")
    del image, labels

    sp = args.anchor_spacing
    t0 = time.perf_counter()
    small, _ = make_subject(params, spacing=sp)  # anatomy included
    t_small = time.perf_counter() - t0
    tissue = Anatomy(params).tissue_grid(sp)
    t0 = time.perf_counter()
    ref = numpy_reference(tissue, sp, speckle_seed(params))
    t_ref = time.perf_counter() - t0
    print(f"at {sp} mm {small.shape}: leg3dus anatomy+image+labels {t_small:.2f} s; "
          f"NumPy/SciPy image only (tissue grid given) {t_ref:.2f} s  "
          f"(NumPy / leg3dus = {t_ref / t_small:.1f}x); mean grey {small.array.mean():.1f} "
          f"vs {ref.mean():.1f}")
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
