"""Start-up time of whole commands, as `xargs -n1` pays it on every file.

Each command runs --runs times in a fresh process; the median wall time is printed beside the
bare interpreter's, and the target (a command on a missing file exits in under 0.6 s).

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "chromatool"
CASES = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "chromatool --version": [str(BIN), "--version"],
    "chromatool features missing.wav": [str(BIN), "features", "missing.wav", "-o", "x.npy"],
    "chromatool align missing.mid missing.wav": [str(BIN), "align", "missing.mid", "missing.wav", "-o", "x.csv"],
    "chromatool retrieve q.csv missing/": [str(BIN), "retrieve", "q.csv", "missing/"],
    "chromatool extract missing.wav": [str(BIN), "extract", "missing.wav", "-o", "x.npy"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    print(f"{'command':<44}{'median s':>9}{'vs python':>11}")
    base = None
    with tempfile.TemporaryDirectory() as cwd:
        for name, cmd in CASES.items():
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                subprocess.run(cmd, capture_output=True, cwd=cwd)
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            base = base or med
            print(f"{name:<44}{med:>9.3f}{med / base:>10.1f}x")
    print("target: a command on a missing file exits in under 0.6 s")


if __name__ == "__main__":
    main()
