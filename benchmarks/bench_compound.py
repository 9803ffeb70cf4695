"""Benchmark: compound a full-size subject (~3000 tracked frames of 221 x 537 px into a
564 x 632 x 1443 grid at 0.277 mm) with voxel-based nearest neighbour (vnn) and Gaussian
hole filling.

The anchor is a straightforward numpy/scipy implementation of pixel-based nearest
neighbour (each pixel to its nearest voxel, the latest frame wins) and scipy normalised
convolution. That is not vnn, so the ratio is taken against leg3dus running the same
algorithm (``method="pnn"``, nearest, compounding LATEST, Gaussian fill) on a slab of the
same input, and the two outputs are compared voxel by voxel.

With ``--device cpu|cuda`` it compounds the same input with the numba kernels and with
the torch path on that device instead (vnn, pnn nearest, pnn linear, each with the
Gaussian fill), and prints both times side by side with whether the volumes are equal;
without a CUDA device, ``--device cuda`` prints the numba figures alone.

Example: python benchmarks/bench_compound.py
         python benchmarks/bench_compound.py --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import time

import numpy as np


def make_input(frames_target: int, spacing: float, shape_zyx, seed: int):
    from leg3dus.phantom.sweeps import SweepProtocol, image_to_probe, plan_sweeps
    from leg3dus.sweep import PlusConfig, ReconParams, Sequence

    extent = tuple(n * spacing for n in shape_zyx)
    n_sweeps = 5
    proto = SweepProtocol(n_sweeps=n_sweeps,
                          frame_spacing_mm=extent[0] * n_sweeps / frames_target)
    plans = plan_sweeps(extent, proto, seed)
    poses = np.concatenate([p["recorded"] for p in plans])
    rng = np.random.default_rng(seed)
    rows, cols = proto.frame_px
    # speckle-like content: the timing does not depend on it
    base = rng.integers(0, 256, (64, rows, cols), dtype=np.uint8)
    frames = base[np.arange(poses.shape[0]) % 64]
    seq = Sequence(frames, {"ProbeToReference": poses})
    nz, ny, nx = shape_zyx
    recon = ReconParams(output_spacing=(spacing,) * 3, output_origin=(0.5 * spacing,) * 3,
                        output_extent=(0, nx - 1, 0, ny - 1, 0, nz - 1))
    return seq, PlusConfig({("Image", "Probe"): image_to_probe(proto)}, recon)


def anchor(seq, cfg, size: int, sigma: float) -> np.ndarray:
    """numpy/scipy: each pixel to its nearest voxel (last write wins), then normalised
    Gaussian convolution for the empty voxels."""
    from scipy.ndimage import gaussian_filter

    from leg3dus.sweep import image_to_reference

    p = cfg.recon
    sp = np.asarray(p.output_spacing)
    origin = np.asarray(p.output_origin)
    e = np.asarray(p.output_extent).reshape(3, 2)
    dims = e[:, 1] - e[:, 0] + 1
    m, ok = image_to_reference(seq, cfg)
    rows, cols = seq.frame_shape
    c, r = np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32))
    pix = np.stack([c.ravel(), r.ravel(), np.ones(c.size, np.float32)])
    vol = np.zeros(dims[::-1], np.uint8)
    hit = np.zeros(dims[::-1], bool)
    for i in np.flatnonzero(ok):
        a = m[i]
        xyz = (a[:3, [0, 1, 3]].astype(np.float32) @ pix - origin[:, None]) / sp[:, None]
        idx = np.rint(xyz).astype(np.int64)
        good = ((idx >= 0) & (idx < dims[:, None])).all(axis=0)
        x, y, z = idx[:, good]
        vol[z, y, x] = seq.frames[i].ravel()[good]
        hit[z, y, x] = True
    trunc = (size // 2) / sigma
    known = hit.astype(np.float32)
    num = gaussian_filter(vol.astype(np.float32) * known, sigma, truncate=trunc, mode="constant")
    den = gaussian_filter(known, sigma, truncate=trunc, mode="constant")
    fill = np.floor(num / np.maximum(den, 1e-12) + 0.5)
    return np.where(hit, vol, np.where(den > 0, fill, 0)).astype(np.uint8)


def slab(seq, cfg, z_slices: int):
    """The first ``z_slices`` slices of the grid and the frames that can reach them."""
    import dataclasses

    from leg3dus.sweep import Sequence

    p = dataclasses.replace(cfg.recon)
    e = list(p.output_extent)
    e[5] = z_slices - 1
    p.output_extent = tuple(e)
    zmax = p.output_origin[2] + z_slices * p.output_spacing[2] + 60.0
    keep = seq.transforms["ProbeToReference"][:, 2, 3] < zmax
    sub = Sequence(seq.frames[keep], {"ProbeToReference": seq.transforms["ProbeToReference"][keep]})
    return sub, dataclasses.replace(cfg, recon=p)


def sweep_quality(spacing: float, seed: int, z_range=None) -> None:
    """Whole-leg (or ``z_range`` mm) simulated sweeps (default protocol) over one phantom
    subject, compounded at ``spacing``: Dice per muscle against the phantom's labels and
    NCC against its B-mode volume, within the frames' depth."""
    from leg3dus.compound import Options, reconstruct
    from leg3dus.phantom import Anatomy, cohort_params, make_subject
    from leg3dus.phantom.sweeps import (
        SweepProtocol,
        plan_sweeps,
        render_sweep,
        sweep_config,
    )
    from leg3dus.sweep import Sequence, concat_sequences

    params = cohort_params(1, seed)[0]
    anat = Anatomy(params)
    proto = SweepProtocol()
    t = time.perf_counter()
    images, labels = [], []
    for k, plan in enumerate(plan_sweeps(anat.extent_mm, proto, seed, z_range)):
        f, lab = render_sweep(anat, plan, proto, seed=k)
        images.append(Sequence(f, {"ProbeToReference": plan["recorded"]}))
        labels.append(Sequence(lab, {"ProbeToReference": plan["recorded"]}))
    img, lab = concat_sequences(images), concat_sequences(labels)
    render = time.perf_counter() - t
    shape = anat.shape_at(spacing)
    cfg = sweep_config(proto, (0.5 * spacing,) * 3, shape, spacing)
    z0, z1 = 0, shape[0] - 1
    if z_range is not None:  # the scanned stretch, 2 mm in from its ends
        z0, z1 = int(np.ceil((z_range[0] + 2) / spacing)), int((z_range[1] - 2) / spacing)
        e = list(cfg.recon.output_extent)
        cfg.recon.output_extent = tuple(e[:4] + [z0, z1])
    opt = Options(method="vnn", fill="gaussian")
    t = time.perf_counter()
    vol = reconstruct(img, cfg, options=opt).volume.array
    seg = reconstruct(lab, cfg, options=opt, labels=True).volume.array
    comp = time.perf_counter() - t
    if z_range is None:
        ref_img, ref_lab = (v.array for v in make_subject(params, spacing))
    else:
        from leg3dus.phantom import render_bmode
        from leg3dus.phantom.subject import speckle_seed
        from leg3dus.phantom.tissue import label_lut

        tissue = anat.tissue_grid(spacing, z0, z1 + 1)
        ref_lab = label_lut()[tissue]
        ref_img = render_bmode(tissue, spacing, seed=speckle_seed(params), z_offset=z0)
    depth = int(85.0 / spacing)  # frames reach ~92 mm below the probe
    dices = {}
    for name, v in (("SOL", 100), ("GM", 150), ("GL", 200)):
        a, b = seg[:, :depth] == v, ref_lab[:, :depth] == v
        dices[name] = 2 * (a & b).sum() / (a.sum() + b.sum())
    x = vol[:, :depth].astype(np.float32)
    y = ref_img[:, :depth].astype(np.float32)
    x -= x.mean()
    y -= y.mean()
    ncc = float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))
    print(f"sweeps: {img.n_frames} frames of {img.frame_shape[1]} x {img.frame_shape[0]} px "
          f"rendered in {render:.0f} s; compounded (image + labels) at {spacing} mm in "
          f"{comp:.1f} s")
    print("Dice vs phantom labels (depth < 85 mm): "
          + ", ".join(f"{k} {v:.4f}" for k, v in dices.items()) + f"; NCC vs phantom {ncc:.3f}")


