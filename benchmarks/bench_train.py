"""Training throughput: slices per second of the host loader training used before (patches
cut and augmented with numpy on the host, copied to the device every step, the loss read
every step) against the device path (the cache on the device, patches gathered and
augmented there, bf16 autocast on CUDA, the loss read once per epoch), on the same
network, batch and phantom cohort; on the CPU and, when one is present, on a GPU. The
host fallback (patches cut on the host from the memory-mapped cache, augmented on the
device) is measured too.

Optionally (``--dice``, meant for a GPU): ``leg3dus train``'s 2d model with the ``gpu``
preset under a time limit, then the test subjects' Dice per muscle, to check the target
"test Dice >= 0.97 for all three muscles within 3 minutes".

Example: python benchmarks/bench_train.py --subjects 20 --spacing 1.0 --batch 8 32
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def cohort(args):
    """The cached training subjects of a phantom cohort (written once under --work)."""
    from leg3dus.core.layout import find_subjects
    from leg3dus.phantom.synth import synthesise
    from leg3dus.segment.cache import cache_subject

    data = args.work / f"phantom_{args.subjects}_{args.spacing:g}mm"
    if not (data / "cohort.csv").is_file():
        synthesise(data, args.subjects, spacing_mm=args.spacing, seed=0)
    subjects = [s for s in find_subjects(data, splits=["train"]) if s.label is not None]
    return data, [cache_subject(s.id, s.image, s.label, args.work / "cache")
                  for s in subjects]


def network(args, device):
    import torch
    from monai.losses import DiceCELoss

    from leg3dus.segment.config import preset_settings
    from leg3dus.segment.models import build_model, check_spec, default_spec

    torch.manual_seed(0)
    model = preset_settings(args.preset, "2d")["model"]
    spec = check_spec({**default_spec("2d"), **model})
    net = build_model(spec).to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-5)
    return spec, net, opt, DiceCELoss(to_onehot_y=True, softmax=True)


def before(args, subjects, device, batch: int) -> float:
    """Slices/s of the loop training ran before: PatchSampler and augment_batch on the
    host, a copy per step, ``float(loss)`` per step, as training ran before)."""
    import torch

    from leg3dus.segment.data import PatchSampler, augment_batch

    spec, net, opt, loss_fn = network(args, device)
    sampler = PatchSampler(subjects, spec)
    rng = np.random.default_rng(0)

    def steps(n):
        losses = []
        for _ in range(n):
            x, y = map(torch.from_numpy, sampler.batch(batch, rng))
            x, y = augment_batch(x, y, rng, "2d")
            x, y = x.to(device), y.to(device)
            loss = loss_fn(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses

    steps(args.warmup)
    t0 = time.perf_counter()
    steps(args.steps)
    return args.steps * batch / (time.perf_counter() - t0)


def after(args, subjects, device, batch: int, host: bool = False) -> float:
    """Slices/s of :func:`leg3dus.segment.epoch.run_epoch` (the training loop now)."""
    from leg3dus.segment.device_data import DevicePatches, HostPatches, draw_epoch
    from leg3dus.segment.epoch import noise_generator, run_epoch

    spec, net, opt, loss_fn = network(args, device)
    patches = (HostPatches if host else DevicePatches)(subjects, spec, device)
    rng = np.random.default_rng(0)
    for n, epoch in ((args.warmup, 1), (args.steps, 2)):
        draws = draw_epoch(rng, subjects, spec, n, batch)
        t0 = time.perf_counter()
        run_epoch(net, opt, loss_fn, patches, draws, n, batch,
                  generator=noise_generator(device, 0, epoch))  # reads the loss: a sync
    return args.steps * batch / (time.perf_counter() - t0)


def dice_run(args, data: Path) -> dict:
    """Train the 2d model (gpu preset) for --dice-limit-s, then test Dice per muscle."""
    from leg3dus import read_volume
    from leg3dus.core import labels as lab
    from leg3dus.core.layout import find_subjects
    from leg3dus.segment.config import load_config
    from leg3dus.segment.infer import load_model, predict
    from leg3dus.segment.train import dice_per_muscle, train

    run = args.work / f"run_dice_{time.strftime('%Y%m%d-%H%M%S')}"
    summary = train(data, "2d", run, load_config(None, args.preset, "2d"),
                    overrides={"time_limit": args.dice_limit_s}, log=print)
    model = load_model(run / "best.pt")
    scores = {}
    for s in find_subjects(data, splits=["test"]):
        pred = predict(read_volume(s.image), model).array
        truth = read_volume(s.label).array
        scores[s.id] = dice_per_muscle(lab.to_index(pred), lab.to_index(truth))
    least = {m: min(v[m] for v in scores.values()) for m in next(iter(scores.values()))}
    return {"train_seconds": round(summary["seconds"], 1), "epochs": summary["epochs"],
            "test_dice_min": {m: round(v, 4) for m, v in least.items()},
            "all_at_least_0.97": all(v >= 0.97 for v in least.values())}


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], nargs="+",
                   help="devices to measure (default: cpu, and cuda when present)")
    p.add_argument("--subjects", type=int, default=20)
    p.add_argument("--spacing", type=float, default=1.0, help="phantom voxel size, mm")
    p.add_argument("--batch", type=int, nargs="+", default=[8, 32])
    p.add_argument("--steps", type=int, default=50, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--preset", default="gpu", help="preset whose 2d network is trained")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--dice", action="store_true", help="also time test Dice (for a GPU)")
    p.add_argument("--dice-limit-s", type=float, default=180.0)
    p.add_argument("--work", type=Path, default=HERE / "_data" / "train")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    data, subjects = cohort(args)
    rows = []
    for device in devices:
        for batch in args.batch:
            old = before(args, subjects, device, batch)
            host = after(args, subjects, device, batch, host=True)
            new = after(args, subjects, device, batch)
            row = {"device": device, "batch": batch, "before_slices_s": round(old, 1),
                   "host_fallback_slices_s": round(host, 1),
                   "device_path_slices_s": round(new, 1), "ratio": round(new / old, 2)}
            rows.append(row)
            print(f"{device:5s} batch {batch:3d}: before {old:9.1f} slices/s, host fallback "
                  f"{host:9.1f}, device path {new:9.1f} slices/s, x{new / old:.2f}",
                  flush=True)
    result = {"subjects": args.subjects, "spacing_mm": args.spacing, "preset": args.preset,
              "threads": torch.get_num_threads(), "rows": rows}
    if args.dice:
        result["dice"] = dice_run(args, data)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
