"""Alignment time and peak memory: chromatool's multiresolution DTW against plain full DTW
(librosa.sequence.dtw), then chromatool alone on a 20-minute recording at 50 Hz, end to end.

Each case runs in its own process so its peak resident memory (ru_maxrss) is its own. The
recording is an additive render of Bach chorales strung together and played with a smooth
random tempo curve; the score side is rendered with FluidSynth when installed.

    python benchmarks/align.py [--full-minutes 4] [--minutes 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CASE = r"""
import json, resource, sys, time
import numpy as np
from chromatool import defaults as D
mode, minutes = sys.argv[1], float(sys.argv[2])
import music21
from chromatool.score import notelist_from_music21
from chromatool.render import TempoCurve, synthesize
from dataclasses import replace
pieces = [notelist_from_music21(music21.corpus.parse(f"bach/bwv{n}")) for n in ("66.6", "1.6", "10.7", "101.7")]
parts, t0 = [], 0.0
while t0 < minutes * 60 / 1.1:
    p = pieces[len(parts) % len(pieces)]
    parts.append(replace(p, onset=p.onset + t0, offset=p.offset + t0))
    t0 += p.duration + 0.5
cat = lambda f: np.concatenate([getattr(x, f) for x in parts])
notes = replace(parts[0], **{f: cat(f) for f in ("onset", "offset", "pitch", "onset_beat", "offset_beat", "velocity", "part", "program", "measure")}, note_value=sum((x.note_value for x in parts), ()))
curve = TempoCurve(notes.duration, rng=np.random.default_rng(0), scale=1.1, max_ratio=1.25)
y = synthesize(curve.apply(notes))[: int(minutes * 60 * D.SAMPLE_RATE)]
fr = D.ALIGN_FEATURE_RATE
t = time.perf_counter()
if mode == "chromatool":
    from chromatool.alignment import align_notes
    a = align_notes(notes, y, feature_rate=fr)
    on = a.notes.onset
    how = a.synthesis
else:
    import librosa
    from chromatool.align_features import alignment_features, recording_cqt, score_cqt
    from chromatool.dtw import cost_matrix_cosine
    Cx, how = score_cqt(notes, fr)
    X, Y = alignment_features(Cx, fr), alignment_features(recording_cqt(y, fr), fr)
    C = cost_matrix_cosine(X["chroma"], Y["chroma"]) + cost_matrix_cosine(X["onsets"], Y["onsets"])
    _, wp = librosa.sequence.dtw(C=C)
    wp = wp[::-1].T
    from chromatool.align_features import PAD_SECONDS
    on = np.interp(notes.onset * fr + PAD_SECONDS * fr, wp[0], wp[1]) / fr
dt = time.perf_counter() - t
keep = notes.onset < notes.duration * 0.999
err = np.abs(on - curve(notes.onset))[curve(notes.onset) < len(y) / D.SAMPLE_RATE]
print(json.dumps({"mode": mode, "minutes": minutes, "seconds": dt, "synthesis": how,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "median_onset_error_ms": float(np.median(err) * 1000)}))
"""


def run(mode: str, minutes: float) -> dict:
    p = subprocess.run([sys.executable, "-c", CASE, mode, str(minutes)], capture_output=True, text=True)
    if p.returncode != 0:
        return {"mode": mode, "minutes": minutes, "error": p.stderr.strip().splitlines()[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full-minutes", type=float, default=4.0, help="largest size for full DTW")
    ap.add_argument("--minutes", type=float, default=20.0)
    args = ap.parse_args()
    rows = [run("librosa-full-dtw", args.full_minutes), run("chromatool", args.full_minutes),
            run("chromatool", args.minutes)]
    print(f"{'method':<20}{'minutes':>8}{'seconds':>9}{'peak MB':>9}{'median onset err (ms)':>23}")
    for r in rows:
        if "error" in r:
            print(f"{r['mode']:<20}{r['minutes']:>8.0f}   failed: {r['error']}")
        else:
            print(f"{r['mode']:<20}{r['minutes']:>8.0f}{r['seconds']:>9.1f}{r['peak_mb']:>9.0f}"
                  f"{r['median_onset_error_ms']:>23.1f}")
    print("(times and memory include score synthesis and features of both sides; "
          f"score synthesis: {rows[-1].get('synthesis')})")


if __name__ == "__main__":
    main()
