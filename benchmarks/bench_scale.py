"""Scale-out benchmark: `leg3dus evaluate` on a full-size phantom cohort, serial vs Dask.

Writes (or reuses) a cohort of full-size synthetic subjects, makes one prediction per
subject that differs from the truth (each muscle shifted by a voxel or two), then runs

    leg3dus evaluate PRED_DIR DATA --json -q                 (in-process)
    leg3dus evaluate PRED_DIR DATA --json -q --workers N     (local Dask cluster)

each as a subprocess, and prints wall time and peak memory side by side with the ratio.
It checks that both JSON results are equal.

Memory: the process tree of each run (the command, and for Dask its nanny and worker
processes) is sampled every 0.1 s with psutil (or /proc); "peak tree RSS" is the largest
sum of the RSS of all processes alive at one sample, "peak process RSS" the largest RSS
of one process. "ru_maxrss" is getrusage(RUSAGE_CHILDREN) of a wrapper process around the
command: the largest RSS of any single process of the run (exact, not sampled).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "_data" / "scale"

# Shift of each muscle (dz, dy, dx) in voxels to make a prediction that differs.
SHIFTS = {100: (1, 0, 0), 150: (0, 2, 0), 200: (0, 0, -1)}

# Runs a command and writes its getrusage(RUSAGE_CHILDREN).ru_maxrss (KiB) to a file.
WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(str(ru.ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def label_files(data: Path) -> list[Path]:
    return sorted(data.glob("*/*/masksX1.mha"))


def ensure_cohort(data: Path, n: int, spacing: float) -> float:
    """Write the cohort unless a tree with at least ``n`` subjects is there; seconds spent."""
    if (data / "cohort.csv").exists() and len(label_files(data)) >= n:
        return 0.0
    t0 = time.perf_counter()
    subprocess.run(["leg3dus", "synth", str(data), "--subjects", str(n), "--spacing",
                    str(spacing), "--seed", "0", "--fractions", "1", "0", "0", "-q"],
                   check=True)
    return time.perf_counter() - t0


def shifted(mask: np.ndarray, shift: tuple[int, int, int]) -> np.ndarray:
    """``mask`` moved by ``shift`` voxels, zero-filled at the borders."""
    out = np.zeros_like(mask)
    src, dst = [], []
    for s, size in zip(shift, mask.shape, strict=True):
        src.append(slice(max(0, -s), size - max(0, s)))
        dst.append(slice(max(0, s), size - max(0, -s)))
    out[tuple(dst)] = mask[tuple(src)]
    return out


def make_predictions(data: Path, pred_dir: Path, n: int) -> list[str]:
    """Write PRED_DIR/<id>.mha for the first ``n`` subjects; returns their ids."""
    from leg3dus.core.volume_io import read_volume, write_volume

    pred_dir.mkdir(parents=True, exist_ok=True)
    ids = []
    for path in label_files(data)[:n]:
        sid = path.parent.name
        ids.append(sid)
        out = pred_dir / f"{sid}.mha"
        if out.exists():
            continue
        truth = read_volume(path)
        pred = np.zeros_like(truth.array)
        for value, shift in SHIFTS.items():
            pred[shifted(truth.array == value, shift)] = value
        write_volume(truth.with_array(pred), out)
    return ids


def _tree(proc) -> list:
    try:
        return [proc] + proc.children(recursive=True)
    except Exception:  # noqa: BLE001 - the process ended between two samples
        return [proc]


def sample_memory(pid: int, stop: threading.Event, peaks: dict) -> None:
    """Sample the RSS of ``pid`` and its descendants until ``stop`` is set."""
    try:
        import psutil
    except ImportError:
        psutil = None
    page = os.sysconf("SC_PAGE_SIZE")

    def rss_tree() -> list[int]:
        if psutil is not None:
            out = []
            for p in _tree(psutil.Process(pid)):
                try:
                    out.append(p.memory_info().rss)
                except psutil.Error:
                    pass
            return out
        # /proc: all processes whose ancestry reaches pid.
        parent, rss = {}, {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                stat = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
                parent[int(d)] = int(stat[1])
                rss[int(d)] = int(Path(f"/proc/{d}/statm").read_text().split()[1]) * page
            except (OSError, IndexError, ValueError):
                pass
        out = []
        for p, r in rss.items():
            q = p
            while q > 1 and q != pid:
                q = parent.get(q, 0)
            if q == pid:
                out.append(r)
        return out

    peaks.update(tree=0, process=0, n_proc=0)
    while not stop.is_set():
        try:
            values = rss_tree()
        except Exception:  # noqa: BLE001 - the root ended
            values = []
        if values:
            peaks["tree"] = max(peaks["tree"], sum(values))
            peaks["process"] = max(peaks["process"], max(values))
            peaks["n_proc"] = max(peaks["n_proc"], len(values))
        stop.wait(0.1)


def measure(cmd: list[str], out_json: Path) -> dict:
    """Run ``cmd`` (stdout to ``out_json``); wall time and peak memory."""
    with tempfile.NamedTemporaryFile(suffix=".rss", delete=False) as fh:
        rss_file = Path(fh.name)
    stop, peaks = threading.Event(), {}
    t0 = time.perf_counter()
    with open(out_json, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", WRAPPER, str(rss_file), *cmd],
                                stdout=out)
        sampler = threading.Thread(target=sample_memory, args=(proc.pid, stop, peaks))
        sampler.start()
        rc = proc.wait()
    wall = time.perf_counter() - t0
    stop.set()
    sampler.join()
    maxrss = int(rss_file.read_text() or 0) * 1024
    rss_file.unlink()
    if rc != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {rc}")
    return {"wall_s": wall, "ru_maxrss": maxrss, "peak_tree_rss": peaks["tree"],
            "peak_process_rss": peaks["process"], "n_proc": peaks["n_proc"]}


def compare(a, b, path="") -> list[tuple[str, float]]:
    """Values that differ between two JSON documents: (where, relative difference)."""
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [(f"{path}/{k}: only on one side", np.inf) for k in set(a) ^ set(b)]
        for k in sorted(set(a) & set(b)):
            diffs += compare(a[k], b[k], f"{path}/{k}")
        return diffs
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [(f"{path}: {len(a)} vs {len(b)} items", np.inf)]
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in compare(x, y, f"{path}[{i}]")]
    same = a == b or (isinstance(a, float) and isinstance(b, float) and np.isnan(a)
                      and np.isnan(b))
    if same:
        return []
    if isinstance(a, float | int) and isinstance(b, float | int):
        rel = abs(a - b) / max(abs(a), abs(b))
    else:
        rel = np.inf
    return [(f"{path}: {a!r} vs {b!r}", rel)]


def gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=8, help="subjects (default 8)")
    ap.add_argument("--spacing", type=float, default=0.277,
                    help="voxel size in mm (default 0.277, the dataset's full size)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="cohort folder, reused if it already holds the subjects "
                         "(default benchmarks/_data/scale)")
    ap.add_argument("--workers", type=int, default=2,
                    help="worker processes of the local Dask cluster (default 2)")
    args = ap.parse_args(argv)

    data = args.data
    gen_s = ensure_cohort(data, args.subjects, args.spacing)
    pred_dir = data.parent / f"{data.name}_pred"
    t0 = time.perf_counter()
    ids = make_predictions(data, pred_dir, args.subjects)
    pred_s = time.perf_counter() - t0
    # Evaluate exactly the chosen subjects: a tree of links to them.
    sub = pred_dir.parent / f"{data.name}_pred_{args.subjects}"
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir()
    for sid in ids:
        (sub / f"{sid}.mha").symlink_to(pred_dir / f"{sid}.mha")
    print(f"cohort: {data} ({len(ids)} subjects; generated in {gen_s:.0f} s, "
          f"predictions in {pred_s:.0f} s)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")

    base = ["leg3dus", "evaluate", str(sub), str(data), "--json", "-q"]
    out = {}
    runs = [("serial", base), (f"dask {args.workers} workers",
                               base + ["--workers", str(args.workers)])]
    for name, cmd in runs:
        out[name] = measure(cmd, data.parent / f"{data.name}_{name.split()[0]}.json")
        print(f"{name}: {out[name]['wall_s']:.1f} s, load average after: "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    (s_name, s), (d_name, d) = out.items()

    print()
    print(f"{'':28}{s_name:>14}{d_name:>20}{'ratio':>10}")
    for key, label, fmt in [("wall_s", "wall time", lambda x: f"{x:.1f} s"),
                            ("ru_maxrss", "ru_maxrss (1 process)", gb),
                            ("peak_process_rss", "peak process RSS (sampled)", gb),
                            ("peak_tree_rss", "peak tree RSS (sampled)", gb)]:
        ratio = d[key] / s[key] if s[key] else float("nan")
        print(f"{label:28}{fmt(s[key]):>14}{fmt(d[key]):>20}{ratio:>10.2f}")
    print(f"{'processes in tree (max)':28}{s['n_proc']:>14}{d['n_proc']:>20}")

    a = json.loads((data.parent / f"{data.name}_serial.json").read_text())
    b = json.loads((data.parent / f"{data.name}_dask.json").read_text())
    diffs = compare(a, b)
    n = len(a.get("subjects", []))
    print()
    if not diffs:
        print(f"JSON results equal ({n} subjects, every number identical)")
        return 0
    worst = max(rel for _, rel in diffs)
    print(f"JSON results: {len(diffs)} values not bit-identical ({n} subjects), "
          f"largest relative difference {worst:.2g}, e.g.")
    print("\n".join(f"  {w}" for w, _ in diffs[:5]))
    if worst > 1e-9:
        print("results differ beyond floating-point summation order")
        return 1
    print("equal to 1e-9 relative (floating-point summation order)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
