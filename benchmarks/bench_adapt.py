"""Subject adaptation against plain prediction and shape-based interpolation.

For held-out test subjects of a 1 mm phantom cohort, sparse annotations are made from
the truth every ``--every`` slices (``leg3dus.phantom.annotations.sparse_annotations``,
no annotator noise), and three label volumes are scored per muscle (Dice against the
dense truth, whole volume):

- ``predict``: the trained 2d network, as ``leg3dus predict`` (no TTA, no LCC);
- ``predict --propagate``: the same network fine-tuned on the annotated slices
  (``leg3dus.segment.adapt.predict_adapted``), annotated slices written back;
- ``propagate sdf``: ``leg3dus propagate --method sdf`` of the same slices.

The cohort (``leg3dus synth DATA --subjects 20 --spacing 1.0``) and the run
(``leg3dus train DATA --model 2d --out RUN --config p2d.toml --time-limit ...``, the
settings of docs/segment.md) are made when missing and reused otherwise.

Example: python benchmarks/bench_adapt.py --subjects 2 --every 20 --train-time 4m
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
P2D = """batch_size = 8
steps_per_epoch = 50
max_epochs = 50
patience = 15
lr = 0.002
lr_schedule = "poly"
val_slice_step = 8
threads = {threads}
seed = 0
[model]
context = 2
patch = [1, 128, 128]
channels = [8, 16, 32, 64, 128]
"""


def leg3dus(*args) -> None:
    """Run a leg3dus command, stopping the benchmark if it fails."""
    cmd = [sys.executable, "-c", "from leg3dus.apps.cli import main; main()", *map(str, args)]
    print("$ leg3dus " + " ".join(map(str, args)), flush=True)
    subprocess.run(cmd, check=True)


def prepare(args) -> None:
    """Make the cohort and the trained run if they are missing."""
    if not args.data.exists():
        leg3dus("synth", args.data, "--subjects", 20, "--spacing", 1.0)
    if not (args.run / "best.pt").exists():
        args.run.parent.mkdir(parents=True, exist_ok=True)
        toml = args.run.parent / "p2d.toml"
        toml.write_text(P2D.format(threads=args.threads))
        start = time.monotonic()
        leg3dus("train", args.data, "--model", "2d", "--out", args.run, "--config", toml,
                "--time-limit", args.train_time, "--quiet")
        print(f"training: {time.monotonic() - start:.0f} s wall", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "_data" / "adapt" / "phantom")
    parser.add_argument("--run", type=Path, default=HERE / "_data" / "adapt" / "run")
    parser.add_argument("--subjects", type=int, default=2, help="test subjects scored")
    parser.add_argument("--every", type=int, default=20, help="annotation step in slices")
    parser.add_argument("--steps", type=int, default=200, help="adaptation steps")
    parser.add_argument("--lr", type=float, default=2e-4, help="adaptation learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-time", default="4m")
    args = parser.parse_args()
    prepare(args)

    import torch

    from leg3dus import read_volume
    from leg3dus.core import labels as lab
    from leg3dus.dataset import find_subjects
    from leg3dus.metrics import dice
    from leg3dus.phantom.annotations import sparse_annotations
    from leg3dus.propagate import propagate
    from leg3dus.segment.adapt import load_trainable, predict_adapted
    from leg3dus.segment.infer import predict

    torch.set_num_threads(args.threads)
    model = load_trainable(args.run)
    tests = [s for s in find_subjects(args.data) if s.split == "test"][:args.subjects]
    rows = []
    for s in tests:
        image, truth = read_volume(s.image), read_volume(s.label)
        sparse, idx = sparse_annotations(truth.array, every=args.every, spacing=truth.spacing)
        sparse = truth.with_array(sparse)
        runs = {}
        t = time.perf_counter()
        runs["predict"] = predict(image, model)
        runs["predict"] = (runs["predict"], time.perf_counter() - t)
        t = time.perf_counter()
        out = predict_adapted(image, model, sparse, annotated=idx, steps=args.steps,
                              lr=args.lr, seed=args.seed)
        runs["predict --propagate"] = (out, time.perf_counter() - t)
        t = time.perf_counter()
        out = propagate(sparse, "sdf", annotated=idx)
        runs["propagate sdf"] = (out, time.perf_counter() - t)
        for method, (labels, seconds) in runs.items():
            d = [dice(labels.array == m.value, truth.array == m.value) for m in lab.MUSCLES]
            rows.append((s.id, method, d, seconds))
        print(f"{s.id}: {image.shape} voxels, {len(idx)} annotated slices", flush=True)

    names = "/".join(m.name for m in lab.MUSCLES)
    print(f"\n| subject | method | Dice {names} | mean | seconds |")
    print("|---|---|---|---|---|")
    for sid, method, d, seconds in rows:
        print(f"| {sid} | {method} | {'/'.join(f'{v:.3f}' for v in d)} | "
              f"{np.mean(d):.3f} | {seconds:.1f} |")
    for method in dict.fromkeys(r[1] for r in rows):
        d = np.mean([r[2] for r in rows if r[1] == method], axis=0)
        sec = np.mean([r[3] for r in rows if r[1] == method])
        print(f"| mean | {method} | {'/'.join(f'{v:.3f}' for v in d)} | {np.mean(d):.3f} | "
              f"{sec:.1f} |")


if __name__ == "__main__":
    main()
