"""Alignment accuracy on renders with a known tempo curve (music21 corpus, no reserved composer).

Each "recording" is a FluidSynth render with the TimGM6mb soundfont and a random GM ensemble,
played with a smooth random tempo curve (the ground truth), then reverb and noise; chromatool
aligns the plain score (rendered with its own soundfont, FluidR3 GM, score instruments) to it.
Prints median and mean onset error and the share of onsets within 50 and 100 ms.

    python benchmarks/align_eval.py [--pieces 12]
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from retrieval_set import ENSEMBLES, corpus_pieces  # noqa: E402


def one(args):
    path, seed = args
    import music21

    from chromatool.alignment import align_notes
    from chromatool.render import TempoCurve, add_noise, add_reverb, find_soundfonts, render
    from chromatool.score import notelist_from_music21

    rng = np.random.default_rng(seed)
    try:
        notes = notelist_from_music21(music21.converter.parse(path), source=str(path))
    except Exception as exc:  # noqa: BLE001
        return str(exc)
    if len(notes) < 30 or notes.duration > 600:
        return "skipped"
    ens = ENSEMBLES[int(rng.integers(len(ENSEMBLES)))]
    perf = replace(notes, program=np.array([ens[p % len(ens)] for p in notes.part]))
    curve = TempoCurve(notes.duration, rng=rng, scale=float(rng.uniform(0.8, 1.25)), max_ratio=1.3)
    fonts = find_soundfonts()
    tim = [f for f in fonts if "TimGM" in f.name][0]
    fluid = [f for f in fonts if "FluidR3" in f.name][0]
    y = render(curve.apply(perf), soundfont=tim)
    y = add_noise(add_reverb(y, rng=rng, rt60=1.0, wet=0.25), snr_db=30, rng=rng)
    a = align_notes(notes, y, soundfont=str(fluid))
    return np.abs(a.notes.onset - curve(notes.onset))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pieces", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from concurrent.futures import ProcessPoolExecutor

    pieces = corpus_pieces(np.random.default_rng(args.seed), args.pieces)
    errs = []
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        for p, e in zip(pieces, pool.map(one, [(p, args.seed * 100 + i) for i, p in enumerate(pieces)])):
            if isinstance(e, str):
                print(f"skipped {p.name}: {e[:80]}")
                continue
            print(f"{p.parent.name}/{p.name}: {e.size} onsets, median {np.median(e) * 1000:.0f} ms")
            errs.append(e)
    e = np.concatenate(errs)
    print(f"{len(errs)} pieces, {e.size} onsets: median {np.median(e) * 1000:.1f} ms, "
          f"mean {np.mean(e) * 1000:.1f} ms, within 50 ms {np.mean(e < 0.05):.3f}, "
          f"within 100 ms {np.mean(e < 0.1):.3f}")


if __name__ == "__main__":
    main()
