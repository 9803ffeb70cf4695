"""Sliding-window inference of a full-size volume: leg3dus against MONAI's
``sliding_window_inference``, on the CPU and on a GPU, side by side.

Two measurements per device, each of both tools in its own subprocess (peak resident
memory from the kernel, ``wait4``; peak device memory from torch):
- network: the labels of a uint8 volume already in memory (leg3dus ``predict``: crop to
  the non-empty region, slabs on the device; MONAI: the float32 volume on the device,
  ``sliding_window_inference`` with Gaussian blending, argmax);
- end to end: read the ``.mha`` file, resample to the model's spacing when it differs
  (``--model-spacing``), the network with test-time flips (``--tta``), write the labels
  (leg3dus: what ``leg3dus predict`` runs; MONAI: the same steps written with torch around
  ``sliding_window_inference``: trilinear resampling, flips of the whole volume).

The network is untrained (time and memory do not depend on the weights): a 2D U-Net
applied slice by slice, which MONAI runs as a 3D window of depth 1. MONAI holds the whole
volume as float32 plus float32 score and weight maps, so on the CPU its network run is
limited to the first ``--anchor-slices`` slices (leg3dus runs the same slices for the
ratio) and its end-to-end run is skipped unless ``--anchor-slices 0``. Each measurement
starts with a short warm-up in the same process (CUDA context, kernel choice), not timed.

Example: python benchmarks/bench_segment.py --device auto --shape 1443 632 564 --tta
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
SPACING_MM = 0.277


def make_volume(shape, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """A uint8 speckle-like volume (.npy and .mha), zero (no data) in a top gel band and
    lateral margins."""
    npy, mha = folder / "image.npy", folder / "x1.mha"
    if npy.exists() and mha.exists():
        return npy, mha
    from leg3dus import Volume, write_volume

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vol = np.zeros(shape, np.uint8)
    band, margin = shape[1] // 20, shape[2] // 12
    for a in range(0, shape[0], 64):
        block = rng.integers(20, 200, (min(64, shape[0] - a), shape[1] - band,
                                       shape[2] - 2 * margin), dtype=np.uint8)
        vol[a:a + 64, band:, margin:shape[2] - margin] = block
    np.save(npy, vol)
    write_volume(Volume(vol, spacing=(SPACING_MM,) * 3), mha)
    return npy, mha


def spec_for(args) -> dict:
    from leg3dus.segment.models import check_spec, default_spec

    spacing = args.model_spacing or SPACING_MM
    return check_spec({**default_spec("2d"), "context": 0, "channels": args.channels,
                       "patch": [1, args.patch, args.patch], "spacing": [spacing] * 3})


def build(args, device):
    import torch

    from leg3dus.segment.models import build_model

    torch.manual_seed(0)
    spec = spec_for(args)
    return build_model(spec).eval().to(device), spec


def monai_labels(image, net, args, device, spacing_factor=None):
    """MONAI's sliding window on a uint8 (z, y, x) tensor: labels (uint8 tensor)."""
    import torch
    import torch.nn.functional as F
    from monai.inferers import sliding_window_inference

    def predictor(x):  # (B, 1, 1, y, x) windows of depth 1 -> the 2D network
        with torch.autocast(device.type, enabled=device.type == "cuda"):
            return torch.softmax(net(x[:, :, 0]).float(), 1)[:, :, None]

    with torch.inference_mode():
        x = image.to(device)[None, None].float().div_(255.0)  # (1, 1, z, y, x)
        shape = x.shape[2:]
        if spacing_factor is not None:
            size = [max(1, int(n * f + 0.5)) for n, f in zip(shape, spacing_factor, strict=True)]
            x = F.interpolate(x, size=size, mode="trilinear", align_corners=False)
        flips = [(), (2,), (4,), (2, 4)] if args.tta else [()]
        total = None
        for dims in flips:
            xin = torch.flip(x, dims) if dims else x
            s = sliding_window_inference(xin, (1, args.patch, args.patch), args.batch_size
                                         or 8, predictor, overlap=args.overlap,
                                         mode="gaussian")
            s = torch.flip(s, dims) if dims else s
            total = s if total is None else total.add_(s)
            del s
        if spacing_factor is not None:
            total = F.interpolate(total, size=tuple(shape), mode="trilinear",
                                  align_corners=False)
        return total[0].argmax(0).to(torch.uint8)


def worker(args) -> None:
    import torch

    from leg3dus.segment.infer import LoadedModel, predict

    device = torch.device(args.device)
    net, spec = build(args, device)
    model = LoadedModel(net, spec, "bench", str(device))
    vol = np.load(args.npy, mmap_mode="r")
    n = args.slices or vol.shape[0]
    vol = np.ascontiguousarray(vol[:n])
    opts = {"overlap": args.overlap, "slab": args.slab, "batch_size": args.batch_size}

    def network(v):
        if args.worker.startswith("leg3dus"):
            return predict(v, model, **opts)
        return monai_labels(torch.from_numpy(v), net, args, device).cpu().numpy()

    def end_to_end(out):
        from leg3dus import read_volume, write_volume
        from leg3dus.core.labels import to_value
        from leg3dus.segment.predict_files import predict_paths

        if args.worker.startswith("leg3dus"):
            ckpt = Path(out).with_suffix(".pt")
            if not ckpt.exists():
                torch.save({"spec": spec, "model": net.state_dict()}, ckpt)
            predict_paths(ckpt, args.mha, out, device=str(device), tta=args.tta, **opts)
            return
        image = read_volume(args.mha)
        factor = None
        if args.model_spacing:
            factor = [s / args.model_spacing for s in image.spacing]
        array = np.array(image.array)  # writable, as torch wants
        classes = monai_labels(torch.from_numpy(array), net, args, device, factor)
        write_volume(image.with_array(to_value(classes.cpu().numpy())), out)

    network(np.ascontiguousarray(vol[:min(4, n)]))  # warm-up, not timed
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    if args.worker.endswith("e2e"):
        out = Path(args.npy).parent / f"labels_{args.worker}_{device.type}.mha"
        out.unlink(missing_ok=True)
        end_to_end(out)
        out.unlink()
    else:
        network(vol)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    device_gb = torch.cuda.max_memory_allocated() / 1e9 if device.type == "cuda" else 0.0
    print(json.dumps({"seconds": seconds, "device_gb": device_gb}))


