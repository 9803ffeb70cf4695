"""Study: segmentation from sparse annotations, on the phantom.

For each annotation spacing (every 5, 10, 20 and 40 mm along the leg by default), the
training and validation subjects keep only their annotated slices
(:func:`leg3dus.phantom.annotations.sparse_annotations`), and three ways to a segmentation
of the held-out test subjects are compared against their dense truth:

- ``propagate+dense``: sdf propagation of each training subject's slices to 3D labels,
  then ordinary (dense) training on them;
- ``sparse``: training on the annotated slices alone (``train --sparse``: unannotated
  slices ignored by the loss);
- ``predict --propagate``: the test subject's own slices at the same spacing, the
  ``propagate+dense`` network adapted to them (``predict --propagate``).

Dice per muscle and the muscle volume error (%) of each test subject go to a CSV; the
means are printed as a Markdown table and drawn in one figure. Every training uses the
same settings and seed, with a fixed number of epochs (no time limit), so the figures do
not depend on the machine's speed.

    python benchmarks/study_sparse.py --subjects 8 --spacing 2.0 --epochs 12
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from leg3dus import read_volume, write_volume
from leg3dus.core import labels as lab
from leg3dus.core.layout import SLICES_NAME, SPARSE_NAME, find_subjects, subject_folder
from leg3dus.metrics import dice, volume_error_percent
from leg3dus.phantom.annotations import sparse_annotations
from leg3dus.phantom.synth import synthesise
from leg3dus.propagate import propagate

METHODS = ("propagate+dense", "sparse", "predict --propagate")
FIELDS = ["every_mm", "method", "subject", "muscle", "dice", "volume_error_percent"]


def settings(args) -> dict:
    from leg3dus.segment.config import load_config, merge

    base = load_config(None, preset="cpu-quick", kind="2d")
    return merge(base, {"max_epochs": args.epochs, "steps_per_epoch": args.steps,
                        "patience": 10_000, "lr_schedule": "poly", "time_limit": None,
                        "seed": args.seed, "val_slice_step": 1,
                        "model": {"patch": [1, args.patch, args.patch]}})


def annotated_tree(data: Path, out: Path, every_mm: float) -> None:
    """A copy of the train and val subjects of ``data`` holding their sparse annotations
    every ``every_mm`` and, as masksX1.mha, the sdf propagation of them."""
    for s in find_subjects(data, splits=["train", "val"]):
        folder = subject_folder(out, s.split, s.id)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(s.image, folder / "x1.mha")
        truth = read_volume(s.label)
        sparse, idx = sparse_annotations(truth.array, every_mm=every_mm, spacing=truth.spacing)
        write_volume(truth.with_array(sparse), folder / SPARSE_NAME)
        (folder / SLICES_NAME).write_text("".join(f"{int(i)}\n" for i in idx))
        dense = propagate(sparse, method="sdf", annotated=idx, spacing=truth.spacing)
        write_volume(truth.with_array(dense), folder / "masksX1.mha")


def scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, tuple[float, float]]:
    """Dice and volume error (%) per muscle."""
    out = {}
    for m in lab.MUSCLES:
        p, t = pred == m.value, truth == m.value
        out[m.name] = (dice(p, t), volume_error_percent(float(p.sum()), float(t.sum())))
    return out


def run(args) -> list[dict]:
    from leg3dus.segment.adapt import load_trainable, predict_adapted
    from leg3dus.segment.infer import load_model, predict
    from leg3dus.segment.train import train

    work = args.work
    data = work / "data"
    if not (data / "cohort.csv").is_file():
        synthesise(data, args.subjects, spacing_mm=args.spacing, seed=args.seed)
    tests = [s for s in find_subjects(data, splits=["test"]) if s.label is not None]
    config = settings(args)
    rows: list[dict] = []
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as fh:
        writer = csv.DictWriter(fh, FIELDS)
        writer.writeheader()
        for every in args.every_mm:
            t0 = time.perf_counter()
            tree = work / f"every{every:g}"
            if not tree.is_dir():
                annotated_tree(data, tree, every)
            runs = {}
            for method, sparse in (("propagate+dense", False), ("sparse", True)):
                run_dir = work / f"run_{method.split('+')[0]}_{every:g}"
                if not (run_dir / "best.pt").is_file():
                    train(tree, "2d", run_dir, {**config, "sparse": sparse})
                runs[method] = run_dir
            for s in tests:
                image, truth = read_volume(s.image), read_volume(s.label)
                preds = {m: predict(image, load_model(runs[m] / "best.pt", "cpu")).array
                         for m in ("propagate+dense", "sparse")}
                sparse, idx = sparse_annotations(truth.array, every_mm=every,
                                                 spacing=truth.spacing)
                model = load_trainable(runs["propagate+dense"] / "best.pt", device="cpu")
                preds["predict --propagate"] = predict_adapted(
                    image, model, truth.with_array(sparse), annotated=idx,
                    steps=args.adapt_steps, seed=args.seed).array
                for method, pred in preds.items():
                    for muscle, (d, err) in scores(pred, truth.array).items():
                        row = {"every_mm": every, "method": method, "subject": s.id,
                               "muscle": muscle, "dice": round(d, 4),
                               "volume_error_percent": round(err, 2)}
                        writer.writerow(row)
                        rows.append(row)
                fh.flush()
            print(f"every {every:g} mm done in {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr)
    return rows


def table(rows: list[dict], every_mm) -> str:
    lines = ["| every mm | method | Dice SOL | Dice GM | Dice GL | volume error % (mean abs) |",
             "|---|---|---|---|---|---|"]
    for every in every_mm:
        for method in METHODS:
            sel = [r for r in rows if r["every_mm"] == every and r["method"] == method]
            d = {m.name: np.mean([r["dice"] for r in sel if r["muscle"] == m.name])
                 for m in lab.MUSCLES}
            err = np.mean([abs(r["volume_error_percent"]) for r in sel])
            lines.append(f"| {every:g} | {method} | {d['SOL']:.3f} | {d['GM']:.3f} | "
                         f"{d['GL']:.3f} | {err:.1f} |")
    return "\n".join(lines)


def figure(rows: list[dict], every_mm, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4))
    for method in METHODS:
        d = [np.mean([r["dice"] for r in rows if r["every_mm"] == e and r["method"] == method])
             for e in every_mm]
        v = [np.mean([abs(r["volume_error_percent"]) for r in rows
                      if r["every_mm"] == e and r["method"] == method]) for e in every_mm]
        a.plot(every_mm, d, "o-", label=method)
        b.plot(every_mm, v, "o-", label=method)
    a.set(xlabel="annotation every ... mm", ylabel="mean Dice (SOL, GM, GL)")
    b.set(xlabel="annotation every ... mm", ylabel="mean |volume error| %")
    a.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> None:
    here = Path(__file__).resolve().parent
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subjects", type=int, default=8)
    p.add_argument("--spacing", type=float, default=2.0, help="phantom spacing, mm")
    p.add_argument("--every-mm", type=float, nargs="+", default=[5.0, 10.0, 20.0, 40.0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps", type=int, default=50, help="steps per epoch")
    p.add_argument("--patch", type=int, default=64, help="2d window size, voxels")
    p.add_argument("--adapt-steps", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=here / "_data" / "study_sparse")
    p.add_argument("--csv", type=Path, default=here / "_data" / "study_sparse.csv")
    p.add_argument("--figure", type=Path,
                   default=here.parent / "docs" / "figures" / "study_sparse.png")
    args = p.parse_args(argv)
    rows = run(args)
    print(table(rows, args.every_mm))
    figure(rows, args.every_mm, args.figure)
    print(f"figure: {args.figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
