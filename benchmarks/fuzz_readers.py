"""Long fuzz run: every reader of leg3dus on many structurally mutated inputs.

Runs the property tests of ``tests/test_fuzz_readers.py`` (MetaImage, NRRD, NIfTI,
.seg.nrrd, PLUS sequence files, PLUS XML configurations, training configs, the CSV
tables of morphology participants and of ``leg3dus agree``) with ``--cases`` examples
each instead of the suite's few, one pytest run per reader, and prints a table: reader,
inputs tried, failures, seconds. A failure is any outcome other than success or a
one-line ``Leg3dusError`` naming the file (another exception, a hang). Exit 1 if any
reader failed.

    python benchmarks/fuzz_readers.py                 # 10,000 cases per reader
    python benchmarks/fuzz_readers.py --cases 50      # a quick look
    python benchmarks/fuzz_readers.py --only sequence
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests" / "test_fuzz_readers.py"

#: reader name -> the property test that fuzzes it
READERS = {
    "metaimage (.mha/.mhd)": "test_metaimage_reader",
    "nrrd": "test_nrrd_reader",
    "nifti (.nii/.nii.gz)": "test_nifti_reader",
    "slicer .seg.nrrd": "test_seg_nrrd_reader",
    "plus sequence (.igs.mha)": "test_sequence_reader",
    "plus xml config": "test_plus_config_reader",
    "training config (toml)": "test_training_config_reader",
    "morphology participants csv": "test_participants_reader",
    "agree measure csv": "test_agree_table_reader",
}


def run(test: str, cases: int) -> tuple[bool, float, str]:
    """Run one property test with ``cases`` examples; (passed, seconds, output tail)."""
    env = {**os.environ, "LEG3DUS_FUZZ_EXAMPLES": str(cases)}
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
         f"{TESTS}::{test}"], env=env, capture_output=True, text=True)
    return proc.returncode == 0, time.perf_counter() - start, proc.stdout[-3000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000,
                        help="inputs tried per reader (default 10000)")
    parser.add_argument("--only", default="",
                        help="run only readers whose name or test contains this text")
    args = parser.parse_args(argv)
    print("| reader | inputs tried | failures | seconds |\n|---|---|---|---|")
    failed = []
    for name, test in READERS.items():
        if args.only and args.only not in name and args.only not in test:
            continue
        ok, seconds, tail = run(test, args.cases)
        print(f"| {name} | {args.cases} | {0 if ok else 'see below'} | {seconds:.1f} |",
              flush=True)
        if not ok:
            failed.append((name, tail))
    for name, tail in failed:
        print(f"\n--- {name} ---\n{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
