"""Score-to-audio alignment on real recordings without ground truth: do two takes agree?

../shared/data/real/chopin_op10-3 holds two real recordings of the same bars (Igoshina, Varsi)
and their MIDI score (a played note list at 150 bpm, no metre), with no reference alignment.
Each aligner places the score's note onsets in both takes, as the label files have them; an
audio-to-audio alignment of the two takes (the Sync Toolbox's MrMsDTW, its home ground: two
recordings of one piece) then maps the first take's onsets into the second. Where an aligner is
right on both takes the two agree; the disagreement, note by note, bounds its errors from below (an error shared by both takes goes unseen). Chopin is a
reserved test composer: this is reported, never used to choose anything.

    python benchmarks/align_real.py [--sync-python .venv-sync/bin/python]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from align_eval import _map, _own_font, _sync_path  # noqa: E402

HERE = Path(__file__).resolve().parent
CHOPIN = HERE.parent.parent / "shared" / "data" / "real" / "chopin_op10-3"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sync-python", default=str(HERE.parent / ".venv-sync" / "bin" / "python"))
    args = ap.parse_args()
    from chromatool import defaults as D
    from chromatool.alignment import align_notes
    from chromatool.audio import load_audio
    from chromatool.render import render
    from chromatool.score import read_score

    if not Path(args.sync_python).is_file():
        sys.exit("the Sync Toolbox's audio-to-audio alignment is the bridge between the takes: "
                 "give --sync-python (see synctoolbox_align.py)")
    score = read_score(next(CHOPIN.glob("*_MIDI.mid")))
    takes = {t: load_audio(next(CHOPIN.glob(f"*_{t}.wav"))) for t in ("Igoshina", "Varsi")}
    font = _own_font()
    score_y = render(score, soundfont=font)
    systems = {"chromatool": {t: align_notes(score, y, soundfont=str(font)).notes.onset for t, y in takes.items()},
               "synctoolbox": {t: _map(_sync_path(args.sync_python, score_y, y), score.onset)
                               for t, y in takes.items()}}
    aa = _sync_path(args.sync_python, takes["Igoshina"], takes["Varsi"])  # Igoshina → Varsi
    print(f"{len(score)} note onsets of the score placed in both takes "
          f"({takes['Igoshina'].size / D.SAMPLE_RATE:.1f} s and {takes['Varsi'].size / D.SAMPLE_RATE:.1f} s)")
    print(f"{'aligner':<13}{'median ms':>10}{'mean ms':>9}{'<50ms %':>9}{'<100ms %':>9}{'worst ms':>9}")
    for name, b in systems.items():
        d = np.abs(b["Varsi"] - _map(aa, b["Igoshina"])) * 1000
        print(f"{name:<13}{np.median(d):>10.1f}{d.mean():>9.1f}{100 * (d < 50).mean():>9.1f}"
              f"{100 * (d < 100).mean():>9.1f}{d.max():>9.0f}")
    for take in takes:
        d = np.abs(systems["chromatool"][take] - systems["synctoolbox"][take]) * 1000
        print(f"chromatool vs synctoolbox on {take}: median {np.median(d):.1f} ms, "
              f"{100 * (d < 100).mean():.1f} % within 100 ms, worst {d.max():.0f} ms")


if __name__ == "__main__":
    main()
