"""Deep chroma and pitch salience of a recording with the packaged models.

    python examples/deep_features.py ../shared/data/real/musopen/Beethoven_Op067-01_DavidHighSchool.wav
"""

import sys

import numpy as np

import chromatool as ct

path = sys.argv[1]
names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
chroma = ct.extract(path)  # the packaged ctc-chroma
pitch = ct.extract(path, kind="pitch")  # the packaged multipitch model
print(f"deep chroma {chroma.data.shape} and pitch salience {pitch.data.shape} at {chroma.feature_rate:g} Hz")
top = np.argsort(chroma.data.mean(axis=1))[::-1][:3]
print("strongest pitch classes:", ", ".join(names[i] for i in top))
midi = np.argsort(pitch.data.mean(axis=1))[::-1][:3] + ct.defaults.MIDI_MIN
print("strongest pitches (MIDI):", ", ".join(str(int(m)) for m in midi))
