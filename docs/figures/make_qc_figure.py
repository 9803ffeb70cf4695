"""The acquisition-QC figure of docs/compound.md, made by `leg3dus qc`.

Run from the repository root:

    python docs/figures/make_qc_figure.py

It simulates three sweeps over 80 mm of a phantom calf (small 80 x 60 px frames at
0.625 mm), injects one fault per sweep (sweep1: a fast stretch, sweep2: 20 dropped
frames, sweep3: a 6 mm tracking jump) into a temporary folder and runs

    leg3dus qc <folder> --figure docs/figures/qc_coverage.png

which exits 1 (it finds the faults) and prints its findings.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "qc_coverage.png"


def main() -> int:
    from leg3dus.phantom import Anatomy, cohort_params
    from leg3dus.phantom.sweeps import SweepProtocol, inject_fault, write_sweeps
    from leg3dus.sweep import read_sequence, write_sequence

    protocol = SweepProtocol(n_sweeps=3, frame_px=(60, 80), pixel_mm=0.625)
    faults = {1: ("fast", {"n": 10, "factor": 4}), 2: ("drop", {"n": 20}),
              3: ("jump", {"offset_mm": (6.0, 0.0, 0.0)})}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_sweeps(Anatomy(cohort_params(1)[0]), d, protocol, seed=3, spacing=1.0,
                     z_range_mm=(100.0, 180.0))
        for k, (kind, kw) in faults.items():
            for name in (f"sweep{k}.igs.mha", f"labels{k}.igs.mha"):
                seq = inject_fault(read_sequence(d / name), kind, 30 + 20 * k, **kw)
                write_sequence(seq, d / name)
        res = subprocess.run([sys.executable, "-m", "leg3dus", "qc", str(d), "--figure",
                              str(OUT)], check=False)
    print(f"wrote {OUT} (qc exit code {res.returncode})")
    return 0 if res.returncode in (0, 1) else res.returncode


if __name__ == "__main__":
    raise SystemExit(main())
