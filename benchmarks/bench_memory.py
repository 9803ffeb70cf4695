"""Peak memory of the steps that used to hold several full-size copies ("memory traps").

Each case runs in a fresh Python process and reports its peak resident memory
(``VmHWM``: ``ru_maxrss`` without what a forked child inherits), with the memory its
inputs alone take (loaded from ``.npy`` files, read before the step runs) for reference.
Full size is the dataset's grid, 1443 x 632 x 564 voxels (z, y, x), 0.5 GB as uint8.
The cases:

- ``clean_stray``: ``core.labels.clean_stray(mode="nearest")`` on a full-size uint8 label
  volume (three muscle blocks) whose six faces are stray voxels (value 7);
- ``read_sequence``, ``read_sequence_zlib``: ``sweep.read_sequence`` of a PLUS sequence
  file of 3000 frames of 221 x 537 px (uint8, 356 MB of pixels), uncompressed and zlib;
- ``fill_labels``: ``compound.fill.fill_labels`` of a full-size label volume with 60 %
  of its voxels hit (a regular pattern);
- ``train_cache``: ``segment.cache.cache_subject`` of one phantom subject at the spacing
  that gives it the dataset's full grid (0.2557 mm: 1443 x 631 x 565), with the size of
  the cache entry on disk;
- ``value_counts_int16``: ``core.labels.value_counts`` of a full-size int16 label volume
  (1 GB, with a negative value); its time is printed too.

``--src`` runs the cases against another checkout's ``src`` folder (the "before" column:
``git worktree add /tmp/before 491a5e7`` then ``--before /tmp/before/src``). The inputs
are written once to ``--data`` (benchmarks/_data/memory by default, about 3.5 GB).

Example: python benchmarks/bench_memory.py --before /tmp/before/src
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
FULL = (1443, 632, 564)
FRAMES = (3000, 537, 221)  # frames, rows (depth), columns (width)
PHANTOM_SPACING = 0.2557
CASES = ("clean_stray", "read_sequence", "read_sequence_zlib", "fill_labels", "train_cache",
         "value_counts_int16")


def _mb() -> float:
    """Peak resident memory of this process so far, MB: VmHWM, the high-water mark of this
    program's own address space (ru_maxrss can carry the peak of the parent it was
    forked from across exec); ru_maxrss where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- inputs (made once)

def _labels_full():
    import numpy as np

    labels = np.zeros(FULL, np.uint8)
    labels[100:1300, 80:330, 60:300] = 100
    labels[100:1000, 330:560, 100:420] = 150
    labels[200:900, 150:330, 300:500] = 200
    return labels


def make_inputs(data: Path) -> None:
    """Write every case's input into ``data`` (skipped when already there)."""
    import numpy as np

    data.mkdir(parents=True, exist_ok=True)
    if not (data / "stray.npy").exists():
        labels = _labels_full()
        for axis in range(3):
            np.moveaxis(labels, axis, 0)[[0, -1]] = 7
        np.save(data / "stray.npy", labels)
        del labels
    if not (data / "hit.npy").exists():
        labels = _labels_full()
        np.save(data / "labels.npy", labels)
        x = np.arange(FULL[2])
        hit = np.empty(FULL, np.uint8)
        for z in range(FULL[0]):
            hit[z] = ((z * 7 + np.arange(FULL[1])[:, None] * 3 + x) % 5) < 3
        np.save(data / "hit.npy", hit)
        del labels, hit
    if not (data / "int16.npy").exists():
        labels = _labels_full().astype(np.int16)
        labels[:, :, :4] = -1
        labels[700:710] = 1000
        np.save(data / "int16.npy", labels)
        del labels
    for compress, name in ((False, "frames.seq.mha"), (True, "frames_zlib.seq.mha")):
        if not (data / name).exists():
            _write_frames(data / name, compress)
    if not (data / "phantom" / "masksX1.mha").exists():
        from leg3dus import write_volume
        from leg3dus.phantom import make_subject, subject_params

        image, labels = make_subject(subject_params(0, 0), spacing=PHANTOM_SPACING)
        write_volume(labels, data / "phantom" / "masksX1.mha", compression_level=1)
        write_volume(image, data / "phantom" / "x1.mha", compression_level=1)


def _write_frames(path: Path, compress: bool) -> None:
    import numpy as np

    from leg3dus.sweep import Sequence, write_sequence

    n, h, w = FRAMES
    rng = np.random.default_rng(0)
    frames = np.empty(FRAMES, np.uint8)
    depth = np.linspace(160, 20, h, dtype=np.float32)[:, None]
    for i in range(n):  # speckle-like grey values fading with depth
        frames[i] = np.clip(depth * rng.rayleigh(0.6, (h, w)), 0, 255)
    poses = np.tile(np.eye(4), (n, 1, 1))
    poses[:, 2, 3] = np.arange(n) * 0.1
    write_sequence(Sequence(frames, {"ProbeToTracker": poses}), path, compress=compress)