def measure(args, which: str, device: str, slices: int | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", which, "--device", device,
           "--npy", str(args.npy), "--mha", str(args.mha), "--slices", str(slices or 0),
           "--patch", str(args.patch), "--overlap", str(args.overlap), "--slab",
           str(args.slab), "--batch-size", str(args.batch_size or 0),
           "--model-spacing", str(args.model_spacing or 0), "--channels",
           *map(str, args.channels)] + (["--tta"] if args.tta else [])
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{which} worker on {device} failed (status {status})")
    row = json.loads(out.strip().splitlines()[-1])
    row["host_gb"] = usage.ru_maxrss * 1024 / 1e9  # ru_maxrss is in KiB on Linux
    return row


def devices(choice: str) -> list[str]:
    import torch

    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise SystemExit("--device cuda: torch sees no CUDA device")
    return {"cpu": ["cpu"], "cuda": ["cuda"], "auto": ["cpu"] + (["cuda"] if cuda else [])}[
        choice]


def row(label, monai, ours) -> str:
    def cell(r, key, fmt):
        return f"{r[key]:{fmt}}" if r else "-"

    ratio = f"{monai['seconds'] / ours['seconds']:.2f}x" if monai else "-"
    return (f"{label:<30}{cell(monai, 'seconds', '10.2f')}{cell(ours, 'seconds', '10.2f')}"
            f"{ratio:>8}{cell(monai, 'host_gb', '9.2f')}{cell(ours, 'host_gb', '9.2f')}"
            f"{cell(monai, 'device_gb', '9.2f')}{cell(ours, 'device_gb', '9.2f')}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                   help="cpu, cuda, or auto: the CPU and, when torch sees one, the GPU")
    p.add_argument("--shape", type=int, nargs=3, default=[1443, 632, 564],
                   help="volume shape (z, y, x)")
    p.add_argument("--anchor-slices", type=int, default=None,
                   help="slices for MONAI's network run and the ratio (0: the whole "
                        "volume; default 145 on the CPU, the whole volume on a GPU)")
    p.add_argument("--patch", type=int, default=256, help="in-plane window size")
    p.add_argument("--channels", type=int, nargs="+", default=[4, 8, 16],
                   help="U-Net feature maps per level")
    p.add_argument("--overlap", type=float, default=0.25)
    p.add_argument("--slab", type=int, default=64, help="leg3dus slab (slices)")
    p.add_argument("--batch-size", type=int, default=0,
                   help="windows per network call (0: leg3dus's default for the device; "
                        "MONAI: 8)")
    p.add_argument("--tta", action="store_true", help="test-time flips (end to end)")
    p.add_argument("--model-spacing", type=float, default=0.0,
                   help="the model's voxel size in mm (0: the volume's, no resampling)")
    p.add_argument("--skip-full", action="store_true", help="skip the whole-volume runs")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--npy", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--mha", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--slices", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.batch_size = args.batch_size or None
    args.model_spacing = args.model_spacing or None
    if args.worker:
        worker(args)
        return
    shape = tuple(args.shape)
    args.npy, args.mha = make_volume(shape, HERE / "_data" / f"seg_{'x'.join(map(str, shape))}")
    print(f"volume {shape} uint8 at {SPACING_MM} mm; 2D U-Net {args.channels}, window "
          f"{args.patch}^2, overlap {args.overlap}, model spacing "
          f"{args.model_spacing or SPACING_MM} mm, tta {args.tta}; torch threads "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')}")
    print(f"{'':<30}{'MONAI s':>10}{'leg3dus s':>10}{'ratio':>8}{'host GB':>18}"
          f"{'device GB':>18}")
    for device in devices(args.device):
        anchor = args.anchor_slices
        if anchor is None:
            anchor = 145 if device == "cpu" else 0
        n = min(anchor or shape[0], shape[0])
        print(f"{device}  (columns: MONAI, leg3dus)")
        label = f"  network, {'whole volume' if n == shape[0] else f'first {n} slices'}"
        print(row(label, measure(args, "monai", device, n),
                  measure(args, "leg3dus", device, n)))
        if args.skip_full:
            continue
        if n != shape[0]:
            print(row("  network, whole volume", None, measure(args, "leg3dus", device, None)))
        monai_e2e = measure(args, "monai-e2e", device, None) if n == shape[0] else None
        ours = measure(args, "leg3dus-e2e", device, None)
        print(row("  end to end, whole volume", monai_e2e, ours))
        target = 8 if device == "cuda" else 60
        peak = max(ours["host_gb"], ours["device_gb"])
        print(f"  leg3dus end to end: {'under' if ours['seconds'] < target else 'OVER'} "
              f"{target} s, peak {'under' if peak < 6 else 'OVER'} 6 GB")


if __name__ == "__main__":
    main()
