"""Sliding-window inference of a full-size volume: leg3dus (slabs along axis 0, crop to the
non-empty region) against MONAI's ``sliding_window_inference`` on the whole tensor.

Each measurement runs in its own subprocess; its peak resident memory comes from the
kernel (``wait4``). The network is untrained (time and memory do not depend on the
weights): a 2D U-Net applied slice by slice, which MONAI runs as a 3D window of depth 1
with the same Gaussian blending. MONAI needs the whole volume as float32 plus float32
score and weight maps, so by default it runs on the first ``--anchor-slices`` slices and
leg3dus runs on the same slices for the ratio, then on the whole volume.

Example: python benchmarks/bench_segment.py --shape 1443 632 564
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_volume(shape, path: Path, seed: int = 0) -> Path:
    """A uint8 speckle-like volume, zero (no data) in a top gel band and lateral margins."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vol = np.zeros(shape, np.uint8)
    band, margin = shape[1] // 20, shape[2] // 12
    for a in range(0, shape[0], 64):
        block = rng.integers(20, 200, (min(64, shape[0] - a), shape[1] - band,
                                       shape[2] - 2 * margin), dtype=np.uint8)
        vol[a:a + 64, band:, margin:shape[2] - margin] = block
    np.save(path, vol)
    return path


def spec_for(args) -> dict:
    from leg3dus.segment.models import check_spec, default_spec

    return check_spec({**default_spec("2d"), "context": 0, "channels": args.channels,
                       "patch": [1, args.patch, args.patch]})


def worker(args) -> None:
    import torch

    from leg3dus.segment.infer import LoadedModel, predict
    from leg3dus.segment.models import build_model

    torch.manual_seed(0)
    spec = spec_for(args)
    net = build_model(spec).eval()
    vol = np.load(args.volume)
    if args.slices:
        vol = np.ascontiguousarray(vol[:args.slices])
    t = time.perf_counter()
    if args.worker == "leg3dus":
        model = LoadedModel(net, spec, "bench")
        labels = predict(vol, model, overlap=args.overlap, slab=args.slab,
                         batch_size=args.batch_size)
    else:
        from monai.inferers import sliding_window_inference

        def predictor(x):  # (B, 1, 1, y, x) windows of depth 1 -> the 2D network
            return net(x[:, :, 0])[:, :, None]

        with torch.inference_mode():
            image = torch.from_numpy(vol)[None, None].float().div_(255.0)
            scores = sliding_window_inference(image, (1, args.patch, args.patch),
                                              args.batch_size, predictor,
                                              overlap=args.overlap, mode="gaussian")
            labels = scores[0].argmax(0).to(torch.uint8).numpy()
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "shape": list(vol.shape),
                      "foreground": float(np.mean(labels > 0))}))


def measure(args, which: str, slices: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", which, "--volume", str(args.volume),
           "--slices", str(slices or 0), "--patch", str(args.patch), "--overlap",
           str(args.overlap), "--slab", str(args.slab), "--batch-size", str(args.batch_size),
           "--channels", *map(str, args.channels)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{which} worker failed (status {status})")
    row = json.loads(out.strip().splitlines()[-1])
    row["peak_gb"] = usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", type=int, nargs=3, default=[1443, 632, 564],
                   help="volume shape (z, y, x)")
    p.add_argument("--anchor-slices", type=int, default=145,
                   help="slices for the MONAI anchor and the ratio (0: the whole volume)")
    p.add_argument("--patch", type=int, default=256, help="in-plane window size")
    p.add_argument("--channels", type=int, nargs="+", default=[4, 8, 16],
                   help="U-Net feature maps per level")
    p.add_argument("--overlap", type=float, default=0.25)
    p.add_argument("--slab", type=int, default=64, help="leg3dus slab (slices)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--skip-full", action="store_true", help="skip the whole-volume run")
    p.add_argument("--worker", choices=["leg3dus", "monai"], help=argparse.SUPPRESS)
    p.add_argument("--volume", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--slices", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    shape = tuple(args.shape)
    args.volume = make_volume(shape, HERE / "_data" / f"seg_{'x'.join(map(str, shape))}.npy")
    print(f"volume {shape} uint8; 2D U-Net {args.channels}, window {args.patch}^2, overlap "
          f"{args.overlap}, torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}")
    n = args.anchor_slices or shape[0]
    anchor = measure(args, "monai", n)
    ours = measure(args, "leg3dus", n)
    print(f"{'first ' + str(n) + ' slices':<24}{'time s':>10}{'peak GB':>10}")
    print(f"{'  MONAI sliding window':<24}{anchor['seconds']:>10.1f}{anchor['peak_gb']:>10.2f}")
    print(f"{'  leg3dus predict':<24}{ours['seconds']:>10.1f}{ours['peak_gb']:>10.2f}")
    print(f"  ratio MONAI / leg3dus: time {anchor['seconds'] / ours['seconds']:.2f}x, "
          f"peak memory {anchor['peak_gb'] / ours['peak_gb']:.2f}x")
    if not args.skip_full and n != shape[0]:
        full = measure(args, "leg3dus", None)
        print(f"whole volume {shape}: leg3dus {full['seconds']:.1f} s, peak "
              f"{full['peak_gb']:.2f} GB ({'under' if full['peak_gb'] < 6 else 'OVER'} 6 GB)")


if __name__ == "__main__":
    main()