def _timed(seq, cfg, opt):
    from leg3dus.compound import reconstruct

    t = time.perf_counter()
    rec = reconstruct(seq, cfg, options=opt)
    return rec, time.perf_counter() - t


def compare_devices(seq, cfg, device: str, size: int, sigma: float) -> None:
    """numba and the torch path on ``device``: vnn, pnn nearest, pnn linear, each with
    the Gaussian fill, on the same input; times side by side, volumes compared."""
    from leg3dus.compound import Options

    have = device != "cuda"
    if not have:
        import torch

        have = torch.cuda.is_available()
    small, small_cfg = slab(seq, cfg, 8)
    cases = (("vnn", "NEAREST_NEIGHBOR"), ("pnn", "NEAREST_NEIGHBOR"), ("pnn", "LINEAR"))
    for method, interp in cases:
        recon = dataclasses.replace(cfg.recon, interpolation=interp)
        c = dataclasses.replace(cfg, recon=recon)
        sc = dataclasses.replace(small_cfg,
                                 recon=dataclasses.replace(small_cfg.recon, interpolation=interp))
        opt = Options(method=method, fill="gaussian", fill_size_vox=size, fill_sigma_vox=sigma)
        dev = dataclasses.replace(opt, device=device)
        _timed(small, sc, opt)  # compile / load the kernels
        ref, t_numba = _timed(seq, c, opt)
        name = f"{method} {'linear' if interp == 'LINEAR' else 'nearest'} + gaussian fill"
        if not have:
            print(f"{name}: numba {t_numba:.2f} s; torch {device}: no CUDA device here, "
                  "not measured")
            continue
        _timed(small, sc, dev)  # warm the device (CUDA context, kernels)
        got, t_dev = _timed(seq, c, dev)
        same = (np.array_equal(ref.volume.array, got.volume.array)
                and np.array_equal(ref.hit, got.hit))
        print(f"{name}: numba {t_numba:.2f} s, torch {device} {t_dev:.2f} s "
              f"(numba / torch {t_numba / t_dev:.2f}x); volumes equal: {'yes' if same else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=3000, help="number of frames (about)")
    ap.add_argument("--shape", type=int, nargs=3, default=(1443, 632, 564),
                    metavar=("Z", "Y", "X"), help="output grid (z, y, x) voxels")
    ap.add_argument("--spacing", type=float, default=0.277, help="output spacing (mm)")
    ap.add_argument("--size", type=int, default=5, help="Gaussian fill cube (voxels)")
    ap.add_argument("--sigma", type=float, default=1.0, help="Gaussian fill sigma (voxels)")
    ap.add_argument("--anchor-slices", type=int, default=160,
                    help="z slices of the slab both implementations run for the ratio")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=("cpu", "cuda"), default=None,
                    help="instead: numba and the torch path on this device side by side")
    ap.add_argument("--sweep-quality", action="store_true",
                    help="instead: whole-leg simulated sweeps over a phantom, compounded at "
                         "--quality-spacing; Dice per muscle and NCC against the phantom")
    ap.add_argument("--quality-spacing", type=float, default=0.5)
    ap.add_argument("--quality-z-range", type=float, nargs=2, default=None, metavar=("Z0", "Z1"),
                    help="sweep only this stretch of the leg (mm from the knee)")
    args = ap.parse_args()
    if args.sweep_quality:
        sweep_quality(args.quality_spacing, args.seed, args.quality_z_range)
        return

    from leg3dus.compound import Options, reconstruct

    seq, cfg = make_input(args.frames, args.spacing, tuple(args.shape), args.seed)
    if args.device is not None:
        print(f"input: {seq.n_frames} frames of {seq.frame_shape[1]} x {seq.frame_shape[0]} "
              f"px -> {' x '.join(map(str, args.shape[::-1]))} voxels (x, y, z) at "
              f"{args.spacing} mm")
        compare_devices(seq, cfg, args.device, args.size, args.sigma)
        return
    opt = Options(method="vnn", fill="gaussian", fill_size_vox=args.size, fill_sigma_vox=args.sigma)
    small, small_cfg = slab(seq, cfg, 8)
    reconstruct(small, small_cfg, options=opt)  # compile / load the kernels
    reconstruct(small, small_cfg, options=dataclasses.replace(opt, method="pnn"))
    t = time.perf_counter()
    rec = reconstruct(seq, cfg, options=opt)
    full = time.perf_counter() - t
    nvox = int(np.prod(args.shape))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"input: {seq.n_frames} frames of {seq.frame_shape[1]} x {seq.frame_shape[0]} px "
          f"-> {' x '.join(map(str, args.shape[::-1]))} voxels (x, y, z) at {args.spacing} mm")
    print(f"leg3dus vnn + gaussian fill, full size: {full:.1f} s, "
          f"{seq.n_frames / full:.0f} frames/s, {nvox / full / 1e6:.1f} Mvoxels/s, "
          f"{100 * rec.hit.mean():.1f}% voxels hit, peak RSS {peak:.2f} GB")
    del rec
    sub, sub_cfg = slab(seq, cfg, args.anchor_slices)
    sub_cfg.recon.interpolation = "NEAREST_NEIGHBOR"
    sub_cfg.recon.compounding_mode = "LATEST"
    same = dataclasses.replace(opt, method="pnn")
    t = time.perf_counter()
    vnn_slab = reconstruct(sub, sub_cfg, options=opt).volume.array
    vnn_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = reconstruct(sub, sub_cfg, options=same).volume.array
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    theirs = anchor(sub, sub_cfg, args.size, args.sigma)
    theirs_s = time.perf_counter() - t
    diff = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    print(f"slab of {args.anchor_slices} slices ({sub.n_frames} frames), pnn nearest latest + "
          f"gaussian fill: leg3dus {ours_s:.2f} s, numpy/scipy anchor {theirs_s:.2f} s, "
          f"ratio {theirs_s / ours_s:.1f}x; voxels equal {100 * (diff == 0).mean():.3f}%, "
          f"max difference {int(diff.max())} grey levels (leg3dus vnn on the slab: "
          f"{vnn_s:.2f} s, {100 * (vnn_slab == theirs).mean():.1f}% equal to the anchor)")


if __name__ == "__main__":
    main()