# ---------------------------------------------------------------- one case (a child)

def run_case(case: str, data: Path) -> dict:
    import numpy as np

    row: dict = {"case": case}
    if case == "clean_stray":
        from leg3dus.core.labels import clean_stray

        labels = np.load(data / "stray.npy")
        row["inputs_mb"] = _mb()
        out = clean_stray(labels, "nearest")
        row["check"] = int(out[0, 0, 0])
    elif case.startswith("read_sequence"):
        from leg3dus.sweep import read_sequence

        name = "frames_zlib.seq.mha" if case.endswith("zlib") else "frames.seq.mha"
        row["inputs_mb"] = _mb()
        seq = read_sequence(data / name)
        row["check"] = int(seq.frames[-1].sum())
    elif case == "fill_labels":
        from leg3dus.compound.fill import fill_labels

        labels, hit = np.load(data / "labels.npy"), np.load(data / "hit.npy")
        row["inputs_mb"] = _mb()
        out = fill_labels(labels, hit)
        row["check"] = int(out[500, 200, 200])
    elif case == "train_cache":
        import shutil
        import tempfile

        from leg3dus.segment.cache import cache_subject

        row["inputs_mb"] = _mb()
        cache = Path(tempfile.mkdtemp(prefix="bench_memory_cache_", dir=data))
        try:
            cache_subject("P001", data / "phantom" / "x1.mha", data / "phantom" / "masksX1.mha",
                          cache)
            row["disk_mb"] = sum(f.stat().st_size for f in cache.rglob("*")
                                 if f.is_file()) / 1e6
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    elif case == "value_counts_int16":
        from leg3dus.core.labels import value_counts

        labels = np.load(data / "int16.npy")
        row["inputs_mb"] = _mb()
        value_counts(labels[:2])  # compile first
        t0 = time.perf_counter()
        counts = value_counts(labels)
        row["seconds"] = time.perf_counter() - t0
        row["check"] = len(counts)
    else:
        raise SystemExit(f"unknown case {case!r}; expected one of {', '.join(CASES)}")
    row["peak_mb"] = _mb()
    return row


def measure(case: str, src: Path, data: Path) -> dict:
    """Run ``case`` in a fresh process importing leg3dus from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    res = subprocess.run([sys.executable, __file__, "--case", case, "--data", str(data)],
                         env=env, capture_output=True, text=True)
    if res.returncode:
        return {"case": case, "error": (res.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=SRC,
                        help="the src folder whose leg3dus is measured (default: this one)")
    parser.add_argument("--before", type=Path, default=None,
                        help="another src folder to measure too (e.g. an older commit's)")
    parser.add_argument("--data", type=Path, default=HERE / "_data" / "memory",
                        help="folder for the inputs (written once)")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "inputs":
        make_inputs(args.data)
        return
    if args.case:
        print(json.dumps(run_case(args.case, args.data)))
        return
    # the inputs are made in a process of their own
    subprocess.run([sys.executable, __file__, "--case", "inputs", "--data", str(args.data)],
                   env={**os.environ, "PYTHONPATH": str(args.src)}, check=True)
    rows = []
    for case in args.cases:
        after = measure(case, args.src, args.data)
        before = measure(case, args.before, args.data) if args.before else {}
        rows.append((case, before, after))
        print(f"  {case}: before {before.get('peak_mb', before.get('error', '-'))}, "
              f"after {after.get('peak_mb', after.get('error'))}", file=sys.stderr)

    def cell(r, key):
        v = r.get(key)
        return f"{v:,.0f}" if isinstance(v, float) else ("error" if "error" in r else "-")

    print(f"{'case':<22} {'inputs MB':>10} {'before MB':>10} {'after MB':>10}")
    for case, before, after in rows:
        print(f"{case:<22} {cell(after, 'inputs_mb'):>10} {cell(before, 'peak_mb'):>10} "
              f"{cell(after, 'peak_mb'):>10}")
        if "disk_mb" in after:
            print(f"{'  cache on disk':<22} {'':>10} {cell(before, 'disk_mb'):>10} "
                  f"{cell(after, 'disk_mb'):>10}")
        if "seconds" in after:
            print(f"{'  seconds':<22} {'':>10} {before.get('seconds', float('nan')):>10.2f} "
                  f"{after['seconds']:>10.2f}")
    for case, before, after in rows:
        for side, r in (("before", before), ("after", after)):
            if "error" in r:
                print(f"{case} ({side}): {r['error']}")


if __name__ == "__main__":
    main()
