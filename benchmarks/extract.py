"""Deep chroma extraction speed (x realtime) and peak memory on the CPU, HCQT included, side by
side with librosa's chroma_cqt on the same audio (the hand-made reference a user would run).

The audio is the Op. 67 Musopen recording looped to ``--minutes``; each figure runs in a fresh
process so that peak memory (ru_maxrss) is its own.

    python benchmarks/extract.py [--minutes 10] [--model ctc-chroma]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT.parent / "shared" / "data" / "real" / "musopen" / "Beethoven_Op067-01_DavidHighSchool.wav"

CHILD = r"""
import json, resource, sys, time
import numpy as np
from chromatool.audio import load_audio
kind, minutes, model = sys.argv[1], float(sys.argv[2]), sys.argv[3]
y = load_audio(sys.argv[4])
y = np.tile(y, int(np.ceil(minutes * 60 * 22050 / y.size)))[: int(minutes * 60 * 22050)]
t = time.perf_counter()
if kind == "librosa":
    import librosa
    out = librosa.feature.chroma_cqt(y=y, sr=22050, hop_length=882)
else:
    from chromatool.deep import deep_features, load_model
    out = deep_features(y, load_model(model, output=kind), output=kind).data
sec = time.perf_counter() - t
print(json.dumps({"seconds": sec, "shape": list(out.shape),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(kind: str, minutes: float, model: str) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, kind, str(minutes), model, str(CLIP)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--model", default="ctc-chroma")
    args = ap.parse_args()
    print(f"{args.minutes:g} min of audio (Op. 67 clip looped), this machine's CPU")
    print(f"{'implementation':<34}{'seconds':>9}{'x realtime':>12}{'peak MB':>9}")
    base = None
    for label, kind in (("librosa chroma_cqt (hand-made)", "librosa"), ("chromatool extract chroma", "chroma"),
                        ("chromatool extract pitch", "pitch")):
        r = run(kind, args.minutes, args.model if kind == "chroma" else "multipitch")
        base = base or r["seconds"]
        print(f"{label:<34}{r['seconds']:>9.2f}{args.minutes * 60 / r['seconds']:>12.1f}{r['peak_mb']:>9.0f}"
              f"   ({base / r['seconds']:.2f}x librosa's time)")


if __name__ == "__main__":
    main()
