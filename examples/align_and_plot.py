"""Align a score to a recording, write MusicNet-style labels and draw the alignment.

    python examples/align_and_plot.py SCORE AUDIO OUT_DIR
    python examples/align_and_plot.py ../shared/data/real/chopin_op10-3/Chopin_Op010-03-Measures1-8_MIDI.mid \\
        ../shared/data/real/chopin_op10-3/Chopin_Op010-03-Measures1-8_Varsi.wav /tmp/varsi
"""

import sys
from pathlib import Path

import numpy as np

import chromatool as ct
from chromatool.labels import labels_csv
from chromatool.plotting import plot_alignment

score, audio, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
out.mkdir(parents=True, exist_ok=True)
a = ct.align(score, audio)
(out / "labels.csv").write_text(labels_csv(a.notes, fmt="musicnet"))
plot_alignment(a, out / "alignment.png", overwrite=True)
bars = [a.notes.onset[a.notes.measure == m].min() for m in np.unique(a.notes.measure)]
print(f"tuning {a.tuning:+.0f} cents, mean cost {a.mean_cost:.3f}, {len(a.notes)} notes")
print("bar lines (s):", " ".join(f"{b:.2f}" for b in bars))
for w in a.warnings():
    print("warning:", w)
