"""Chroma features of every recording in a folder, gathered into one .npz with their rate.

    python examples/features_to_npz.py ../shared/data/real chroma.npz
"""

import sys
from pathlib import Path

import numpy as np

import chromatool as ct

folder, out = Path(sys.argv[1]), Path(sys.argv[2])
arrays, rate = {}, None
for path in sorted(folder.rglob("*.wav")):
    f = ct.chroma(ct.load_audio(path), tuning=ct.estimate_tuning(ct.load_audio(path)))
    arrays[str(path.relative_to(folder))] = f.data
    rate = f.feature_rate
np.savez(out, feature_rate=rate, **arrays)
print(f"{len(arrays)} recordings at {rate:g} frames per second -> {out}")
for name, x in arrays.items():
    print(f"  {name}: {x.shape[1] / rate:.1f} s")
